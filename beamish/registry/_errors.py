"""The registry's errors: a taken key and a registry that is not running here."""

from __future__ import annotations

from ..actors import NameTaken, Pid

__all__ = ["AlreadyRegistered", "UnknownRegistry"]


class AlreadyRegistered(NameTaken):
    """``register`` (or a start with ``name=via(registry, key)``) of a unique key that
    ``pid`` holds; ``pid`` may be the caller itself. A ``NameTaken``, so a start with a
    via-name fails as it does for a taken local name.

    >>> from beamish import Pid
    >>> AlreadyRegistered(Pid("a@h", 3, 0), "lobby").pid
    <a@h.3.0>
    """

    def __init__(self, pid: Pid, key: object = None) -> None:
        super().__init__(f"{key!r} is already registered to {pid!r}")
        self.pid = pid
        self.key = key

    def __reduce__(self) -> tuple[type[AlreadyRegistered], tuple[Pid, object]]:
        return (AlreadyRegistered, (self.pid, self.key))


class UnknownRegistry(LookupError):
    """No registry of that name runs on this node (never started, or stopped)."""
