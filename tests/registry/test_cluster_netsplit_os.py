"""A cluster-scoped registry across a partition between three real OS-process nodes (TCP
on 127.0.0.x, cut silently by ``netsplit``'s relays): both sides register one unique key;
after the heal every node shows the same winner, by the deterministic rule, and the loser
is told exactly once."""

from __future__ import annotations

import pytest
from meshkit import on, until_connected
from netsplit import netsplit
from oskit import COOKIE, HOST, WAIT, launcher
from regnode import REPLICATION

import beamish
from beamish import cluster
from beamish.cluster._registry_scope import NAME_CONFLICT, senior
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),
    pytest.mark.timeout(90),
]

OPTIONS = ("--no-discovery", "--heartbeat", "0.5")
QUIET = 10 * REPLICATION["broadcast_period"]  # no second exit within this many heartbeats


async def test_a_key_registered_on_both_sides_has_one_winner_after_the_heal(tmp_path):
    """Cut {r1, r2} | {r3}. r3 registers "room" first (its third claim: Lamport stamp 3),
    then r1 (its first: stamp 1); each side sees its own holder. After the heal r1's claim
    wins everywhere (the smaller (stamp, pid), not the first in time), and r3's holder gets
    one ("name_conflict", "room", winner) exit."""
    async with netsplit() as net, launcher(tmp_path) as launch:
        await net.launch(launch, "r1", options=OPTIONS)
        for short in ("r2", "r3"):
            await net.launch(launch, short, [net["r1"].relay], options=OPTIONS)
        n1, n2, n3 = (net[short].name for short in ("r1", "r2", "r3"))
        async with (
            beamish.runtime.start(name=f"rt@{HOST}") as node,
            cluster.start(
                cookie=COOKIE, transport=TcpTransport(), listen=f"{HOST}:0", discovery=False
            ) as the_cluster,
        ):
            for short in ("r1", "r2", "r3"):
                await the_cluster.connect(net[short].relay)
            await until_connected(the_cluster, [n1, n2, n3], timeout=WAIT)

            async def ctl(name, *request, timeout=WAIT):
                return await beamish.call(("ctl", name), request, timeout=timeout)

            async def client():
                net.cut(["r1", "r2"], ["r3"])
                down = WAIT + REPLICATION["down_period"]
                pads = {pad: await ctl(n3, "hold", pad) for pad in ("pad-1", "pad-2")}
                late = await ctl(n3, "hold", "room")
                early = await ctl(n1, "hold", "room")
                for name in (n1, n2):
                    assert await ctl(name, "until", "room", [early], timeout=down) == [early]
                assert await ctl(n3, "until", "room", [late]) == [late]
                net.heal()
                for name in (n1, n2, n3):
                    assert await ctl(name, "until", "room", [early], timeout=2 * WAIT) == [early]
                    # the pads crossed too: the heal left nothing behind
                    for pad, holder in pads.items():
                        assert await ctl(name, "until", pad, [holder]) == [holder]
                late_exits = await beamish.call(late, ("exits", QUIET), timeout=WAIT)
                early_exits = await beamish.call(early, ("exits", QUIET), timeout=WAIT)
                return early, late, late_exits, early_exits

            early, late, late_exits, early_exits = await on(node, client)

    assert senior((1, early), (3, late)) == (1, early)
    assert [tuple(reason) for reason in late_exits] == [(NAME_CONFLICT, "room", early)]
    assert early_exits == []
