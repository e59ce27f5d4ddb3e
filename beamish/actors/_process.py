"""The process record: one per live process, owned by its node's process table.

>>> 'pid' in Process.__slots__
True

A ``Process`` holds the mailbox (see ``_mailbox``), the link and monitor sets, the trap
flag, the registered name and the call slots of the calls it is waiting on. Its fields are
private to the kernel; users see the process through its ``Pid`` and ``process_info``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import Exited, MailboxFull, SelfExit
from ._mailbox import Mailbox, Overflow
from ._outcomes import SLOT_TIMED_OUT
from ._pid import Pid, Ref
from ._reasons import KILLED, NORMAL, SHUTDOWN, Reason

if TYPE_CHECKING:
    from ._actor import Actor
    from ._backends._base import Waiter
    from ._clock import TimerHandle
    from ._node import Node


_NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A snapshot of one process (``process_info(pid)``)."""

    pid: Pid
    name: str | None
    status: str
    message_queue_len: int
    links: tuple[Pid, ...]
    monitors: tuple[Ref, ...]
    monitored_by: tuple[Pid, ...]
    trap_exits: bool
    mailbox_limit: int | None
    calling: Pid | None


class Process(Mailbox):
    __slots__ = (
        "_call_timer",
        "_call_timer_at",
        "_calls",
        "_links",
        "_monitored_by",
        "_monitors",
        "_task",
        "alive",
        "calling",
        "name",
        "pid",
        "server",
        "trap_exits",
    )

    def __init__(self, node: Node, pid: Pid) -> None:
        self._node = node  # the mailbox's fields, set here to spare a call per spawn
        self._mailbox = None
        self._waiter = None
        self._drained = 1
        self._timed_out = False
        self.pid = pid
        self._task: Any = None
        self._links: set[Pid] | None = None
        self._monitors: dict[Ref, Pid] | None = None  # monitors this process holds
        self._monitored_by: dict[Ref, Pid] | None = None  # monitors on this process
        self._calls: dict[Ref, tuple[Waiter, float]] | None = None  # slot, deadline per call
        self._call_timer: TimerHandle | None = None
        self._call_timer_at = _NEVER
        self.trap_exits = False
        self.name: str | None = None
        self._pending_reason: Reason = None  # set once an exit signal has doomed the process
        self.alive = True
        self.calling: Pid | None = None
        self.server: Actor | None = (
            None  # the Actor instance when this process runs the server loop
        )

    def __repr__(self) -> str:
        return f"<Process {self.pid!r}{' ' + self.name if self.name else ''}>"

    # -- links and monitors, this side only (the node keeps both sides consistent) --

    def add_link(self, pid: Pid) -> None:
        links = self._links
        if links is None:
            self._links = {pid}
        else:
            links.add(pid)

    def remove_link(self, pid: Pid) -> bool:
        links = self._links
        if links is None or pid not in links:
            return False
        links.discard(pid)
        return True

    def add_watcher(self, ref: Ref, watcher: Pid) -> None:
        if self._monitored_by is None:
            self._monitored_by = {}
        self._monitored_by[ref] = watcher

    def add_monitor(self, ref: Ref, target: Pid) -> None:
        if self._monitors is None:
            self._monitors = {}
        self._monitors[ref] = target

    # -- calls this process waits on --

    def open_call(self, ref: Ref, slot: Waiter, timeout: float | None) -> None:
        """Wait on ``slot`` for the reply to ``ref``; it gets ``SLOT_TIMED_OUT`` after
        ``timeout`` seconds (see ``_outcomes``).

        One node-clock timer per process serves all its calls: it is re-armed only when a
        call needs to end before the armed time, so a steady stream of calls arms no timer
        of its own (the cost of a call stays a dictionary entry).
        """
        if self._pending_reason is not None:
            raise self._doom_error()
        calls = self._calls
        if calls is None:
            calls = self._calls = {}
        if timeout is None:
            calls[ref] = (slot, _NEVER)
            return
        deadline = self._node.clock.now() + timeout
        calls[ref] = (slot, deadline)
        if deadline < self._call_timer_at:
            self._arm_call_timer(deadline)

    def _arm_call_timer(self, deadline: float) -> None:
        if self._call_timer is not None:
            self._call_timer.cancel()
        self._call_timer_at = deadline
        self._call_timer = self._node.clock.call_at(deadline, self._expire_calls)

    def _expire_calls(self) -> None:
        self._call_timer = None
        self._call_timer_at = _NEVER
        calls = self._calls
        if not calls:
            return
        clock = self._node.clock
        now = clock.now()
        next_deadline = _NEVER
        for ref, (slot, deadline) in list(calls.items()):
            if deadline <= now:
                del calls[ref]
                if not slot.done():
                    slot.set_result(SLOT_TIMED_OUT)
            elif deadline < next_deadline:
                next_deadline = deadline
        if next_deadline < _NEVER:
            self._call_timer_at = next_deadline
            self._call_timer = clock.call_at(next_deadline, self._expire_calls)

    # -- exit --

    def doom(self, reason: Reason) -> bool:
        """Mark the process as exiting with ``reason``; False if it already was."""
        if not self.alive:
            return False
        self.alive = False
        self._pending_reason = reason
        return True

    def is_known(self) -> bool:
        """Whether the node still holds this process (it has not ended, nor been declared
        dead after ``kill_grace``)."""
        return self._node._table.get(self.pid[1]) is self

    def _doom_error(self) -> BaseException:
        reason = self._pending_reason
        if self._task is None:  # code outside any process: it sees an exception it can catch
            return Exited(reason, self.pid)
        return SelfExit(reason)  # a BaseException: `except Exception` lets it through

    def abort_waits(self) -> None:
        """End the doomed process's waits on beamish (receive, calls, sleep), even inside
        a user's shield, where the backend's cancellation does not reach."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(self._doom_error())
        calls = self._calls
        if calls:
            for slot, _ in list(calls.values()):
                if not slot.done():
                    slot.set_exception(self._doom_error())

    def __call__(self, task: asyncio.Task[Any]) -> None:
        """The asyncio task's done-callback (the record itself: no bound method per spawn)."""
        if task.cancelled():
            self._finished(None, cancelled=True)
        else:
            self._finished(task.exception(), cancelled=False)

    def _finished(self, error: BaseException | None, cancelled: bool) -> None:
        """The task ended: work out the exit reason and let the node fan it out."""
        if self._pending_reason is not None:
            reason, originated = self._pending_reason, False
        elif cancelled:
            reason, originated = SHUTDOWN, False
        elif error is None:
            reason, originated = NORMAL, True
        elif type(error) is SelfExit:
            reason, originated = error.reason, True
        elif isinstance(error, BaseExceptionGroup) and (self_exit := sole_self_exit(error)):
            reason, originated = self_exit.reason, True
        else:
            reason, originated = error, True
        if reason == "kill":
            reason = KILLED
        self.alive = False
        self._node._exited(self, reason, originated)

    def info(self) -> ProcessInfo:
        return ProcessInfo(
            pid=self.pid,
            name=self.name,
            status=("waiting" if self._waiter is not None else "runnable")
            if self.alive
            else "exiting",
            message_queue_len=self.message_count(),
            links=tuple(sorted(self._links or ())),
            monitors=tuple(self._monitors or ()),
            monitored_by=tuple((self._monitored_by or {}).values()),
            trap_exits=self.trap_exits,
            mailbox_limit=self._limit,
            calling=self.calling,
        )


class BoundedProcess(Process):
    """A process whose mailbox holds at most ``limit`` messages (``spawn(mailbox_limit=)``);
    ``overflow`` says what one more does. Unbounded processes carry none of this."""

    __slots__ = ("_front_drops", "_limit", "_overflow")
    _limit: int

    def __init__(self, node: Node, pid: Pid, limit: int, overflow: Overflow) -> None:
        super().__init__(node, pid)
        self._limit = limit
        self._overflow = overflow
        self._front_drops = 0

    def _clear_front_drops(self) -> None:
        self._front_drops = 0

    def _overflowed(self, message: Any) -> None:
        node = self._node
        policy = self._overflow
        mailbox = self._mailbox
        assert mailbox is not None
        dropped = message
        if policy == "drop_oldest":
            dropped = mailbox.popleft()
            self._front_drops += 1
            mailbox.append(message)
            self._wake()  # the new message may be the one a selective receive waits for
        node._mailbox_dropped(self, dropped, policy)
        if policy == "exit":
            reason = MailboxFull(f"mailbox of {self.pid!r} is full ({self._limit})")
            node._log_crash(self, reason)  # the runtime's own verdict: reported like a crash
            node._terminate(self, reason)

    def _deliver(self, message: Any) -> None:
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = deque()
        if len(mailbox) >= self._limit:
            self._overflowed(message)
            return
        mailbox.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def sole_self_exit(group: BaseExceptionGroup[Any]) -> SelfExit | None:
    """The ``exit(self(), reason)`` inside ``group`` when it holds nothing else (raised by a
    task of the process's own task group), else None."""
    self_exits, rest = group.split(SelfExit)
    if rest is not None or self_exits is None:
        return None
    leaf: BaseException = self_exits
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf if isinstance(leaf, SelfExit) else None
