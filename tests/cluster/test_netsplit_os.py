"""A partition between real OS-process nodes over TCP on 127.0.0.x, and its heal: the
cluster's heartbeats notice a silent cut, the two sides stay whole, and the full mesh
re-forms after the heal. The cut is made by ``netsplit``'s relays (see netsplit.py)."""

from __future__ import annotations

import pytest
from meshkit import on, until_connected
from netsplit import LOOPBACK_ALIASES, netsplit
from osnodes import COOKIE, HOST, WAIT, launcher

import beamish
from beamish import cluster
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.skipif(not LOOPBACK_ALIASES, reason="needs 127.0.0.2 and up"),
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),  # real processes: the real clock
    pytest.mark.timeout(90),
]

HEARTBEAT = "0.5"  # a silent peer is down after 4 ticks: 2 s
OPTIONS = ("--no-discovery", "--heartbeat", HEARTBEAT)


async def test_a_silent_cut_is_noticed_by_heartbeats_and_the_mesh_reforms_after_the_heal(
    tmp_path,
):
    """a, b, c (no seeds: the node here introduces them, then turns hidden) each know the
    others only by their relays (no direct address leaks through gossip). Cut {a, b} | {c}:
    each side drops the other after the heartbeat timeout while the relayed sockets stay
    open (a silent cut); a and b stay connected. Heal: with no seed to redial and nobody
    naming c to a or b, the full mesh re-forms by the periodic redial of lost peers, and
    each node saw exactly the downs of the cut."""
    async with netsplit() as net, launcher(tmp_path) as launch:
        for short in ("a", "b", "c"):
            await net.launch(launch, short, options=OPTIONS)
        a, b, c = (net[short].name for short in "abc")
        relays = {net[short].name: net[short].relay for short in "abc"}
        async with (
            beamish.runtime.start(name=f"t@{HOST}") as node,
            cluster.start(
                cookie=COOKIE, transport=TcpTransport(), listen=f"{HOST}:0", discovery=False
            ) as the_cluster,
        ):
            for relay in relays.values():
                await the_cluster.connect(relay)
            await until_connected(the_cluster, [a, b, c], timeout=WAIT)

            async def ask(name, *request, timeout=WAIT):
                return await beamish.call(("ctl", name), request, timeout=timeout)

            async def client():
                for name in (a, b, c):
                    await ask(name, "nodes", sorted({a, b, c} - {name}))
                # from now on hidden (Erlang's -hidden): it names no node to another, so the
                # nodes must find each other again after the heal by themselves
                the_cluster.hidden = True
                known = {name: await ask(name, "addresses") for name in (a, b, c)}
                relayed = net.relayed()
                net.cut(["a", "b"], ["c"])
                for name, apart in ((a, [c]), (b, [c]), (c, [a, b])):
                    await ask(name, "apart", apart, timeout=WAIT + 4 * float(HEARTBEAT))
                still_open = net.relayed()
                net.heal()
                for name in (a, b, c):
                    await ask(name, "nodes", sorted({a, b, c} - {name}), timeout=2 * WAIT)
                events = {name: await ask(name, "events", 0) for name in (a, b, c)}
                return known, relayed, still_open, events

            known, relayed, still_open, events = await on(node, client)

    pairs = {frozenset(pair) for pair in (("a", "b"), ("a", "c"), ("b", "c"))}
    assert relayed == pairs  # every connection between the nodes crossed a relay
    for name, addresses in known.items():
        peers = {peer: address for peer, address in addresses.items() if peer in relays}
        assert peers == {peer: relays[peer] for peer in relays if peer != name}
    assert {frozenset(("a", "c")), frozenset(("b", "c"))} <= still_open  # silent
    downs = {
        name: sorted(e[1] for e in found if e[0] == "nodedown") for name, found in events.items()
    }
    assert downs == {a: [c], b: [c], c: [a, b]}
