"""The node clock: the only way runtime code reads time or arms a timer.

Three implementations sit behind one small protocol:

- :class:`LoopClock` (asyncio, uvloop): the event loop's own ``time()``/``call_at``.
- :class:`HeapClock` (trio): a heap of deadlines driven by one task sleeping on
  ``anyio.current_time()``; under trio's ``MockClock(autojump_threshold=0)`` it is virtual.
- :class:`VirtualClock` (asyncio): virtual time that jumps to the next deadline whenever
  the event loop has nothing ready to run, so a one-hour timer fires in microseconds.

>>> clock = VirtualClock()
>>> fired = []
>>> _ = clock.call_at(3600.0, lambda: fired.append("late"))
>>> clock.now(), clock.next_deadline()
(0.0, 3600.0)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

import anyio


class TimerHandle(Protocol):
    """A timer armed on a clock; ``cancel`` is idempotent."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the kernel needs from time."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...

    async def run(self) -> None:
        """Drive the timers until cancelled (a no-op for clocks the event loop drives)."""


class LoopClock:
    """The running asyncio loop's clock (``loop.time`` and ``loop.call_at``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # asyncio's own loop.time() is a Python method around time.monotonic(): read that
        # directly (the same clock, one frame fewer on every call's deadline)
        plain = getattr(type(loop), "time", None) is asyncio.BaseEventLoop.time
        self.now = time.monotonic if plain else loop.time  # type: ignore[method-assign]
        self._call_at = loop.call_at

    def now(self) -> float:  # pragma: no cover - replaced per instance
        raise NotImplementedError

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return self._call_at(when, callback)

    async def run(self) -> None:
        await anyio.sleep_forever()


class _HeapTimer:
    __slots__ = ("callback", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], None]) -> None:
        self.when = when
        self.seq = seq
        self.callback: Callable[[], None] | None = callback

    def __lt__(self, other: _HeapTimer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.callback = None


class _TimerHeap:
    """Deadlines in a heap; cancelled entries are dropped lazily and compacted in bulk."""

    def __init__(self) -> None:
        self._heap: list[_HeapTimer] = []
        self._seq = itertools.count()
        self._on_earlier: Callable[[], None] = lambda: None

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _HeapTimer(when, next(self._seq), callback)
        heap = self._heap
        if len(heap) > 1024 and len(heap) & 1023 == 0:
            live = [t for t in heap if t.callback is not None]
            if len(live) < len(heap) // 2:
                heapq.heapify(live)
                heap[:] = live
        heapq.heappush(heap, timer)
        if heap[0] is timer:
            self._on_earlier()
        return timer

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0].callback is None:
            heapq.heappop(heap)
        return heap[0].when if heap else None

    def fire_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0].when <= now:
            callback = heapq.heappop(heap).callback
            if callback is not None:
                callback()


class HeapClock(_TimerHeap):
    """Timers driven by one task sleeping on ``anyio.current_time()`` (used on trio)."""

    def __init__(self) -> None:
        super().__init__()
        self._wake: anyio.Event | None = None
        self._on_earlier = self._poke

    def now(self) -> float:
        return anyio.current_time()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        while True:
            self.fire_due(self.now())
            self._wake = anyio.Event()
            deadline = self.next_deadline()
            if deadline is None:
                await self._wake.wait()
            else:
                with anyio.move_on_after(max(0.0, deadline - self.now())):
                    await self._wake.wait()


class VirtualClock(_TimerHeap):
    """Virtual time on asyncio: jumps to the next deadline whenever the loop is idle.

    "Idle" means the loop has no ready callbacks left after this driver yields once, the
    asyncio counterpart of trio's ``MockClock(autojump_threshold=0)``. Only timers armed
    through the node clock are virtual; ``anyio.sleep`` keeps real time (use
    ``beamish.sleep``). Needs the default asyncio loop (uvloop hides its ready queue).
    """

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._now = start
        self._wake: asyncio.Future[None] | None = None
        self._on_earlier = self._poke

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by hand (timers that fall due fire on the driver's next turn)."""
        self._now += seconds
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        if ready is None:
            raise RuntimeError("VirtualClock needs the default asyncio event loop")
        while True:
            self.fire_due(self._now)
            deadline = self.next_deadline()
            if deadline is None:
                self._wake = loop.create_future()
                await self._wake
                continue
            await asyncio.sleep(0)
            if ready:
                continue
            deadline = self.next_deadline()  # a task that ran during the yield may have armed one
            if deadline is not None and deadline > self._now:
                self._now = deadline
