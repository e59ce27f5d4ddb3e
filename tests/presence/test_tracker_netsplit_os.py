"""The tracker across a partition between three real OS-process nodes (TCP on 127.0.0.x,
cut silently by ``netsplit``'s relays): after the down period each side hides the other's
presences; after the heal all three list one converged view, and every node reported each
join and leave exactly once to ``handle_diff``."""

from __future__ import annotations

import functools

import anyio
import pytest
from meshkit import on, until_connected
from netsplit import netsplit
from osnodes import launcher as _launcher
from presenceapp import OPTIONS
from trackerkit import LEDGER

import beamish
from beamish import cluster
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),  # real processes: the real clock
    pytest.mark.timeout(90),
]

COOKIE = "presence-netsplit-cookie"
HOST = "127.0.0.1"
WAIT = 15  # seconds for anything that should happen within a few periods
ROOM = "room:netsplit"
QUIET = 10 * OPTIONS["broadcast_period"]  # no late diff within this many heartbeats

launcher = functools.partial(_launcher, app="tests.presence.presenceapp:main", cookie=COOKIE)


async def _ledger(name, *request, timeout=WAIT):
    return await beamish.call((LEDGER, name), request, timeout=timeout)


async def _until(name, expected, timeout=WAIT):
    """``name``'s ledger of ROOM reaches exactly ``expected``, with no double report, and
    its list says the same."""
    seen, errors = await _ledger(name, "until", ROOM, sorted(expected), timeout=timeout)
    assert not errors, (name, errors)
    assert {tuple(item) for item in seen} == expected, name
    listed = await beamish.call(("pctl", name), ("list", ROOM), timeout=WAIT)
    assert {tuple(item) for item in listed} == expected, name


async def _quiet(name):
    """``name`` reports no diff for QUIET seconds."""
    assert await _ledger(name, "quiet", QUIET) == 0, name


@pytest.mark.parametrize(
    "heartbeat",
    [
        pytest.param("0.5", id="connections-drop"),  # the cluster notices within 2 s
        pytest.param("15", id="connections-outlive-the-cut"),  # held bytes arrive on heal
    ],
)
async def test_partition_hides_the_other_side_and_the_heal_converges_with_exact_diffs(
    tmp_path, heartbeat
):
    """p1, p2, p3 each track one presence; cut {p1, p2} | {p3}. After the down period p1
    and p2 list only theirs and p3 only its own; after the heal all three list all three.
    Each node's handle_diff reported, per presence: its own and its side's one join; the
    other side's a join, a leave at the down period and a join at the heal."""
    options = ("--no-discovery", "--heartbeat", heartbeat)
    async with netsplit() as net, launcher(tmp_path) as launch:
        await net.launch(launch, "p1", options=options)
        for short in ("p2", "p3"):
            await net.launch(launch, short, [net["p1"].relay], options=options)
        n1, n2, n3 = (net[short].name for short in ("p1", "p2", "p3"))
        async with (
            beamish.runtime.start(name=f"pt@{HOST}") as node,
            cluster.start(
                cookie=COOKIE, transport=TcpTransport(), listen=f"{HOST}:0", discovery=False
            ) as the_cluster,
        ):
            for short in ("p1", "p2", "p3"):
                await the_cluster.connect(net[short].relay)
            await until_connected(the_cluster, [n1, n2, n3], timeout=WAIT)

            async def client():
                items = {}
                for name in (n1, n2, n3):
                    item = await beamish.call(("pctl", name), ("track", ROOM, name), timeout=WAIT)
                    items[name] = tuple(item)
                everyone = set(items.values())
                for name in (n1, n2, n3):
                    await _until(name, everyone)
                net.cut(["p1", "p2"], ["p3"])
                down = WAIT + OPTIONS["down_period"]
                ab = {items[n1], items[n2]}
                for name in (n1, n2):
                    await _until(name, ab, timeout=down)
                await _until(n3, {items[n3]}, timeout=down)
                net.heal()
                for name in (n1, n2, n3):
                    await _until(name, everyone)
                async with anyio.create_task_group() as quiet:  # the windows overlap
                    for name in (n1, n2, n3):
                        quiet.start_soon(_quiet, name)
                counts = {}
                for name in (n1, n2, n3):
                    found = await _ledger(name, "counts", ROOM)
                    counts[name] = {tuple(item): tuple(jl) for item, jl in found}
                return items, counts

            items, counts = await on(node, client)

    once, returned = (1, 0), (2, 1)  # (joins, leaves)
    side = {n1: (n1, n2), n2: (n1, n2), n3: (n3,)}
    for name in (n1, n2, n3):
        expected = {items[o]: once if o in side[name] else returned for o in (n1, n2, n3)}
        assert counts[name] == expected, name
