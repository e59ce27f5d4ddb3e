"""The tracker across a partition between three real OS-process nodes (TCP on 127.0.0.x,
cut silently by ``netsplit``'s relays): after the down period each side hides the other's
presences; after the heal all three list one converged view, and every node reported each
join and leave exactly once to ``handle_diff``."""

from __future__ import annotations

import functools

import anyio
import pytest
from meshkit import on
from netsplit import HEARTBEATS, LOOPBACK_ALIASES, three_relayed_nodes
from osnodes import launcher as _launcher
from presenceapp import OPTIONS
from trackerkit import LEDGER

import beamish

pytestmark = [
    pytest.mark.skipif(not LOOPBACK_ALIASES, reason="needs 127.0.0.2 and up"),
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


def three_nodes(tmp_path, heartbeat, env=None):
    """p1, p2, p3 behind netsplit's relays, and a hidden node here connected to each."""
    return three_relayed_nodes(
        functools.partial(launcher, tmp_path), ("p1", "p2", "p3"), heartbeat, COOKIE, env, WAIT
    )


async def _pctl(name, *request, timeout=WAIT):
    return await beamish.call(("pctl", name), request, timeout=timeout)


async def _track(name, key):
    return tuple(await _pctl(name, "track", ROOM, key))


async def _counts(names):
    """Each node's (joins, leaves) per presence, after a quiet window on all of them."""
    async with anyio.create_task_group() as quiet:  # the windows overlap
        for name in names:
            quiet.start_soon(_quiet, name)
    counts = {}
    for name in names:
        found = await _ledger(name, "counts", ROOM)
        counts[name] = {tuple(item): tuple(jl) for item, jl in found}
    return counts


@HEARTBEATS
async def test_partition_hides_the_other_side_and_the_heal_converges_with_exact_diffs(
    tmp_path, heartbeat
):
    """p1, p2, p3 each track one presence; cut {p1, p2} | {p3}. After the down period p1
    and p2 list only theirs and p3 only its own; after the heal all three list all three.
    Each node's handle_diff reported, per presence: its own and its side's one join; the
    other side's a join, a leave at the down period and a join at the heal."""
    async with three_nodes(tmp_path, heartbeat) as (net, (n1, n2, n3), node):

        async def client():
            items = {name: await _track(name, name) for name in (n1, n2, n3)}
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
            return items, await _counts((n1, n2, n3))

        items, counts = await on(node, client)

    once, returned = (1, 0), (2, 1)  # (joins, leaves)
    side = {n1: (n1, n2), n2: (n1, n2), n3: (n3,)}
    for name in (n1, n2, n3):
        expected = {items[o]: once if o in side[name] else returned for o in (n1, n2, n3)}
        assert counts[name] == expected, name


@HEARTBEATS
async def test_changes_on_both_sides_of_a_cut_shorter_than_the_down_period_arrive_once(
    tmp_path, heartbeat
):
    """Down period 60 s; cut {p1, p2} | {p3} (with heartbeat 0.5 s, until the cluster
    dropped the connections). Meanwhile p3's presence ends and p3 tracks another, and p1
    tracks a second one: each side sees its own changes and still lists the other side's
    presences as they were. After the heal all three list the same, and each change was
    reported once on every node: nothing left and came back."""
    env = {"PRESENCEAPP_DOWN_PERIOD": "60"}
    async with three_nodes(tmp_path, heartbeat, env) as (net, (n1, n2, n3), node):

        async def client():
            i1, i2, i3 = [await _track(name, name) for name in (n1, n2, n3)]
            for name in (n1, n2, n3):
                await _until(name, {i1, i2, i3})
            net.cut(["p1", "p2"], ["p3"])
            if heartbeat == "0.5":
                for name, apart in ((n1, [n3]), (n2, [n3]), (n3, [n1, n2])):
                    await _pctl(name, "apart", apart)
            await _pctl(n3, "stop", n3)
            i3b = await _track(n3, "p3-again")
            i1b = await _track(n1, "p1-again")
            for name in (n1, n2):
                await _until(name, {i1, i2, i3, i1b})
            await _until(n3, {i1, i2, i3b})
            net.heal()
            for name in (n1, n2, n3):
                await _until(name, {i1, i2, i1b, i3b})
            return (i1, i2, i3, i1b, i3b), await _counts((n1, n2, n3))

        (i1, i2, i3, i1b, i3b), counts = await on(node, client)

    expected = {i1: (1, 0), i2: (1, 0), i3: (1, 1), i1b: (1, 0), i3b: (1, 0)}
    for name in (n1, n2, n3):
        assert counts[name] == expected, name
