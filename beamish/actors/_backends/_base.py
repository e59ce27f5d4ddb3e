"""What the kernel needs from an event loop, and how to pick the running one.

>>> Backend.__name__
'Backend'
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._clock import Clock
    from .._process import Process


class Waiter(Protocol):
    """A one-shot, future-like wakeup: ``await w`` returns the value given to ``set_result``."""

    def done(self) -> bool: ...

    def set_result(self, value: Any) -> None: ...

    def set_exception(self, error: BaseException) -> None: ...

    def __await__(self) -> Any: ...


class Backend(Protocol):
    """Start, cancel and wake processes on one event loop family."""

    name: str
    create_waiter: Callable[[], Any]  # () -> Waiter

    def start(self, proc: Process, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as ``proc``'s task; call ``proc._finished(...)`` when it ends."""

    def cancel(self, proc: Process) -> None:
        """Make ``proc``'s task stop at its next checkpoint."""

    def start_system(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run a runtime task (clock driver) until :meth:`close`."""

    async def checkpoint(self) -> None: ...

    def make_clock(self, virtual: bool) -> Clock: ...

    async def aclose(self) -> None:
        """Cancel the system tasks and wait for them."""


def current_async_library() -> str:
    """``"trio"`` or ``"asyncio"`` (uvloop included): the event loop running this task.

    anyio no longer depends on sniffio, so beamish tells the two apart itself. Raises
    ``RuntimeError`` outside any event loop.

    >>> import anyio
    >>> async def main():
    ...     return current_async_library()
    >>> anyio.run(main), anyio.run(main, backend="trio")
    ('asyncio', 'trio')
    """
    trio = sys.modules.get("trio")  # a running trio has been imported
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return "trio"
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("no asyncio or trio event loop runs in this thread") from None
    return "asyncio"


def current_backend(nursery: Any = None) -> Backend:
    """The backend for the event loop running in this task."""
    library = current_async_library()
    if library == "trio":
        from ._trio import TrioBackend

        if nursery is None:
            raise RuntimeError("the trio backend needs the node's nursery")
        return TrioBackend(nursery)
    if library == "asyncio":
        from ._asyncio import AsyncioBackend

        return AsyncioBackend()
    raise RuntimeError(f"beamish does not run on {library!r}")
