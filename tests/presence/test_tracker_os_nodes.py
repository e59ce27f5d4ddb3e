"""The tracker on three nodes that are real OS processes (TCP on 127.0.0.1), watched from a
node in the test process: presences replicate; kill -9 of a node takes its presences away
from the others after the down period; the node restarted under its name is a new replica."""

from __future__ import annotations

import functools

import anyio
import pytest
from meshkit import on, until_connected
from osnodes import launcher as _launcher
from presenceapp import OPTIONS
from trackerkit import LEDGER, TRACKER, Reporting, start_ledger

import beamish
from beamish import cluster
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),  # real processes: the real clock
    pytest.mark.timeout(90),
]

COOKIE = "presence-os-cookie"
HOST = "127.0.0.1"
N1, N2, N3, T = (f"{short}@{HOST}" for short in ("p1", "p2", "p3", "pt"))
WAIT = 15  # seconds for anything that should happen within a few periods
ROOM = "room:os"


launcher = functools.partial(_launcher, app="tests.presence.presenceapp:main", cookie=COOKIE)


async def until(node: str, expected: set, timeout: float = WAIT) -> None:
    """``node``'s ledger of ROOM reaches exactly ``expected``, with no double report."""
    seen, errors = await beamish.call(
        (LEDGER, node), ("until", ROOM, sorted(expected)), timeout=timeout
    )
    assert not errors, (node, errors)
    assert set(seen) == expected


async def test_kill_9_hides_a_nodes_presences_after_the_down_period_and_restart_is_new(tmp_path):
    """Each OS node tracks one presence; everyone sees all three. kill -9 of p3: after the
    down period its presence leaves everywhere, once. p3 restarted under its name tracks
    again: a new replica, seen by everyone, and the old presence never comes back."""
    async with launcher(tmp_path) as launch:
        n1 = await launch(N1)
        started = {N1: n1}
        for name in (N2, N3):
            started[name] = await launch(name, (n1.address,))
        async with beamish.runtime.start(name=T) as node:
            async with cluster.start(
                cookie=COOKIE,
                transport=TcpTransport(),
                listen=f"{HOST}:0",
                discovery=False,
                heartbeat=1.0,
            ) as the_cluster:
                assert await the_cluster.connect(n1.address) == N1
                await until_connected(the_cluster, [N1, N2, N3], timeout=WAIT)

                async def client():
                    await start_ledger()
                    await Reporting.start(name=TRACKER, **OPTIONS)
                    items = {}
                    for name in (N1, N2, N3):
                        items[name] = tuple(
                            await beamish.call(("pctl", name), ("track", ROOM, name), timeout=WAIT)
                        )
                    everyone = set(items.values())
                    for name in (N1, N2, N3, T):
                        await until(name, everyone)
                    start = anyio.current_time()
                    started[N3].kill9()
                    rest = everyone - {items[N3]}
                    for name in (N1, N2, T):
                        await until(name, rest, timeout=WAIT + OPTIONS["down_period"])
                    hidden_after = anyio.current_time() - start
                    restarted = await launch(N3, (n1.address,))
                    await the_cluster.connect(restarted.address)
                    again = tuple(
                        await beamish.call(("pctl", N3), ("track", ROOM, "again"), timeout=WAIT)
                    )
                    for name in (N1, N2, N3, T):
                        await until(name, rest | {again})
                    return hidden_after

                hidden_after = await on(node, client)
                assert hidden_after >= OPTIONS["down_period"] - 2 * OPTIONS["broadcast_period"]
