"""Supervision errors: a small, flat set.

>>> issubclass(ChildNotFound, LookupError)
True
"""

from __future__ import annotations

from typing import Any


class InvalidChildSpec(ValueError):
    """A child specification has a bad ``field``: raised before anything starts."""

    def __init__(self, field: str, value: Any, why: str = "") -> None:
        super().__init__(field, value)
        self.field = field
        self.value = value
        self.why = why

    def __str__(self) -> str:
        return f"invalid child spec: {self.field}={self.value!r}" + (
            f" ({self.why})" if self.why else ""
        )


class ChildNotFound(LookupError):
    """No child with that id (or pid) under this supervisor."""


class AlreadyPresent(ValueError):
    """``start_child`` with an id that is already there, not running (``delete_child`` it)."""


class AlreadyStarted(ValueError):
    """``start_child`` with an id that is already running; ``pid`` is the running child."""

    def __init__(self, child_id: Any, pid: Any) -> None:
        super().__init__(child_id, pid)
        self.id = child_id
        self.pid = pid


class ChildRunning(RuntimeError):
    """``delete_child`` or ``restart_child`` on a child that is running."""


class MaxChildren(RuntimeError):
    """``DynamicSupervisor.start_child`` when ``max_children`` are already running."""
