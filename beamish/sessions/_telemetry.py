"""Every telemetry event ``beamish.sessions`` emits, in one list.

>>> SESSION_END
('beamish', 'sessions', 'session_end')
>>> len(SESSION_EVENTS)
14

Durations are in seconds (floats, on the node clock); every event carries ``node``.

| event | measurements | metadata |
| --- | --- | --- |
| ``START`` | ``duration`` | ``id``, ``module``, ``pid`` (a session started by ``start``) |
| ``STOP`` | ``duration`` | ``id``, ``module``, ``pid`` (a session stopped by ``stop``) |
| ``START_ERROR`` | ``duration`` | ``id``, ``module``, ``reason`` (the ``SessionError``) |
| ``CALL`` | ``duration`` | ``id``, ``module``, ``pid``, ``request`` (a ``call`` answered) |
| ``CAST`` | ``count`` | ``id``, ``module``, ``pid``, ``request`` |
| ``COMMUNICATION_ERROR`` | ``duration`` | ``id``, ``operation`` (``"call"``...), ``reason`` |
| ``SESSION_START`` | ``count`` | ``id``, ``module``, ``pid``, ``restored`` (from a snapshot) |
| ``SESSION_END`` | ``count``, ``lifetime`` | ``id``, ``module``, ``pid``, ``reason`` (see below) |
| ``CLEANUP`` | ``count``, ``idle`` | ``id``, ``module``, ``pid`` (the sweeper expired it) |
| ``CLEANUP_ERROR`` | ``count`` | ``id``, ``reason`` (stopping an expired session failed) |
| ``RATE_LIMIT_CHECK`` | ``count`` (starts in the window) | ``limit``, ``window`` |
| ``RATE_LIMIT_EXCEEDED`` | ``count`` | ``limit``, ``window`` |
| ``SNAPSHOT_SAVED`` | ``bytes``, ``duration`` | ``id``, ``module``, ``why`` (see below) |
| ``SNAPSHOT_ERROR`` | ``count`` | ``id``, ``module``, ``error`` |

``SESSION_END``'s ``reason`` is ``"normal"`` (``stop``, or a callback returned
``Stop("normal")``), ``"ttl"`` (idle past the ttl), ``"limit"`` (its mailbox overflowed
``mailbox_limit``), ``"crash"`` (a callback raised), ``"killed"`` (``exit(pid, "kill")``),
``"conflict"`` (it lost its id to a session on another node after a partition healed) or
``"shutdown"`` (its supervisor or node stopped). A session that exits without running
``terminate`` (killed, mailbox overflow) is reported by its supervisor, which gets its
exit as its parent; its state is not saved then. Nothing is emitted for the sessions
of a node that dies.

``SNAPSHOT_SAVED``'s ``why`` is ``"stop"``, ``"ttl"``, ``"periodic"`` or ``"request"``
(``snapshot(id)``).
"""

from __future__ import annotations

from ..telemetry import Event

START: Event = ("beamish", "sessions", "start")
STOP: Event = ("beamish", "sessions", "stop")
START_ERROR: Event = ("beamish", "sessions", "start_error")
CALL: Event = ("beamish", "sessions", "call")
CAST: Event = ("beamish", "sessions", "cast")
COMMUNICATION_ERROR: Event = ("beamish", "sessions", "communication_error")
SESSION_START: Event = ("beamish", "sessions", "session_start")
SESSION_END: Event = ("beamish", "sessions", "session_end")
CLEANUP: Event = ("beamish", "sessions", "cleanup")
CLEANUP_ERROR: Event = ("beamish", "sessions", "cleanup_error")
RATE_LIMIT_CHECK: Event = ("beamish", "sessions", "rate_limit_check")
RATE_LIMIT_EXCEEDED: Event = ("beamish", "sessions", "rate_limit_exceeded")
SNAPSHOT_SAVED: Event = ("beamish", "sessions", "snapshot_saved")
SNAPSHOT_ERROR: Event = ("beamish", "sessions", "snapshot_error")

SESSION_EVENTS: tuple[Event, ...] = (
    START,
    STOP,
    START_ERROR,
    CALL,
    CAST,
    COMMUNICATION_ERROR,
    SESSION_START,
    SESSION_END,
    CLEANUP,
    CLEANUP_ERROR,
    RATE_LIMIT_CHECK,
    RATE_LIMIT_EXCEEDED,
    SNAPSHOT_SAVED,
    SNAPSHOT_ERROR,
)
