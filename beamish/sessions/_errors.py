"""The errors of ``beamish.sessions``: one base, ``SessionError``, and a flat set under it.

>>> issubclass(SessionTimeout, TimeoutError) and issubclass(SessionTimeout, SessionError)
True
>>> str(InvalidSessionId("a b"))[:40]
"invalid session id 'a b': use 1-64 chara"
"""

from __future__ import annotations

from typing import Any


class SessionError(Exception):
    """Base of every error ``beamish.sessions`` raises on purpose: catch it to catch them all."""


class InvalidSessionId(SessionError, ValueError):
    """``start`` (or another API function) got an id that is not 1-64 characters of
    ``[A-Za-z0-9_-]``. Nothing was started."""

    def __init__(self, session_id: Any) -> None:
        self.session_id = session_id
        super().__init__(
            f"invalid session id {session_id!r}: use 1-64 characters of [A-Za-z0-9_-], "
            "or make one with beamish.sessions.new_id()"
        )


class SessionAlreadyStarted(SessionError):
    """``start`` found a session running under this id (``.pid``); pass ``exist_ok=True``
    to get that pid back instead."""

    def __init__(self, session_id: str, pid: Any) -> None:
        self.session_id = session_id
        self.pid = pid
        super().__init__(
            f"session {session_id!r} is already running as {pid!r}: use it, stop it first, "
            "or call start(..., exist_ok=True)"
        )


class SessionLimitReached(SessionError):
    """``start`` refused: this node already runs ``max_sessions`` sessions (``.max``)."""

    def __init__(self, max: int) -> None:
        self.max = max
        super().__init__(
            f"this node already runs max_sessions={max} sessions: stop idle ones, lower the "
            "ttl, or raise max_sessions in Sessions.child_spec"
        )


class RateLimitExceeded(SessionError):
    """``start`` refused: ``limit`` sessions were started in the last ``window`` seconds
    on this node. Unlike ``SessionLimitReached``, it clears with time."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        super().__init__(
            f"more than {limit} sessions started in the last {window:g}s on this node: retry "
            "later (the window slides), or raise rate_limit in Sessions.child_spec"
        )


class SessionNotFound(SessionError, LookupError):
    """No session runs under this id (never started, stopped, expired, or its node is
    gone). ``call``, ``cast``, ``stop``, ``touch``, ``info`` and ``watch`` raise it."""

    def __init__(self, session_id: Any) -> None:
        self.session_id = session_id
        super().__init__(
            f"no session runs under id {session_id!r}: start it with "
            "beamish.sessions.start(id) (it may have expired or been stopped)"
        )


class SessionTimeout(SessionError, TimeoutError):
    """A ``call`` got no answer within ``timeout`` seconds; the session may still run."""

    def __init__(self, session_id: str, timeout: float | None) -> None:
        self.session_id = session_id
        self.timeout = timeout
        super().__init__(
            f"session {session_id!r} did not answer within {timeout}s: it is busy or stuck; "
            "raise the timeout or make the handler reply sooner"
        )


class SessionCrashed(SessionError):
    """The session exited while handling a ``call`` (or before it could): ``.reason`` is
    its exit reason (the exception that crashed it)."""

    def __init__(self, session_id: str, reason: Any) -> None:
        self.session_id = session_id
        self.reason = reason
        super().__init__(
            f"session {session_id!r} exited during the call ({reason!r:.200}): see its crash "
            "report in the log; start it again to go on"
        )


class SnapshotError(SessionError):
    """A session's state could not be saved (the codec cannot carry a value in it) or a
    stored snapshot could not be read back. Keep session state to plain data: None, bool,
    int, float, str, bytes, tuple, list, dict, set."""


__all__ = [
    "InvalidSessionId",
    "RateLimitExceeded",
    "SessionAlreadyStarted",
    "SessionCrashed",
    "SessionError",
    "SessionLimitReached",
    "SessionNotFound",
    "SessionTimeout",
    "SnapshotError",
]


_WIRE_FIELDS: dict[str, tuple[type[SessionError], tuple[str, ...]]] = {
    "InvalidSessionId": (InvalidSessionId, ("session_id",)),
    "SessionAlreadyStarted": (SessionAlreadyStarted, ("session_id", "pid")),
    "SessionLimitReached": (SessionLimitReached, ("max",)),
    "RateLimitExceeded": (RateLimitExceeded, ("limit", "window")),
    "SessionNotFound": (SessionNotFound, ("session_id",)),
    "SessionTimeout": (SessionTimeout, ("session_id", "timeout")),
    "SessionCrashed": (SessionCrashed, ("session_id", "reason")),
}


def to_wire(error: SessionError) -> tuple[Any, ...]:
    """``error`` as plain data, to answer another node (``from_wire`` rebuilds it there)."""
    name = type(error).__name__
    if name in _WIRE_FIELDS:
        _, fields = _WIRE_FIELDS[name]
        return (name, tuple(getattr(error, f) for f in fields))
    return ("SnapshotError" if isinstance(error, SnapshotError) else "SessionError", (str(error),))


def from_wire(data: tuple[Any, ...]) -> SessionError:
    """The error ``to_wire`` turned into ``data`` (a ``SessionError`` if unknown)."""
    name, args = data
    if name in _WIRE_FIELDS:
        cls, _ = _WIRE_FIELDS[name]
        return cls(*args)
    return (SnapshotError if name == "SnapshotError" else SessionError)(*args)
