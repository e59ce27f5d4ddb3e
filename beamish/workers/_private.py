"""Distribution for a node that has none yet: workers talk to their parent over it.

A node that is not in a cluster gets a private one the first time a pool starts: a random
cookie, a listener on 127.0.0.1 only, no discovery, and pickles allowed (functions and values
of ``__main__`` travel by value to the workers, which are this program's own children). It
lasts as long as the node. A node
already in a cluster (``run(..., cluster=...)``) lends its own, and its workers join it.
"""

from __future__ import annotations

import secrets
import weakref

import anyio

from ..actors import Node
from ..actors.lowlevel import start_system_task
from ..cluster import DEFAULT_MAX_FRAME, Cluster
from ..cluster.transports import TcpTransport

_starting: weakref.WeakKeyDictionary[Node, anyio.Event] = weakref.WeakKeyDictionary()


async def distributed(node: Node, max_frame: int = DEFAULT_MAX_FRAME) -> Cluster:
    """The node's cluster, started privately (with ``max_frame``) if the node has none."""
    while True:
        remote = node.remote
        if isinstance(remote, Cluster):
            return remote
        if remote is not None:
            raise RuntimeError(f"{node.name} has a remote hook that is not a beamish Cluster")
        pending = _starting.get(node)
        if pending is None:
            break
        await pending.wait()
    if "@" not in node.name:
        raise RuntimeError(f"worker pools need a name@host node name, not {node.name!r}")
    up = _starting[node] = anyio.Event()
    cluster = Cluster(
        node,
        TcpTransport(),
        cookie=secrets.token_hex(32),
        directory=None,
        max_frame=max_frame,
        allow_pickle=True,
    )

    async def keep() -> None:
        try:
            async with cluster.running("127.0.0.1:0"):
                up.set()
                await anyio.sleep_forever()
        finally:
            up.set()

    start_system_task(node, keep)
    try:
        await up.wait()
    finally:
        _starting.pop(node, None)
    if node.remote is not cluster:
        raise RuntimeError(f"{node.name}: the private cluster did not start")
    return cluster


def cookie_of(cluster: Cluster) -> str:
    """The cluster's cookie in hex, to hand to a worker through its environment."""
    return cluster.cookie.hex()
