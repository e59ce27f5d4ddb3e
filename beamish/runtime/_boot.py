"""Start a node on the running event loop, run a main process, shut down in order."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Literal

import anyio

from ..actors import Down, Exited, Node, current_async_library, current_node, is_normal
from ..actors._backends import current_backend
from ..cluster import start as start_cluster
from ..supervision import Supervisor
from ._config import Config

BackendName = Literal["asyncio", "uvloop", "trio"]
_log = logging.getLogger("beamish.runtime")


@contextlib.asynccontextmanager
async def start(
    *,
    children: Sequence[Any] | None = None,
    strategy: str = "one_for_one",
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    cluster: dict[str, Any] | None = None,
    **config: Any,
) -> AsyncIterator[Node]:
    """Run a node inside an existing async application (asyncio, uvloop or trio).

    >>> import anyio, beamish
    >>> async def app():
    ...     async with beamish.runtime.start(name="web@localhost") as node:
    ...         return node.name
    >>> anyio.run(app)
    'web@localhost'

    With ``children``, the node starts an application supervisor (``node.root``) with
    ``strategy``, ``max_restarts`` and ``max_seconds``. On exit the root supervisor stops
    its tree (reverse order, each child's shutdown protocol), then every other process is
    stopped, newest first (``Node.shutdown``).

    With ``cluster={"cookie": ..., "listen": ..., "seeds": [...]}`` (any keyword of
    ``beamish.cluster.start``), the node joins a cluster before the root supervisor starts,
    and leaves it after every process has stopped.
    """
    settings = Config(**config)
    flags = {"strategy": strategy, "max_restarts": max_restarts, "max_seconds": max_seconds}
    old_threshold = gc.get_threshold()
    if settings.gc_threshold is not None:
        gc.set_threshold(settings.gc_threshold, *old_threshold[1:])
    try:
        if current_async_library() == "trio":
            import trio

            async with trio.open_nursery() as nursery:
                async with _running(
                    current_backend(nursery), settings, children, flags, cluster
                ) as node:
                    yield node
        else:
            async with _running(current_backend(), settings, children, flags, cluster) as node:
                yield node
    finally:
        if settings.gc_threshold is not None:
            gc.set_threshold(*old_threshold)


@contextlib.asynccontextmanager
async def _running(
    backend: Any,
    settings: Config,
    children: Sequence[Any] | None,
    flags: dict[str, Any],
    cluster: dict[str, Any] | None,
) -> AsyncIterator[Node]:
    clock = backend.make_clock(settings.virtual_time)
    node = Node(backend, name=settings.name, clock=clock)
    backend.start_system(clock.run)
    token = current_node.set(node)
    try:
        async with contextlib.AsyncExitStack() as distribution:
            if cluster is not None:
                await distribution.enter_async_context(start_cluster(**cluster))
            try:
                if children is not None:
                    node.root = await Supervisor.start(children=children, **flags)
                yield node
            finally:
                with anyio.CancelScope(shield=True):
                    await _stop_root(node)
                with (
                    anyio.move_on_after(settings.shutdown_timeout * 2 + 5),
                    anyio.CancelScope(shield=True),
                ):
                    await node.shutdown(settings.shutdown_timeout)
    finally:
        with anyio.CancelScope(shield=True):
            await backend.aclose()
        current_node.reset(token)


async def _stop_root(node: Node) -> None:
    """Stop the application supervisor first, so it takes its tree down in order."""
    root = node.root
    if root is None or not node.is_alive(root):
        return
    with node.anonymous() as me:
        ref = node.monitor(me, root)
        node.exit(node.system_pid, root, "shutdown")  # from the node: the server stops
        await me.receive(lambda m: type(m) is Down and m.ref == ref)


async def _wait_for_root(node: Node) -> None:
    assert node.root is not None
    with node.anonymous() as me:
        ref = node.monitor(me, node.root)
        down = await me.receive(lambda m: type(m) is Down and m.ref == ref)
    _log.info("root supervisor exited (%s): the node stops", down.reason)


def run(
    main: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    *args: Any,
    backend: BackendName = "asyncio",
    **config: Any,
) -> Any:
    """Start a node, run ``main(*args)`` as its first process, stop everything, and return
    ``main``'s result: the entry point of a script (as ``asyncio.run`` is).

    When ``main`` returns, the node stops every process still running, newest first (an
    application supervisor stops its children in reverse start order), then the event loop
    ends. With ``children=[...]`` the node runs an application supervisor (the node's
    ``root``) before ``main`` starts; without ``main``, ``run`` returns when that
    supervisor exits (it gave up, or it was stopped). If the root supervisor gives up while
    ``main`` runs, ``main`` is stopped and ``run`` returns None. Inside an application that
    already runs an event loop, use ``runtime.start`` instead.

    Args:
        main: an ``async`` function, run as the node's first process.
        *args: passed to ``main``.
        backend: ``"asyncio"``, ``"uvloop"`` or ``"trio"``.
        **config: the node's settings (``name``, ``virtual_time``, ``shutdown_timeout``,
            ``gc_threshold``: see ``Config``); ``children``, ``strategy``,
            ``max_restarts`` and ``max_seconds`` for the application supervisor;
            ``cluster={...}`` (keywords of ``beamish.cluster.start``) to join a cluster.

    Returns:
        What ``main`` returned (None without ``main``).

    Raises:
        Exception: the exception that crashed ``main``, as it was raised there.
        Exited: ``main`` exited with another abnormal reason (an exit signal).
        ValueError: neither ``main`` nor ``children`` was given, or a setting is invalid.

    Example:
        >>> import beamish
        >>> async def main(x):
        ...     return x + 1
        >>> beamish.run(main, 41, name="app@localhost", backend="trio")
        42
    """
    if main is None and config.get("children") is None:
        raise ValueError("run() needs a main function, children, or both")

    async def boot() -> Any:
        async with start(**config) as node:
            if main is None:
                await _wait_for_root(node)
                return None
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
    """Run ``main(*args)`` as a process on ``node`` and return its result (or raise).

    If the node's root supervisor exits first, ``main`` is stopped and None returned.
    """
    result: list[Any] = []

    async def main_process() -> None:
        result.append(await main(*args))

    with node.anonymous() as me:
        pid = node.spawn(main_process)
        ref = node.monitor(me, pid)
        root_ref = node.monitor(me, node.root) if node.root is not None else None
        down = await me.receive(lambda m: type(m) is Down and m.ref in (ref, root_ref))
        if down.ref == root_ref:
            _log.error("root supervisor exited (%s): stopping main", down.reason)
            node.exit(me.pid, pid, "shutdown")
            await me.receive(lambda m: type(m) is Down and m.ref == ref)
            return None
    if isinstance(down.reason, BaseException):
        raise down.reason
    if not is_normal(down.reason):
        raise Exited(down.reason, pid)
    return result[0]
