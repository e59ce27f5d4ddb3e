"""How a call ends and how a start is acknowledged: small typed records.

>>> Replied(3), CallExited("noproc"), TimedOut()
(Replied(value=3), CallExited(reason='noproc'), TimedOut())

A call ends in one of three ways (:data:`CallOutcome`); a server answers its starter with
one of three acknowledgements (:data:`StartAck`). Match on them::

    match outcome:
        case Replied(value): ...
        case CallExited(reason): ...
        case TimedOut(): ...

Inside the kernel a call slot resolves to the reply value itself, and only an ending that
is not a reply to a :class:`SlotEnd` (a kernel-private wrapper no user code ever sees): a
reply that happens to be a ``CallExited`` or ``TimedOut`` record (a proxy forwarding an
outcome) is still a reply.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._pid import Pid


class Replied(NamedTuple):
    """The callee answered ``value``."""

    value: Any


class CallExited(NamedTuple):
    """The callee exited before it answered, or never existed (``"noproc"``), or its node
    went away (``"noconnection"``)."""

    reason: Any


class TimedOut(NamedTuple):
    """No answer came within the call's timeout (the callee goes on)."""


CallOutcome = Replied | CallExited | TimedOut
"""How a call ended."""

TIMED_OUT = TimedOut()


class Started(NamedTuple):
    """``init`` finished: the server runs as ``pid``."""

    pid: Pid


class StartFailed(NamedTuple):
    """``init`` raised (``reason`` is the exception), returned ``Stop(reason)``, or the
    name was taken (``NameTaken``)."""

    reason: Any


class StartIgnored(NamedTuple):
    """``init`` returned ``Ignore()``: nothing runs."""


StartAck = Started | StartFailed | StartIgnored
"""What a starting server tells its starter."""


class SlotEnd:
    """Kernel-private: a call slot ended other than by a reply (see the module docstring)."""

    __slots__ = ("outcome",)

    def __init__(self, outcome: CallExited | TimedOut) -> None:
        self.outcome = outcome


SLOT_TIMED_OUT = SlotEnd(TIMED_OUT)
