"""The errors of ``beamish.channels``.

>>> isinstance(ProtocolError("x"), ValueError)
True
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """A frame from a client breaks the Phoenix protocol (bad JSON, wrong shape, bad binary
    header, over a limit). The connection that sent it is closed; nothing else is affected."""


class Refused(Exception):
    """A connect was refused (by ``Socket.connect``, the origin check or an unknown ``vsn``)."""
