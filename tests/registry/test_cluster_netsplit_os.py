"""A cluster-scoped registry across a partition between three real OS-process nodes (TCP
on 127.0.0.x, cut silently by ``netsplit``'s relays): both sides register one unique key;
after the heal every node shows the same winner, by the deterministic rule, and the loser
is told exactly once."""

from __future__ import annotations

import functools

import pytest
from meshkit import on
from netsplit import HEARTBEATS, LOOPBACK_ALIASES, three_relayed_nodes
from oskit import COOKIE, WAIT, launcher
from regnode import REPLICATION

import beamish
from beamish.cluster._registry_scope import NAME_CONFLICT, senior

pytestmark = [
    pytest.mark.skipif(not LOOPBACK_ALIASES, reason="needs 127.0.0.2 and up"),
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),
    pytest.mark.timeout(90),
]

QUIET = 10 * REPLICATION["broadcast_period"]  # no second exit within this many heartbeats


def three_nodes(tmp_path, heartbeat):
    """r1, r2, r3 behind netsplit's relays, and a hidden node here connected to each."""
    return three_relayed_nodes(
        functools.partial(launcher, tmp_path), ("r1", "r2", "r3"), heartbeat, COOKIE, timeout=WAIT
    )


async def ctl(name, *request, timeout=WAIT):
    return await beamish.call(("ctl", name), request, timeout=timeout)


async def exits(holder):
    """The exit reasons ``holder`` received, after a quiet window."""
    found = await beamish.call(holder, ("exits", QUIET), timeout=WAIT)
    return [tuple(reason) for reason in found]


@HEARTBEATS
async def test_a_key_registered_on_both_sides_has_one_winner_after_the_heal(tmp_path, heartbeat):
    """Cut {r1, r2} | {r3}. r3 registers "room" first (its third claim: Lamport stamp 3),
    then r1 (its first: stamp 1); each side sees its own holder. After the heal r1's claim
    wins everywhere (the smaller (stamp, pid), not the first in time), and r3's holder gets
    one ("name_conflict", "room", winner) exit."""
    async with three_nodes(tmp_path, heartbeat) as (net, (n1, n2, n3), node):

        async def client():
            net.cut(["r1", "r2"], ["r3"])
            pads = {pad: await ctl(n3, "hold", pad) for pad in ("pad-1", "pad-2")}
            late = await ctl(n3, "hold", "room")
            early = await ctl(n1, "hold", "room")
            for name in (n1, n2):
                assert await ctl(name, "until", "room", [early]) == [early]
            assert await ctl(n3, "until", "room", [late]) == [late]
            net.heal()
            for name in (n1, n2, n3):
                assert await ctl(name, "until", "room", [early], timeout=2 * WAIT) == [early]
                # the pads crossed too: the heal left nothing behind
                for pad, holder in pads.items():
                    assert await ctl(name, "until", pad, [holder]) == [holder]
            return early, late, await exits(late), await exits(early)

        early, late, late_exits, early_exits = await on(node, client)

    assert senior((1, early), (3, late)) == (1, early)
    assert late_exits == [(NAME_CONFLICT, "room", early)]
    assert early_exits == []


@HEARTBEATS
async def test_the_older_claim_keeps_a_key_the_other_side_took_after_the_down_period(
    tmp_path, heartbeat
):
    """r3 holds "room", seen everywhere. Cut {r1, r2} | {r3}: after the down period r1 and
    r2 no longer see it, and r1 registers "room" (a later stamp: r1's clock heard r3's
    claim). After the heal r3's older claim wins everywhere and r1's holder gets one
    ("name_conflict", "room", winner) exit."""
    async with three_nodes(tmp_path, heartbeat) as (net, (n1, n2, n3), node):

        async def client():
            older = await ctl(n3, "hold", "room")
            for name in (n1, n2, n3):
                assert await ctl(name, "until", "room", [older]) == [older]
            net.cut(["r1", "r2"], ["r3"])
            down = WAIT + REPLICATION["down_period"]
            for name in (n1, n2):
                assert await ctl(name, "until", "room", [], timeout=down) == []
            newer = await ctl(n1, "hold", "room")
            assert await ctl(n2, "until", "room", [newer]) == [newer]
            net.heal()
            for name in (n1, n2, n3):
                assert await ctl(name, "until", "room", [older], timeout=2 * WAIT) == [older]
            return older, newer, await exits(older), await exits(newer)

        older, newer, older_exits, newer_exits = await on(node, client)

    assert (older.node, newer.node) == (n3, n1)
    assert newer_exits == [(NAME_CONFLICT, "room", older)]
    assert older_exits == []
