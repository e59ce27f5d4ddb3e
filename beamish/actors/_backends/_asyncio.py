"""asyncio (and uvloop): a process is one bare ``loop.create_task``.

No wrapper coroutine and no task group: the task runs the user's coroutine directly in a
copied context that holds the current process, and a done-callback turns the outcome into
an exit reason. That keeps spawn within a few percent of a bare task.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .._clock import Clock, LoopClock, VirtualClock
from .._context import current_process

if TYPE_CHECKING:
    from .._process import Process

# How often a cancelled task inside a shield is looked at again: real seconds, off the
# ready queue, so virtual time keeps moving while a shielded cleanup runs.
_SHIELD_RECHECK = 0.01

_task_states: Any  # anyio's record of each task's cancel scopes (private: read, optional)
try:
    from anyio._backends._asyncio import _task_states
except ImportError:  # pragma: no cover - another anyio layout: no shield is seen
    _task_states = {}


def _shielded(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` runs inside an anyio ``CancelScope(shield=True)``."""
    state = _task_states.get(task)
    scope = getattr(state, "cancel_scope", None)
    while scope is not None:
        if getattr(scope, "_shield", False):
            return True
        scope = getattr(scope, "_parent_scope", None)
    return False


class AsyncioBackend:
    name = "asyncio"

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        if type(self.loop).__module__.startswith("uvloop"):
            self.name = "uvloop"
        self.create_waiter = self.loop.create_future
        self._create_task = self.loop.create_task
        # Without a task factory, loop.create_task only builds an asyncio.Task (in Python,
        # on the default loop): build it directly, one frame fewer per spawn.
        self._new_task = asyncio.Task if self.loop.get_task_factory() is None else None
        self._system: list[asyncio.Task[Any]] = []
        self._closed = False

    def start(self, proc: Process, coro: Coroutine[Any, Any, Any]) -> None:
        context = contextvars.copy_context()
        context.run(current_process.set, proc)
        new_task = self._new_task
        if new_task is not None:
            task = new_task(coro, loop=self.loop, context=context)
        else:
            task = self._create_task(coro, context=context)
        task.add_done_callback(proc, context=context)
        proc._task = task

    def cancel(self, proc: Process) -> None:
        """Cancel ``proc``'s task, and again at each loop turn until it has ended (a task
        that swallows one ``CancelledError`` gets the next at its next wait), as anyio's
        cancel scopes do; like them, leave a task alone while it is inside a shield. Stop
        once the node has let go of the process (declared dead after ``kill_grace``) or
        has closed: a task that swallows every cancel is then left to itself, never spun."""
        task = proc._task
        if isinstance(task, asyncio.Task):
            self._deliver_cancel(task, proc)
        elif task is not None:  # a borrowed process's anyio cancel scope (the test plugin's
            task.cancel()  # test process): a scope is level-triggered already

    def _deliver_cancel(self, task: asyncio.Task[Any], proc: Process) -> None:
        if task.done() or self._closed or not proc.is_known():
            return
        if _shielded(task):
            self.loop.call_later(_SHIELD_RECHECK, self._deliver_cancel, task, proc)
            return
        if not task._must_cancel:  # type: ignore[attr-defined]
            waiter = task._fut_waiter  # type: ignore[attr-defined]
            if waiter is None or not waiter.done():
                task.cancel()
        self.loop.call_soon(self._deliver_cancel, task, proc)

    def start_system(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self._system.append(self._create_task(fn()))

    async def checkpoint(self) -> None:
        await asyncio.sleep(0)

    def make_clock(self, virtual: bool) -> Clock:
        return VirtualClock() if virtual else LoopClock(self.loop)

    async def aclose(self) -> None:
        self._closed = True
        for task in self._system:
            task.cancel()
        for task in self._system:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._system.clear()
