"""A connection's bounded outgoing buffer: channels, replies and broadcasts put frames in, the
transport takes them out.

>>> box = Outbox(limit=2)
>>> box.put("a"), box.put("b"), box.put("c")
(True, True, False)
>>> box.closed, box.close_code
(True, 1013)

Semantics
---------
- ``put`` never blocks: writers (the socket, its channels, a broadcast) append and move on.
  Over ``limit`` frames queued, or over ``byte_limit`` bytes, the outbox closes itself with
  code 1013 ("try again later"): the client that does not read is disconnected, and nobody
  else waits for it. Frames put after the close are dropped.
- ``close(code)`` ends the stream: ``take`` returns what is queued, then ``None`` forever.
- One reader at a time: ``await take()`` (the WebSocket writer) or ``take_nowait()`` (a
  LongPoll poll). ``on_ready`` is called once each time the outbox goes from empty to
  non-empty, so a LongPoll session can answer a waiting poll.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

OVERFLOW_CLOSE_CODE = 1013

Frame = str | bytes


class Outbox:
    """Bounded queue of encoded frames for one connection (see the module docstring)."""

    __slots__ = (
        "_bytes",
        "_frames",
        "_wakeup",
        "byte_limit",
        "close_code",
        "close_reason",
        "closed",
        "inbound",
        "limit",
        "on_overflow",
        "on_ready",
    )

    def __init__(self, limit: int = 1000, byte_limit: int | None = None) -> None:
        self.limit = limit
        self.byte_limit = byte_limit
        self._frames: list[Frame] = []  # a list (56 bytes empty), not a deque (760)
        self._bytes = 0
        self._wakeup: Any = None  # the waiting reader's waiter (set_result wakes it)
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.on_ready: Callable[[], Any] | None = None
        self.on_overflow: Callable[[Outbox], Any] | None = None
        # bytes of the client's frames given to its processes and not yet handled by them
        # (bounded by Endpoint.inbox_bytes; kept here because the socket and channels share it)
        self.inbound = 0

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: Frame) -> bool:
        """Queue ``frame``; False if the outbox is closed or this overflowed it (then closed)."""
        if self.closed:
            return False
        frames = self._frames
        size = len(frame)
        if len(frames) >= self.limit or (
            self.byte_limit is not None and self._bytes + size > self.byte_limit
        ):
            self.close(OVERFLOW_CLOSE_CODE, "outbox overflow: the client does not read")
            if self.on_overflow is not None:
                self.on_overflow(self)
            return False
        frames.append(frame)
        self._bytes += size
        if len(frames) == 1:
            wakeup = self._wakeup
            if wakeup is not None and not wakeup.done():
                wakeup.set_result(None)
            if self.on_ready is not None:
                self.on_ready()
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        """No more frames: the reader gets what is queued, then ``None``. First close wins."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        if self.on_ready is not None:
            self.on_ready()

    def take_nowait(self) -> list[Frame]:
        """Everything queued now (possibly nothing)."""
        frames = self._frames
        if not frames:
            return []
        self._frames = []
        self._bytes = 0
        return frames

    async def take(self, create_waiter: Callable[[], Any] | None = None) -> list[Frame] | None:
        """Wait for frames and take them all; None once closed and empty. ``create_waiter``:
        the node's ``lowlevel.waiter_factory`` (cheaper than the default, an anyio event)."""
        while not self._frames:
            if self.closed:
                return None
            self._wakeup = waiter = (create_waiter or _EventWaiter)()
            try:
                await waiter
            finally:
                self._wakeup = None
        return self.take_nowait()


class _EventWaiter:
    """A one-shot waiter on an ``anyio.Event``, for readers that have no node at hand."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = anyio.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def set_result(self, _value: Any) -> None:
        self._event.set()

    def __await__(self) -> Any:
        return self._event.wait().__await__()
