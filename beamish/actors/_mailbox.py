"""Mailboxes: a deque (none while the process waits on an empty one) plus one lazily
created wakeup, with Erlang's selective receive.

>>> OVERFLOW_POLICIES
('drop_newest', 'drop_oldest', 'exit')

Selective receive, the yield every 64 messages and the overflow policies are documented
on the public ``beamish.receive`` and ``beamish.spawn``. One task of a process
waits at a time. A drop_oldest overflow wakes a waiting selective receive and shifts its
scan position by the messages it dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._backends._base import Waiter
    from ._clock import TimerHandle
    from ._node import Node
    from ._reasons import Reason

Overflow = Literal["drop_newest", "drop_oldest", "exit"]
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("drop_newest", "drop_oldest", "exit")
Match = Callable[[Any], bool]

_YIELD_EVERY_MASK = 63


class Mailbox:
    """The receiving half of a process (mixed into ``Process``; slots live there)."""

    __slots__ = (
        "_drained",
        "_mailbox",
        "_node",
        "_pending_reason",
        "_timed_out",
        "_waiter",
    )
    # An unbounded mailbox (the default) has no slots for these: ``BoundedProcess`` does.
    _limit: int | None = None
    _overflow: Overflow = "drop_newest"
    _front_drops: int = 0  # messages drop_oldest took while we waited: they shift a scan

    def __init__(self, node: Node) -> None:
        self._node = node
        self._mailbox: deque[Any] | None = None  # created by the first message
        self._waiter: Waiter | None = None  # set while the owner waits in receive
        self._drained = 1  # counts messages taken without waiting: a checkpoint every 64
        self._timed_out = False
        self._pending_reason: Reason = None  # set once an exit signal has doomed the process

    def _clear_front_drops(self) -> None:
        """Only a bounded mailbox (drop_oldest) ever counts front drops."""

    def _doom_error(self) -> BaseException:
        """The exception that ends a doomed process at its next wait."""
        raise NotImplementedError

    async def _end_doomed(self) -> Any:
        """A doomed process asked to wait: yield once (so a loop that swallows this cannot
        starve the node), then end it."""
        await self._node._backend.checkpoint()
        raise self._doom_error()

    def message_count(self) -> int:
        """How many messages wait in the mailbox."""
        return len(self._mailbox) if self._mailbox else 0

    def _wake(self) -> None:
        # the waiter stays set until its receiver resumes: until then the process is still
        # receiving, and a second task's receive() is refused (see receive)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive_any(self) -> Any:
        """``receive()`` with no match and no timeout: the common case, in a small frame (an
        idle process holds this frame while it waits, so every local here costs memory
        per process)."""
        mailbox = self._mailbox
        if not mailbox and self._pending_reason is None and self._waiter is None:
            self._mailbox = mailbox = None  # an idle process holds no empty deque (760 B)
            create_waiter = self._node._backend.create_waiter
            try:
                while True:
                    self._waiter = waiter = create_waiter()
                    await waiter
                    mailbox = self._mailbox
                    if mailbox:
                        return mailbox.popleft()
            finally:
                self._waiter = None
        if mailbox and self._drained & _YIELD_EVERY_MASK:
            self._drained += 1
            return mailbox.popleft()
        return await self.receive()  # a checkpoint due, a doomed process, a second receiver

    async def receive(self, match: Match | None = None, timeout: float | None = None) -> Any:
        mailbox = self._mailbox
        scanned = 0
        if mailbox:
            if match is None:
                if self._drained & _YIELD_EVERY_MASK:  # test, then count (as the server loop)
                    self._drained += 1
                    return mailbox.popleft()
                self._drained += 1
                await self._node._backend.checkpoint()
                if mailbox:
                    return mailbox.popleft()
            else:
                for index, message in enumerate(mailbox):
                    if match(message):
                        del mailbox[index]
                        return message
                scanned = len(mailbox)
        # Nothing there yet: wait for deliveries (kept inline: one coroutine frame per wait).
        if self._pending_reason is not None:
            return await self._end_doomed()
        node = self._node
        if self._waiter is not None:
            raise RuntimeError(
                f"another task of {self!r} is already waiting in receive(); one task "
                "per process receives (other tasks can send(self(), ...) to it)"
            )
        if self._front_drops:  # from here on, drop_oldest counts what it takes from the front
            self._clear_front_drops()
        if mailbox is not None and not mailbox:
            self._mailbox = mailbox = None  # an idle process holds no empty deque (760 B)
        timer: TimerHandle | None = None
        if timeout is not None and timeout <= 0:
            await node._backend.checkpoint()
            return self._after_poll(match, scanned, timeout)
        if timeout is not None:
            self._timed_out = False
            clock = node.clock
            timer = clock.call_at(clock.now() + timeout, self._on_timeout)
        create_waiter = node._backend.create_waiter
        try:
            while True:
                waiter = self._waiter = create_waiter()
                await waiter
                mailbox = self._mailbox
                if mailbox:
                    if match is None:
                        return mailbox.popleft()
                    if self._front_drops:  # drop_oldest moved what we had scanned
                        scanned = max(0, scanned - self._front_drops)
                        self._clear_front_drops()
                    while scanned < len(mailbox):
                        message = mailbox[scanned]
                        if match(message):
                            del mailbox[scanned]
                            return message
                        scanned += 1
                if timer is not None and self._timed_out:
                    raise TimeoutError(f"receive timed out after {timeout}s")
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def receive_nowait(self, match: Match | None = None) -> Any:
        from ._errors import WouldBlock

        mailbox = self._mailbox
        if mailbox:
            if match is None:
                return mailbox.popleft()
            for index, message in enumerate(mailbox):
                if match(message):
                    del mailbox[index]
                    return message
        raise WouldBlock

    def _on_timeout(self) -> None:
        self._timed_out = True
        self._wake()

    def _after_poll(self, match: Match | None, scanned: int, timeout: float) -> Any:
        mailbox = self._mailbox
        if mailbox:
            if match is None:
                return mailbox.popleft()
            for index in range(max(0, scanned - self._front_drops), len(mailbox)):
                if match(mailbox[index]):
                    message = mailbox[index]
                    del mailbox[index]
                    return message
        raise TimeoutError(f"receive timed out after {timeout}s")

    def _deliver(self, message: Any) -> None:
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = deque()
        mailbox.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
