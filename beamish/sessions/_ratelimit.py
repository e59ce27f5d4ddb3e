"""A sliding-window rate limiter: at most ``limit`` admissions in any ``window`` seconds.

Pure (time is an argument), so it is tested without an event loop.

>>> window = SlidingWindow(2, 60.0)
>>> window.admit(0.0), window.admit(1.0), window.admit(2.0), window.admit(60.5)
(True, True, False, True)
"""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """Admissions of the last ``window`` seconds, kept as their times (oldest first).

    An admission at time ``t`` counts against every request until ``t + window``
    (exclusive), as the reference's ``window_start = now - window`` with ``>=``.
    """

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        if not isinstance(limit, int) or limit < 0:
            raise ValueError(f"rate limit must be an int >= 0, got {limit!r}")
        if not window > 0:
            raise ValueError(f"rate window must be > 0 seconds, got {window!r}")
        self.limit = limit
        self.window = float(window)
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        """Admissions within the window that ends at ``now``."""
        times = self._times
        start = now - self.window
        while times and times[0] <= start:
            times.popleft()
        return len(times)

    def admit(self, now: float) -> bool:
        """Admit one request at ``now`` if the window has room (and record it)."""
        if self.count(now) >= self.limit:
            return False
        self._times.append(now)
        return True

    def reset(self) -> None:
        """Forget every admission."""
        self._times.clear()
