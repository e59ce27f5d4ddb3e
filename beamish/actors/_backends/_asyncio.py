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


class AsyncioBackend:
    name = "asyncio"

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        if type(self.loop).__module__.startswith("uvloop"):
            self.name = "uvloop"
        self.create_waiter = self.loop.create_future
        self._create_task = self.loop.create_task
        self._system: list[asyncio.Task[Any]] = []

    def start(self, proc: Process, coro: Coroutine[Any, Any, Any]) -> None:
        context = contextvars.copy_context()
        context.run(current_process.set, proc)
        task = self._create_task(coro, context=context)
        task.add_done_callback(proc, context=context)
        proc._task = task

    def cancel(self, proc: Process) -> None:
        task = proc._task
        if task is not None:
            task.cancel()

    def start_system(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self._system.append(self._create_task(fn()))

    async def checkpoint(self) -> None:
        await asyncio.sleep(0)

    def make_clock(self, virtual: bool) -> Clock:
        return VirtualClock() if virtual else LoopClock(self.loop)

    async def aclose(self) -> None:
        for task in self._system:
            task.cancel()
        for task in self._system:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._system.clear()
