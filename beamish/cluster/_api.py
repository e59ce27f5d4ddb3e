"""Start distribution on a node and act on the cluster from a process.

>>> from beamish import cluster
>>> callable(cluster.start)
True

``async with cluster.start(cookie=..., listen="127.0.0.1:0") as c:`` makes the current
node (it needs a ``name@host`` name) reachable from other nodes that share the cookie; it
connects to ``seeds`` and, with ``discovery=True``, to every node announced in this host's
runtime directory. Inside, ``send``, ``call``, ``cast``, ``link``, ``monitor`` and ``exit``
work on remote pids and on ``(name, node)`` exactly as on local ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..actors import DEFAULT_TIMEOUT, CallTimeout, Exited, NotInProcess, Pid, this_node
from ..actors.lowlevel import CallExited, TimedOut, current_pid, open_call
from ..registry import set_cluster_scope
from ._connection import DEFAULT_SEND_BUFFER_LIMIT
from ._directory import default_directory
from ._framing import DEFAULT_MAX_FRAME
from ._global import serving as serve_global_names
from ._mesh import Cluster, function_reference
from ._pg import serving as serve_process_groups
from ._registry_scope import replicate as replicate_registry


@contextlib.asynccontextmanager
async def start(
    *,
    cookie: str | bytes,
    listen: str | None = "127.0.0.1:0",
    transport: Any = None,
    seeds: Sequence[str] = (),
    discovery: bool = True,
    directory: Path | None = None,
    heartbeat: float = 15.0,
    handshake_timeout: float = 5.0,
    allow_pickle: bool = False,
    max_frame: int = DEFAULT_MAX_FRAME,
    advertise: str | None = None,
    gossip_interval: float = 2.0,
    send_buffer_limit: int = DEFAULT_SEND_BUFFER_LIMIT,
    spawn_modules: Iterable[str] | None = None,
) -> AsyncIterator[Cluster]:
    """Run distribution for the current node until the block ends.

    The block starts once every seed is connected or has failed (each within
    ``handshake_timeout``); the rest of the mesh forms in the background (see
    :func:`wait_for_nodes`). ``advertise`` is the address other nodes are told to dial, when
    it differs from ``listen`` (listening on ``0.0.0.0``, behind NAT or a container port
    mapping). Every ``gossip_interval`` seconds each node tells its peers all its peers and
    redials unconnected seeds, which repairs whatever a lost message missed.
    ``send_buffer_limit`` bounds the bytes queued for one peer: a peer that stops reading
    loses its connection (links and monitors fire ``noconnection``) rather than grow it.
    ``spawn_modules`` (module names; a name allows its submodules too) limits what peers
    may spawn here; ``None`` lets a peer with the cookie spawn any importable function.
    """
    if transport is None:
        from .transports import TcpTransport

        transport = TcpTransport()
    node = this_node()
    if discovery and directory is None:
        directory = default_directory()
    cluster = Cluster(
        node,
        transport,
        cookie=cookie,
        heartbeat=heartbeat,
        handshake_timeout=handshake_timeout,
        allow_pickle=allow_pickle,
        max_frame=max_frame,
        directory=directory if discovery else None,
        gossip_interval=gossip_interval,
        send_buffer_limit=send_buffer_limit,
        spawn_modules=spawn_modules,
    )
    cluster.advertise = advertise
    failure: Exception | None = None  # raised in the block: re-raised as itself, not grouped
    try:
        async with cluster.running(listen, tuple(seeds)) as running, serve_process_groups():
            if discovery:
                for name in running.discovered():
                    running._route(name, ("tick",))  # noqa: SLF001 (the same package)
            async with serve_global_names():
                set_cluster_scope(node, replicate_registry)
                try:
                    yield running
                except Exception as exc:
                    failure = exc
                finally:
                    set_cluster_scope(node, None)
    except BaseExceptionGroup as group:  # a start-up failure (port in use, bad address)
        sole = _sole_exception(group)
        if sole is None:
            raise
        raise sole from None
    if failure is not None:
        raise failure


def _sole_exception(group: BaseExceptionGroup[Any]) -> Exception | None:
    """The one exception inside (nested) groups, or None if there are several."""
    leaves = list(group.exceptions)
    while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
        leaves = list(leaves[0].exceptions)
    return leaves[0] if len(leaves) == 1 and isinstance(leaves[0], Exception) else None


def this_cluster() -> Cluster:
    """The distribution layer of the current node (``RuntimeError`` if it has none)."""
    remote = this_node().remote
    if not isinstance(remote, Cluster):
        raise RuntimeError("this node is not distributed: use beamish.cluster.start(...)")
    return remote


async def connect(target: str) -> str:
    """Connect to a node by address or name; returns its name (``ConnectionError``)."""
    return await this_cluster().connect(target)


def nodes() -> list[str]:
    """The nodes this node is connected to."""
    return this_cluster().nodes()


async def wait_for_nodes(nodes: int | Iterable[str], timeout: float = 10.0) -> list[str]:
    """Wait until this node is connected to ``nodes`` peers (a count), or to every node
    named; returns the connected nodes. ``TimeoutError`` after ``timeout`` seconds.

    A node connects to its seeds before ``start`` returns, and to the rest of the cluster
    in the background; wait for the mesh when a start-up step needs it::

        await cluster.wait_for_nodes(["billing@10.0.0.6", "orders@10.0.0.5"], timeout=30)
    """
    return await this_cluster().wait_for_nodes(nodes, timeout)


def monitor_node(node: str) -> None:
    """The calling process gets ``NodeDown(node, reason)`` when the connection ends."""
    pid = current_pid()
    if pid is None:
        raise NotInProcess("monitor_node() needs to run inside a beamish process")
    this_cluster().monitor_node(pid, node)


def monitor_nodes(flag: bool = True) -> None:
    """The calling process gets ``NodeUp(node)`` and ``NodeDown(node, reason)`` for every
    peer that connects or goes away (``flag=False`` stops it)."""
    pid = current_pid()
    if pid is None:
        raise NotInProcess("monitor_nodes() needs to run inside a beamish process")
    this_cluster().monitor_nodes(pid, flag)


def demonitor_node(node: str) -> None:
    """Stop watching ``node``."""
    pid = current_pid()
    if pid is not None:
        this_cluster().demonitor_node(pid, node)


async def spawn(
    node: str,
    fn: Callable[..., Any],
    *args: Any,
    link: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Pid:
    """Start ``fn(*args)`` as a process on ``node``; returns its pid.

    ``fn`` travels as an importable reference (``module:qualname``); any other function
    travels with cloudpickle, if the nodes allow it. ``link=True`` links it to the caller.
    """
    cluster = this_cluster()
    local = this_node()
    if node == local.name:
        from ..actors import spawn as spawn_here
        from ..actors import spawn_link

        return (spawn_link if link else spawn_here)(fn, *args)
    if current_pid() is None:
        raise NotInProcess("cluster.spawn() needs to run inside a beamish process")
    with open_call(timeout) as pending:
        target = function_reference(fn)
        cluster.request_spawn(pending.caller, pending.ref, node, target, args, link)
        outcome = await pending.wait()
    if isinstance(outcome, TimedOut):
        raise CallTimeout(f"no answer from {node} within {timeout}s")
    if isinstance(outcome, CallExited):
        raise Exited(outcome.reason, node)
    status, detail = outcome.value
    if status != "ok":
        raise detail if isinstance(detail, BaseException) else RuntimeError(detail)
    pid: Pid = detail
    return pid
