"""Restart intensity: a pure sliding window (OTP's ``add_restart``).

>>> restarts, ok = add_restart((), now=10.0, max_restarts=1, max_seconds=5.0)
>>> restarts, ok
((10.0,), True)
>>> add_restart(restarts, now=12.0, max_restarts=1, max_seconds=5.0)
((10.0, 12.0), False)
>>> add_restart(restarts, now=15.0, max_restarts=1, max_seconds=5.0)
((10.0, 15.0), False)
>>> add_restart(restarts, now=15.5, max_restarts=1, max_seconds=5.0)
((15.5,), True)

A restart at ``now`` is allowed when, counting it, at most ``max_restarts`` restarts fall
within the last ``max_seconds`` (inclusive, as in OTP). ``max_restarts=0`` allows none.
The window keeps at most ``max_restarts + 1`` entries (no more are needed to decide).
A supervisor keeps its window in a deque and records each restart in place with
:func:`record_restart` (constant time per restart, however wide the window);
:func:`add_restart` is the same rule over an immutable tuple.
"""

from __future__ import annotations

import bisect
from collections import deque


def add_restart(
    restarts: tuple[float, ...], now: float, max_restarts: int, max_seconds: float
) -> tuple[tuple[float, ...], bool]:
    """Record a restart at ``now``; returns the window and whether the restart is allowed."""
    first = bisect.bisect_left(restarts, now - max_seconds)  # restarts come in time order
    window = (*restarts[max(first, len(restarts) - max_restarts) :], now)
    return window, len(window) <= max_restarts


def record_restart(window: deque[float], now: float, max_restarts: int, max_seconds: float) -> bool:
    """Record a restart at ``now`` in ``window`` (restart times, oldest first), in place;
    whether it is allowed. The rule of :func:`add_restart`, without copying the window.

    >>> from collections import deque
    >>> window = deque()
    >>> [record_restart(window, t, 1, 5.0) for t in (10.0, 12.0, 15.5)], list(window)
    ([True, False, False], [12.0, 15.5])
    """
    horizon = now - max_seconds
    while window and window[0] < horizon:
        window.popleft()
    window.append(now)
    while len(window) > max_restarts + 1:
        window.popleft()
    return len(window) <= max_restarts


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff before restart ``attempt`` (1-based): initial * 2**(attempt-1).

    >>> [backoff_delay(n, 0.1, 1.0) for n in (1, 2, 3, 4, 5)]
    [0.1, 0.2, 0.4, 0.8, 1.0]
    """
    return float(min(maximum, initial * 2.0 ** max(0, attempt - 1)))
