"""A cluster-scoped registry across real OS processes over TCP: a registration is found
from every node, and a node killed with SIGKILL takes its entries with it."""

from __future__ import annotations

import anyio
import pytest
from meshkit import on, until_connected
from oskit import COOKIE, HOST, WAIT, launcher

import beamish
from beamish import cluster, registry
from beamish.cluster.transports import TcpTransport
from beamish.registry import Registry

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),
    pytest.mark.timeout(90),
]

N1, N2, T = (f"{short}@{HOST}" for short in ("r1", "r2", "rt"))


async def _until(key, pids):
    """Wait (on the registry's listener messages) until this node's lookup lists ``pids``."""
    events = (registry.Registered, registry.Unregistered)
    with anyio.fail_after(WAIT):
        while {pid for pid, _ in registry.lookup("reg", key)} != set(pids):
            await beamish.receive(lambda m: isinstance(m, events))


async def test_registry_across_os_processes_and_a_killed_node(tmp_path):
    """A key held on r1 is found on r2 and here, reached through via; after r1 is killed
    with SIGKILL, its entry leaves this node's view after the down period."""
    async with launcher(tmp_path) as launch:
        n1 = await launch(N1)
        await launch(N2, (n1.address,))
        async with beamish.runtime.start(name=T) as node:
            async with cluster.start(
                cookie=COOKIE, transport=TcpTransport(), listen=f"{HOST}:0", discovery=False
            ) as the_cluster:
                assert await the_cluster.connect(n1.address) == N1
                await until_connected(the_cluster, [N1, N2], timeout=WAIT)

                async def client():
                    beamish.register("watch")
                    await Registry.start(
                        name="reg",
                        keys="unique",
                        scope="cluster",
                        listeners=["watch"],
                        replication={"broadcast_period": 0.05, "down_period": 1.0},
                    )
                    holder = await beamish.call(("ctl", N1), ("hold", "room"), timeout=WAIT)
                    seen_on_2 = await beamish.call(
                        ("ctl", N2), ("until", "room", [holder]), timeout=WAIT
                    )
                    await _until("room", [holder])
                    answer = await beamish.call(registry.via("reg", "room"), "hi", timeout=WAIT)
                    n1.kill9()
                    await _until("room", [])
                    return holder, seen_on_2, answer

                holder, seen_on_2, answer = await on(node, client)
                assert holder.node == N1
                assert seen_on_2 == [holder]
                assert answer == (N1, "hi")
