"""Start a node on the running event loop, run a main process, shut down in order."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ..actors import (
    Down,
    Exited,
    Node,
    check_async_function,
    current_async_library,
    current_backend,
    current_node,
    is_normal,
    monitor,
    receive,
)
from ..actors.lowlevel import borrow_process
from ..cluster import start as start_cluster
from ..supervision import Supervisor
from ._config import Config
from ._watchdog import LagWatchdog

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

BackendName = Literal["asyncio", "uvloop", "trio"]
BACKENDS: tuple[BackendName, ...] = ("asyncio", "uvloop", "trio")
_log = logging.getLogger("beamish.runtime")
_crash_log = logging.getLogger("beamish.process")  # where the kernel reports crashes


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
    ``strategy``, ``max_restarts`` and ``max_seconds``. On exit every process stops under
    one deadline of ``shutdown_timeout`` seconds (``Node.shutdown``): the independent
    ones concurrently, a supervisor's children in reverse start order; whatever is left
    at the deadline is killed.

    With ``cluster={"cookie": ..., "listen": ..., "seeds": [...]}`` (any keyword of
    ``beamish.cluster.start``), the node joins a cluster before the root supervisor starts,
    and leaves it after every process has stopped.

    An exception raised in the block comes out as itself, on every backend, with or
    without the cluster (never wrapped in an ``ExceptionGroup``).
    """
    settings = Config(**config)
    flags = {"strategy": strategy, "max_restarts": max_restarts, "max_seconds": max_seconds}
    if children is not None:  # check specs and flags here: one error, not a trio group
        Supervisor.child_spec(
            children=children, strategy=strategy, max_restarts=max_restarts, max_seconds=max_seconds
        )
    old_threshold = gc.get_threshold()
    if isinstance(settings.gc_threshold, int):
        gc.set_threshold(settings.gc_threshold, *old_threshold[1:])
    failure: Exception | None = None  # raised in the block: re-raised as itself at the end
    try:
        if current_async_library() == "trio":
            import trio

            try:
                async with trio.open_nursery() as nursery:
                    async with _running(
                        current_backend(nursery), settings, children, flags, cluster
                    ) as node:
                        try:
                            yield node
                        except Exception as exc:
                            failure = exc
            except BaseExceptionGroup as group:  # a start-up failure (port in use, ...)
                sole = _sole_exception(group)
                if sole is None:
                    raise
                raise sole from None
        else:
            async with _running(current_backend(), settings, children, flags, cluster) as node:
                try:
                    yield node
                except Exception as exc:
                    failure = exc
    finally:
        if settings.gc_threshold is not None:  # a number, or "adaptive"
            gc.set_threshold(*old_threshold)
    if failure is not None:
        raise failure


def _sole_exception(group: BaseExceptionGroup[Any]) -> Exception | None:
    """The one exception inside (nested) groups, or None if there are several."""
    leaves = list(group.exceptions)
    while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
        leaves = list(leaves[0].exceptions)
    return leaves[0] if len(leaves) == 1 and isinstance(leaves[0], Exception) else None


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
    node.adaptive_gc = settings.gc_threshold == "adaptive"
    backend.start_system(clock.run)
    token = current_node.set(node)
    watchdog = None
    if settings.loop_lag_threshold is not None:
        watchdog = LagWatchdog(node, settings.loop_lag_threshold)
        watchdog.start()
    try:
        async with contextlib.AsyncExitStack() as distribution:
            if cluster is not None:
                await distribution.enter_async_context(start_cluster(**cluster))
            try:
                if children is not None:
                    node.root = await Supervisor.start(children=children, **flags)
                yield node
            finally:
                # the shutdown deadline, kill_grace for what was killed, and a margin
                bound = settings.shutdown_timeout + node.kill_grace + 1.5
                with anyio.move_on_after(bound, shield=True):
                    await node.shutdown(settings.shutdown_timeout)
    finally:
        if watchdog is not None:
            watchdog.stop()
        with anyio.CancelScope(shield=True):
            await backend.aclose()
        current_node.reset(token)


async def _wait_for_root(node: Node) -> None:
    assert node.root is not None
    with borrow_process(node):
        ref = monitor(node.root)
        down = await receive(lambda m: type(m) is Down and m.ref == ref)
    _root_exited(node.root, down.reason)


def _root_exited(root: Any, reason: Any) -> None:
    """The application supervisor exited on its own: fine if ``normal``, else an error."""
    if is_normal(reason):
        _log.info("root supervisor exited normally: the node stops")
        return
    _log.error("root supervisor exited (%s): the node stops", reason)
    error = Exited(reason, root)
    error.add_note("the node's root supervisor exited (it gave up, or it was stopped)")
    raise error


def run(
    main: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    *args: Any,
    backend: BackendName = "asyncio",
    **config: Any,
) -> Any:
    """Start a node, run ``main(*args)`` as its first process, stop everything, and return
    ``main``'s result: the entry point of a script (as ``asyncio.run`` is).

    When ``main`` returns, the node stops every process still running: independent
    processes stop concurrently under one ``shutdown_timeout`` deadline (then they are
    killed), and a supervisor stops its children in reverse start order. With
    ``children=[...]`` the node runs an application supervisor (the node's ``root``)
    before ``main`` starts; without ``main``, ``run`` returns None when that supervisor
    exits ``normal``. If it exits for any other reason (it gave up after too many
    restarts, or it was killed), ``run`` stops ``main`` and raises ``Exited``. Inside an
    application that already runs an event loop, use ``runtime.start`` instead.

    A killed process is dead to the node after ``kill_grace`` (1 s) even if its task
    still runs, so links, monitors and supervisors never wait longer. On asyncio ``run``
    then returns; on trio, which cannot abandon a task, ``run`` returns only once that
    task ends: code that shields a wait of its own (not beamish's ``sleep``, ``receive``
    or ``call``, which a kill always ends) holds the end of ``run`` until the wait is over.

    Signals (in the main thread, when the program has not set its own handlers): SIGINT
    and SIGTERM stop the node in order (``main`` and every process, under
    ``shutdown_timeout``), then take their usual effect: SIGINT raises
    ``KeyboardInterrupt`` here, SIGTERM ends the process. A second signal ends it at once.

    Args:
        main: an ``async`` function, run as the node's first process.
        *args: passed to ``main``.
        backend: ``"asyncio"``, ``"uvloop"`` or ``"trio"``.
        **config: the node's settings (``name``, ``virtual_time``, ``shutdown_timeout``,
            ``gc_threshold``, ``loop_lag_threshold``: see ``Config``); ``children``,
            ``strategy``, ``max_restarts`` and ``max_seconds`` for the application
            supervisor; ``cluster={...}`` (keywords of ``beamish.cluster.start``) to join a
            cluster.

    Returns:
        What ``main`` returned (None without ``main``).

    Raises:
        Exception: the exception that crashed ``main``, as it was raised there (and not
            logged again).
        Exited: ``main`` exited with another abnormal reason (an exit signal), or the
            application supervisor exited abnormally (``Exited(reason, root_pid)``).
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
    if main is not None:
        check_async_function(main, "run")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: use 'asyncio', 'uvloop' or 'trio'")
    signals = _signals_to_handle()
    caught: list[int] = []

    async def boot() -> Any:
        body = anyio.CancelScope()  # cancelled by a signal: the node stops in order
        failure: Exception | None = None
        result: Any = None
        async with anyio.create_task_group() as tasks:
            if signals:
                name = config.get("name", "nonode@nohost")
                await tasks.start(_stop_on_signals, signals, body, caught, name)
            try:
                async with start(**config) as node:
                    with body:
                        if main is None:
                            await _wait_for_root(node)
                        else:
                            result = await run_main(node, main, *args)
            except Exception as exc:  # re-raised as itself, outside the task group
                failure = exc
            tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return result

    if backend == "trio":
        result = anyio.run(boot, backend="trio")
    elif backend == "uvloop":
        result = anyio.run(boot, backend="asyncio", backend_options={"use_uvloop": True})
    else:
        result = anyio.run(boot, backend="asyncio")
    if caught:
        _raise_signal(caught[0])
    return result


def _signals_to_handle() -> tuple[signal.Signals, ...]:
    """SIGINT and SIGTERM, where ``run`` may take them over (main thread, default handlers)."""
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        return ()
    wanted = []
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        wanted.append(signal.SIGINT)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        wanted.append(signal.SIGTERM)
    return tuple(wanted)


async def _stop_on_signals(
    signals: tuple[signal.Signals, ...],
    body: anyio.CancelScope,
    caught: list[int],
    node_name: str,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """First signal: stop the node in order. Second: end the process at once."""
    with anyio.open_signal_receiver(*signals) as received:
        task_status.started()
        async for signum in received:
            name = signal.Signals(signum).name
            if caught:
                _log.warning("%s again: exiting at once", name, extra={"node": node_name})
                _flush_std_streams()
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            caught.append(signum)
            _log.warning(
                "%s: stopping the node (send it again to exit at once)",
                name,
                extra={"node": node_name},
            )
            body.cancel()


def _raise_signal(signum: int) -> None:
    """After the orderly stop, let the signal have its usual effect."""
    _flush_std_streams()
    signal.raise_signal(signum)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


async def run_main(node: Node, main: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """Run ``main(*args)`` as a process on ``node`` and return its result (or raise).

    Arguments are passed as in ``run(main, *args)``. A crash in ``main`` is raised here as
    itself and is not logged by the node (the caller gets it). If the node's root
    supervisor exits first, ``main`` is stopped; the root's reason is raised as
    ``Exited`` unless it is ``normal`` (then the result is None).
    """
    check_async_function(main, "run_main")
    result: list[Any] = []
    raised: list[BaseException] = []

    async def main_process() -> None:
        try:
            result.append(await main(*args))
        except Exception as exc:
            raised.append(exc)
            raise

    def not_mains_crash(record: logging.LogRecord) -> bool:
        return not (raised and record.exc_info is not None and record.exc_info[1] is raised[0])

    _crash_log.addFilter(not_mains_crash)
    try:
        with borrow_process(node) as me:
            pid = node.spawn(main_process)
            ref = monitor(pid)
            root_ref = monitor(node.root) if node.root is not None else None
            down = await receive(lambda m: type(m) is Down and m.ref in (ref, root_ref))
            if down.ref == root_ref:
                node.exit(me.pid, pid, "shutdown")
                await receive(lambda m: type(m) is Down and m.ref == ref)
                _root_exited(node.root, down.reason)
                return None
    finally:
        _crash_log.removeFilter(not_mains_crash)
    if isinstance(down.reason, BaseException):
        raise down.reason
    if not is_normal(down.reason):
        raise Exited(down.reason, pid)
    return result[0]
