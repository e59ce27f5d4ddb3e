"""The tracker on three nodes over the in-memory network: presences replicate, leave with
their process, hide after the down period, and converge after a partition heals, with
every join and leave reported exactly once per node."""

import pytest
from meshkit import nodes, on, until_connected
from trackerkit import TRACKER, Ledgers, Reporting, listed, start_ledger, track_new

import beamish
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B, C = "a@test", "b@test", "c@test"
ALL = (A, B, C)
ROOM = "room:1"
# short periods: on asyncio these tests run on the real clock (trio's is virtual)
PERIOD = 0.05
DOWN = 1.0
OPTIONS = {"broadcast_period": PERIOD, "max_silent_periods": 3, "down_period": DOWN}


@pytest.fixture
def net():
    return MemoryNetwork()


async def start_tracker():
    await start_ledger()
    await Reporting.start(name=TRACKER, **OPTIONS)


async def connect_all(started):
    ca = started[A][1]
    for name in ALL[1:]:
        await ca.connect("mem://" + name)
    for name, (_, the_cluster) in started.items():
        await until_connected(the_cluster, [n for n in started if n != name])


async def three(started, body):
    """Connect the nodes, start a tracker on each reporting to the test process (on A),
    and run ``body(node_of, ledgers)`` there."""
    await connect_all(started)

    async def main():
        for name in ALL:
            await on(started[name][0], start_tracker)
        node_of = lambda name: started[name][0]  # noqa: E731
        await body(node_of, Ledgers(node_of))

    await on(started[A][0], main)


async def test_presences_replicate_and_leave_with_their_process(net):
    """Two presences on each node are listed on every node; each join, and the leave of a
    process that exits, is reported once on every node."""
    async with nodes(net.transport, ALL) as started:

        async def body(node, ledgers):
            pids, everyone = {}, set()
            for name in ALL:
                for key in ("x", "y"):
                    pid, item = await on(node(name), track_new, ROOM, f"{key}-{name}")
                    pids[item] = pid
                    everyone.add(item)
            await ledgers.until({(n, ROOM): everyone for n in ALL})
            for name in ALL:
                assert await on(node(name), listed, ROOM) == everyone
            gone = next(item for item in pids if item[0] == f"x-{B}")
            beamish.exit(pids[gone], "kill")
            await ledgers.until({(n, ROOM): everyone - {gone} for n in ALL})
            await ledgers.quiet(ALL, 5 * PERIOD)
            for name in ALL:
                assert await on(node(name), listed, ROOM) == everyone - {gone}

        await three(started, body)


@pytest.mark.parametrize("long", [False, True], ids=["short", "past-down-period"])
async def test_partition_and_heal_converge_with_every_change_reported_once(net, long):
    """C is cut off; both sides change presences meanwhile. A partition past the down
    period also hides each side from the other. After the heal all three nodes list the same
    presences, and the diffs each node reported add up to exactly that."""
    async with nodes(net.transport, ALL) as started:

        async def body(node, ledgers):
            everyone = set()
            pids = {}
            for name in ALL:
                pid, item = await on(node(name), track_new, ROOM, f"k-{name}")
                everyone.add(item)
                pids[name] = pid
            await ledgers.until({(n, ROOM): everyone for n in ALL})
            net.partition_groups([A, B], [C], silent=True)
            _, on_a = await on(node(A), track_new, ROOM, "during-a")
            _, on_c = await on(node(C), track_new, ROOM, "during-c")
            await on(node(C), _send, pids[C], "stop")
            old_c = next(item for item in everyone if item[0] == f"k-{C}")
            side_ab = (everyone | {on_a}) - {old_c}
            if long:  # each side hides the other after the down period
                c_only = {on_c}
                ab_only = {item for item in everyone if item[0] != f"k-{C}"} | {on_a}
                await ledgers.until(
                    {(A, ROOM): ab_only, (B, ROOM): ab_only, (C, ROOM): c_only}, timeout=DOWN * 10
                )
            net.heal()
            final = side_ab | {on_c}
            await ledgers.until({(n, ROOM): final for n in ALL})
            await ledgers.quiet(ALL, 5 * PERIOD)
            for name in ALL:
                assert await on(node(name), listed, ROOM) == final

        await three(started, body)


async def test_a_restarted_tracker_is_a_new_replica(net):
    """A tracker restarted on B (its presences gone with it) is a new replica: the old
    one's presences leave on A and C at once, not after the down period."""
    async with nodes(net.transport, ALL) as started:

        async def body(node, ledgers):
            everyone = set()
            for name in ALL:
                _, item = await on(node(name), track_new, ROOM, f"k-{name}")
                everyone.add(item)
            await ledgers.until({(n, ROOM): everyone for n in ALL})
            await on(node(B), _restart)
            on_b = next(item for item in everyone if item[0] == f"k-{B}")
            rest = everyone - {on_b}
            await ledgers.until({(A, ROOM): rest, (C, ROOM): rest}, timeout=DOWN / 2)

        await three(started, body)


async def _restart():
    # the tracker's shard links its tracked processes: stopping it ends k-B's process too
    beamish.trap_exits(True)
    await beamish.stop(TRACKER)
    await Reporting.start(name=TRACKER, **OPTIONS)


async def _send(pid, message):
    beamish.send(pid, message)
