"""Start a node on the running event loop, run a main process, shut down in order.

>>> import beamish
>>> async def main(x):
...     return x + 1
>>> beamish.run(main, 41)
42
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Literal

import anyio
import sniffio

from ..actors import Down, Exited, Node, current_node, is_normal
from ..actors._backends import current_backend
from ._config import Config

BackendName = Literal["asyncio", "uvloop", "trio"]


@contextlib.asynccontextmanager
async def start(**config: Any) -> AsyncIterator[Node]:
    """Run a node inside an existing async application (asyncio, uvloop or trio).

    >>> import anyio, beamish
    >>> async def app():
    ...     async with beamish.runtime.start(name="web@localhost") as node:
    ...         return node.name
    >>> anyio.run(app)
    'web@localhost'

    On exit every process is stopped, newest first (``Node.shutdown``).
    """
    settings = Config(**config)
    old_threshold = gc.get_threshold()
    if settings.gc_threshold is not None:
        gc.set_threshold(settings.gc_threshold, *old_threshold[1:])
    try:
        if sniffio.current_async_library() == "trio":
            import trio

            async with trio.open_nursery() as nursery:
                async with _running(current_backend(nursery), settings) as node:
                    yield node
        else:
            async with _running(current_backend(), settings) as node:
                yield node
    finally:
        if settings.gc_threshold is not None:
            gc.set_threshold(*old_threshold)


@contextlib.asynccontextmanager
async def _running(backend: Any, settings: Config) -> AsyncIterator[Node]:
    clock = backend.make_clock(settings.virtual_time)
    node = Node(backend, name=settings.name, clock=clock)
    backend.start_system(clock.run)
    token = current_node.set(node)
    try:
        yield node
    finally:
        with anyio.move_on_after(settings.shutdown_timeout * 2 + 5), anyio.CancelScope(shield=True):
            await node.shutdown(settings.shutdown_timeout)
        with anyio.CancelScope(shield=True):
            await backend.aclose()
        current_node.reset(token)


def run(
    main: Callable[..., Coroutine[Any, Any, Any]],
    *args: Any,
    backend: BackendName = "asyncio",
    **config: Any,
) -> Any:
    """Start a node, run ``main(*args)`` as its first process, stop everything, return
    ``main``'s result. A crash in ``main`` is raised here; another exit reason raises
    ``Exited``.
    """

    async def boot() -> Any:
        async with start(**config) as node:
            return await run_main(node, main, args)

    if backend == "trio":
        return anyio.run(boot, backend="trio")
    if backend == "uvloop":
        return anyio.run(boot, backend="asyncio", backend_options={"use_uvloop": True})
    if backend != "asyncio":
        raise ValueError(f"unknown backend {backend!r}: use 'asyncio', 'uvloop' or 'trio'")
    return anyio.run(boot, backend="asyncio")


async def run_main(
    node: Node, main: Callable[..., Coroutine[Any, Any, Any]], args: tuple[Any, ...] = ()
) -> Any:
    """Run ``main(*args)`` as a process on ``node`` and return its result (or raise)."""
    result: list[Any] = []

    async def main_process() -> None:
        result.append(await main(*args))

    with node.anonymous() as me:
        pid = node.spawn(main_process)
        ref = node.monitor(me, pid)
        down = await me.receive(lambda m: type(m) is Down and m.ref == ref)
    if isinstance(down.reason, BaseException):
        raise down.reason
    if not is_normal(down.reason):
        raise Exited(down.reason, pid)
    return result[0]
