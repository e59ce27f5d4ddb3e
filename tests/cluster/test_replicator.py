"""The Replicator ships the replication core over the in-memory mesh (three nodes, virtual
time): writes reach every node, partitions heal, a silent node goes down, restarts replace."""

import pytest
from meshkit import nodes, on, until_connected

import beamish
from beamish import cluster
from beamish.cluster.transports import MemoryNetwork
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio

A, B, C = "a@test", "b@test", "c@test"
SCOPE = "test.table"
# short periods: on asyncio these tests run on the real clock (trio's is virtual)
PERIOD = 0.05
SILENT = 3  # an empty heartbeat at least every 0.15 s
DOWN = 1.0


class Table(beamish.Actor):
    """One replica of SCOPE; tells ``watcher`` of every diff from peers, as plain tuples."""

    def init(self, watcher, permdown=1200.0):
        self.watcher = watcher
        self.replica = cluster.Replicator(
            SCOPE,
            on_diff=self.changed,
            broadcast_period=PERIOD,
            max_silent_periods=SILENT,
            down_period=DOWN,
            permdown_period=permdown,
        )

    def changed(self, diff):
        me = beamish.this_node().name
        beamish.send(
            self.watcher,
            (
                "diff",
                me,
                sorted((e.owner.node, e.key, e.value) for e in diff.joins),
                sorted((e.owner.node, e.key, e.value) for e in diff.leaves),
            ),
        )

    def handle_call(self, request, caller):
        if request[0] == "put":
            return bool(self.replica.put(request[1], request[2]))
        if request[0] == "remove":
            return bool(self.replica.remove(request[1]))
        if request[0] == "visible":
            return sorted((e.owner.node, e.key, e.value) for e in self.replica.state.visible())
        raise ValueError(request)

    def handle_info(self, message):
        if not self.replica.handle_info(message):
            return super().handle_info(message)
        return None

    def terminate(self, reason):
        self.replica.close()


@pytest.fixture
def net():
    return MemoryNetwork()


async def start_table(watcher, *args):
    return await Table.start(watcher, *args, name=SCOPE)


async def connect_all(started):
    ca = started[A][1]
    await ca.connect("mem://" + B)
    await ca.connect("mem://" + C)
    for name, (_, the_cluster) in started.items():
        await until_connected(the_cluster, [n for n in started if n != name])


async def wait_diff(node, joins=(), leaves=(), timeout=10):
    """The diffs reported on ``node`` from now add up to exactly these joins and leaves
    (one diff may batch several changes)."""
    got_joins, got_leaves = [], []
    while len(got_joins) < len(joins) or len(got_leaves) < len(leaves):
        message = await assert_receive(lambda m: m[0] == "diff" and m[1] == node, timeout=timeout)
        got_joins += message[2]
        got_leaves += message[3]
    assert (sorted(got_joins), sorted(got_leaves)) == (sorted(joins), sorted(leaves))


async def test_writes_reach_every_node_once(net):
    """A put and a remove on each node are reported once on each other node."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)

        async def body():
            me = beamish.self()
            for name in (A, B, C):
                await on(started[name][0], start_table, me)
            for name in (A, B, C):
                assert await beamish.call((SCOPE, name), ("put", "k", name))
            for name in (A, B, C):
                others = [(n, "k", n) for n in (A, B, C) if n != name]
                await wait_diff(name, joins=others)
            expected = [(n, "k", n) for n in (A, B, C)]
            for name in (A, B, C):
                assert await beamish.call((SCOPE, name), ("visible",)) == expected
            assert await beamish.call((SCOPE, A), ("remove", "k"))
            await wait_diff(B, leaves=[(A, "k", A)])
            await wait_diff(C, leaves=[(A, "k", A)])
            await refute_receive(lambda m: m[0] == "diff", timeout=5 * PERIOD)

        await on(started[A][0], body)


@pytest.mark.parametrize("silent", [False, True])
async def test_partition_then_heal_converges_with_each_change_reported_once(net, silent):
    """Changes made on both sides of a partition (shorter than the down period) reach the
    other side after the heal, each reported once."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)

        async def body():
            me = beamish.self()
            for name in (A, B, C):
                await on(started[name][0], start_table, me)
            await beamish.call((SCOPE, C), ("put", "old", 1))
            await wait_diff(A, joins=[(C, "old", 1)])
            await wait_diff(B, joins=[(C, "old", 1)])
            net.partition_groups([A, B], [C], silent=silent)
            await beamish.call((SCOPE, A), ("put", "a", 1))
            await wait_diff(B, joins=[(A, "a", 1)])
            await on(started[C][0], _call_local, ("remove", "old"))
            await on(started[C][0], _call_local, ("put", "c", 2))
            net.heal()
            if not silent:
                await started[A][1].connect("mem://" + C)
                await started[B][1].connect("mem://" + C)
            await wait_diff(C, joins=[(A, "a", 1)])
            for name in (A, B):
                await wait_diff(name, joins=[(C, "c", 2)], leaves=[(C, "old", 1)])
            await refute_receive(lambda m: m[0] == "diff", timeout=5 * PERIOD)
            views = [await beamish.call((SCOPE, n), ("visible",)) for n in (A, B, C)]
            assert views[0] == views[1] == views[2] == [(A, "a", 1), (C, "c", 2)]

        await on(started[A][0], body)


async def _call_local(request):
    return await beamish.call(SCOPE, request)


async def test_a_silent_node_goes_down_after_the_down_period_and_returns(net):
    """A node cut off silently is hidden after the down period (leaves), and its entries
    come back (joins) when it is heard again."""
    async with nodes(net.transport, [A, B]) as started:
        await connect_all_two(started)

        async def body():
            me = beamish.self()
            for name in (A, B):
                await on(started[name][0], start_table, me)
            await beamish.call((SCOPE, B), ("put", "k", 1))
            await wait_diff(A, joins=[(B, "k", 1)])
            net.partition(A, B, silent=True)
            start = beamish.this_node().clock.now()
            await wait_diff(A, leaves=[(B, "k", 1)], timeout=DOWN * 10)
            assert beamish.this_node().clock.now() - start >= DOWN - PERIOD * SILENT
            net.heal()
            await wait_diff(A, joins=[(B, "k", 1)], timeout=DOWN * 10)

        await on(started[A][0], body)


async def connect_all_two(started):
    await started[A][1].connect("mem://" + B)
    for name, (_, the_cluster) in started.items():
        await until_connected(the_cluster, [n for n in started if n != name])


async def test_a_restarted_replica_replaces_the_old_one_at_once(net):
    """A replica restarted under the same name is a new replica: the old one's entries leave
    when the new one is first heard of, long before any down period."""
    async with nodes(net.transport, [A, B]) as started:
        await connect_all_two(started)

        async def body():
            me = beamish.self()
            for name in (A, B):
                await on(started[name][0], start_table, me)
            await beamish.call((SCOPE, B), ("put", "k", "first"))
            await wait_diff(A, joins=[(B, "k", "first")])
            await on(started[B][0], _restart_table, me)
            await beamish.call((SCOPE, B), ("put", "k", "second"))
            message = await assert_receive(lambda m: m[0] == "diff" and m[1] == A, timeout=DOWN / 2)
            if message[3]:  # the new replica's first heartbeat came before its put crossed
                assert message[3] == [(B, "k", "first")]
                assert message[2] in ([], [(B, "k", "second")])
                if not message[2]:
                    await wait_diff(A, joins=[(B, "k", "second")])
            else:
                pytest.fail(f"the old replica's entry did not leave first: {message}")
            assert await beamish.call((SCOPE, A), ("visible",)) == [(B, "k", "second")]

        await on(started[A][0], body)


async def _restart_table(watcher):
    await beamish.stop(SCOPE)
    await start_table(watcher)
