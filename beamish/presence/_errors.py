"""The errors of ``beamish.presence``."""

from __future__ import annotations


class AlreadyTracked(ValueError):
    """``track`` of a (pid, topic, key) that this tracker already tracks (use ``update``)."""


class NotTracked(LookupError):
    """``update`` of a (pid, topic, key) that this tracker does not track."""


class InvalidMeta(TypeError):
    """A meta that is not a dict the cluster's wire (and, for ``Presence``, JSON) can
    carry; raised in the caller of ``track``/``update``, the tracker keeps running."""
