"""trio: a process is one task in the node's nursery, inside its own cancel scope."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

import trio

from .._clock import Clock, HeapClock
from .._context import current_process
from .._errors import SelfExit
from .._process import sole_self_exit

if TYPE_CHECKING:
    from .._process import Process


class TrioWaiter:
    """A one-shot future on a ``trio.Event``."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._event.is_set()

    def set_result(self, value: Any) -> None:
        self._value = value
        self._event.set()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._event.set()

    async def _wait(self) -> Any:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()


class TrioBackend:
    name = "trio"

    def __init__(self, nursery: trio.Nursery) -> None:
        self.create_waiter: Callable[[], Any] = TrioWaiter
        self._nursery = nursery
        self._system_scopes: list[trio.CancelScope] = []

    def start(self, proc: Process, coro: Coroutine[Any, Any, Any]) -> None:
        scope = trio.CancelScope()
        proc._task = scope
        self._nursery.start_soon(self._run, proc, coro, scope)

    @staticmethod
    async def _run(proc: Process, coro: Coroutine[Any, Any, Any], scope: trio.CancelScope) -> None:
        current_process.set(proc)
        error: BaseException | None = None
        try:
            with scope:
                try:
                    await coro
                except (Exception, SelfExit) as exc:
                    error = exc
                except BaseExceptionGroup as group:  # from a task group inside the process
                    if sole_self_exit(group) is None:
                        raise
                    error = group
        except BaseException as exc:  # the node's nursery is going away
            proc._finished(exc, cancelled=True)
            raise
        if scope.cancelled_caught:
            proc._finished(None, cancelled=True)
        else:
            proc._finished(error, cancelled=False)

    def cancel(self, proc: Process) -> None:
        scope = proc._task
        if scope is not None:
            scope.cancel()

    def start_system(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        scope = trio.CancelScope()
        self._system_scopes.append(scope)

        async def run() -> None:
            with scope:
                await fn()

        self._nursery.start_soon(run)

    async def checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()

    def make_clock(self, virtual: bool) -> Clock:
        return HeapClock()

    async def aclose(self) -> None:
        for scope in self._system_scopes:
            scope.cancel()
        await trio.lowlevel.checkpoint()
