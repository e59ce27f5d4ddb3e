"""Process groups across three nodes over the in-memory network."""

import anyio
import pytest
from meshkit import nodes, on, until_connected

import beamish
from beamish import Pid, cluster
from beamish.cluster import GroupChange
from beamish.cluster._pg import GroupTable
from beamish.cluster.transports import MemoryNetwork
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio

A, B, C = "a@test", "b@test", "c@test"
G = ("room", 1)


@pytest.fixture
def net():
    return MemoryNetwork()


async def idle():
    """A member that lives until it is told to stop."""
    await beamish.receive(lambda m: m == "stop")


async def settle(*names):
    """From the calling node, a round trip to the pg server of each connected peer (or of
    ``names``): whatever this node's pg sent them before has been handled on return."""
    for name in names or cluster.nodes():
        assert await beamish.call(("beamish.pg", name), ("ping", 1)) == 1


async def members_of(group):
    """members(group) as seen from the node this runs on."""
    return cluster.members(group)


async def join_members(group, count=1):
    """Spawn ``count`` idle local processes, join them to ``group`` and replicate."""
    pids = [beamish.spawn(idle) for _ in range(count)]
    await cluster.join(group, pids)
    await settle()
    return pids


async def connect_all(started):
    ca = started[A][1]
    await ca.connect("mem://" + B)
    await ca.connect("mem://" + C)
    for name, (_, the_cluster) in started.items():
        await until_connected(the_cluster, [n for n in started if n != name])


def test_table_counts_joins_and_drops_a_node():
    """The pure table counts repeated joins and drops everything a node owns."""
    table = GroupTable()
    a1, b1 = Pid(A, 1, 0), Pid(B, 1, 0)
    assert table.join("g", [a1, a1, b1]) == [a1, a1, b1]
    assert table.members("g") == [a1, a1, b1]
    assert table.member_nodes("g") == [A, B]
    assert table.leave("g", [a1]) == [a1]
    assert table.node_members("g", A) == [a1]
    assert table.remove_node(A) == {"g": [a1]}
    assert table.members("g") == [b1]
    assert table.snapshot(B) == {"g": [b1]}
    assert table.remove_pid(b1) == {"g": [b1]}
    assert (table.groups, table.pids, table.nodes) == ({}, {}, {})


async def test_join_leave_members_across_three_nodes(net):
    """Joins on every node show up in members() everywhere; leave takes them out."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        (a, _), (b, _), (c, _) = started[A], started[B], started[C]
        on_a = await on(a, join_members, G, 2)
        on_b = await on(b, join_members, G)
        on_c = await on(c, join_members, G)
        everyone = sorted(on_a + on_b + on_c)

        async def view():
            return sorted(cluster.members(G)), cluster.local_members(G), cluster.which_groups()

        for node, local in ((a, on_a), (b, on_b), (c, on_c)):
            members, mine, groups = await on(node, view)
            assert members == everyone
            assert mine == local
            assert groups == [G]

        async def leave_one():
            assert await cluster.leave(G, on_a[0])
            assert not await cluster.leave("elsewhere", on_a[0])
            await settle()

        await on(a, leave_one)
        for node in (a, b, c):
            members, _, _ = await on(node, view)
            assert members == sorted([*on_a[1:], *on_b, *on_c])


async def test_repeated_join_is_counted(net):
    """A pid that joins twice is listed twice everywhere and must leave twice."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        (a, _), (b, _) = started[A], started[B]

        async def twice():
            pid = beamish.spawn(idle)
            await cluster.join(G, [pid, pid])
            await settle()
            return pid

        pid = await on(a, twice)
        assert await on(b, members_of, G) == [pid, pid]

        async def once_out():
            await cluster.leave(G, pid)
            await settle()

        await on(a, once_out)
        assert await on(b, members_of, G) == [pid]


async def test_a_member_that_exits_leaves_everywhere(net):
    """A member's exit removes it from its groups on every node (GroupChange says so)."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        (a, _), (b, _), (c, _) = started[A], started[B], started[C]
        [pid] = await on(b, join_members, G)
        await on(b, join_members, "other")

        async def watch_exit():
            await cluster.monitor_group(G)
            beamish.send(pid, "stop")
            change = await assert_receive(GroupChange)
            return change, cluster.members(G)

        for node in (a, c):
            assert await on(node, members_of, G) == [pid]
        change, after = await on(a, watch_exit)
        assert change == GroupChange(G, [], [pid])
        assert after == []

        async def gone_on_c():
            await settle(B)  # B's pg told C of the exit before it answers C's ping
            return cluster.members(G), len(cluster.members("other"))

        assert await on(c, gone_on_c) == ([], 1)


async def test_a_node_that_goes_down_takes_its_members(net):
    """When C is cut off, A and B drop C's members and keep their own."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        (a, _), (b, _), (c, _) = started[A], started[B], started[C]
        on_a = await on(a, join_members, G)
        on_c = await on(c, join_members, G, 2)

        async def cut_off_c():
            await cluster.monitor_group(G)
            net.partition(A, C)
            net.partition(B, C)
            change = await assert_receive(GroupChange, timeout=60)
            return change, cluster.members(G)

        change, left = await on(a, cut_off_c)
        assert sorted(change.left) == sorted(on_c)
        assert left == on_a

        async def wait_on_b():
            await cluster.monitor_group(G)
            if len(cluster.members(G)) > 1:
                await assert_receive(GroupChange, timeout=60)
            return cluster.members(G)

        assert await on(b, wait_on_b) == on_a
        assert sorted(await on(c, members_of, G)) == sorted(on_c)


async def test_a_node_that_connects_gets_the_existing_members(net):
    """A node that joins the mesh later receives the memberships already there."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        on_b = await on(b, join_members, G)  # nobody to replicate to yet (settle skips)

        async def connect_and_watch():
            ref = await cluster.monitor_group(G)
            await cluster.connect(B)
            change = await assert_receive(GroupChange)
            await cluster.demonitor_group(ref)
            return change

        ca.addresses[B] = "mem://" + B
        change = await on(a, connect_and_watch)
        assert change == GroupChange(G, on_b, [])


async def test_monitor_group_events(net):
    """A watcher on A sees joins and leaves made on B until it demonitors."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        (a, _), (b, _) = started[A], started[B]

        async def watch():
            ref = await cluster.monitor_group(G)
            [pid] = await on(b, join_members, G)
            joined = await assert_receive(GroupChange)
            await on(b, _leave_from_b, pid)
            left = await assert_receive(GroupChange)
            assert await cluster.demonitor_group(ref)
            assert not await cluster.demonitor_group(ref)
            await on(b, join_members, G)  # no event now: the next message is ours
            beamish.send(beamish.self(), "after")
            return pid, joined, left, await beamish.receive()

        pid, joined, left, after = await on(a, watch)
        assert joined == GroupChange(G, [pid], [])
        assert left == GroupChange(G, [], [pid])
        assert after == "after"


async def _leave_from_b(pid):
    await cluster.leave(G, pid)
    await settle()


async def test_only_local_pids_join(net):
    """join() refuses a pid of another node."""
    async with nodes(net.transport, [A]) as started:
        a, _ = started[A]

        async def remote_join():
            with pytest.raises(ValueError, match="only local processes"):
                await cluster.join(G, Pid(B, 1, 0))

        await on(a, remote_join)


async def test_groups_work_without_distribution():
    """On a node that is not distributed, pg starts on first use and stays local."""

    async def main():
        pid = beamish.spawn(idle)
        await cluster.join(G, pid)
        members = cluster.members(G)
        ref = await cluster.monitor_group(G)
        beamish.send(pid, "stop")
        change = await assert_receive(GroupChange)
        await cluster.demonitor_group(ref)
        return members == [pid], change == GroupChange(G, [], [pid]), cluster.members(G)

    async with beamish.runtime.start() as node:
        assert await on(node, main) == (True, True, [])


async def test_cluster_start_reuses_a_local_pg_server(net):
    """Groups joined before distribution starts are kept and replicate once it runs; when
    distribution stops, the peers' members are dropped and the local ones stay."""
    async with beamish.runtime.start(name=A) as a:
        [pid] = await on(a, join_members_local)
        async with _start_cluster(net, A) as ca:
            async with beamish.runtime.start(name=B) as b, _start_cluster(net, B):
                [on_b] = await on(b, join_members_local)
                await ca.connect("mem://" + B)
                both = sorted([pid, on_b])
                assert await on(a, until_members, G, both) == both
                assert await on(b, until_members, G, both) == both
        assert await on(a, members_of, G) == [pid]


async def until_members(group, expected, timeout=5):
    """Wait (on GroupChange, no polling) until members(group) is ``expected``, sorted."""
    ref = await cluster.monitor_group(group)
    with anyio.fail_after(timeout):
        while sorted(cluster.members(group)) != expected:
            await beamish.receive(lambda m: isinstance(m, GroupChange))
    await cluster.demonitor_group(ref)
    return sorted(cluster.members(group))


async def join_members_local():
    pid = beamish.spawn(idle)
    await cluster.join(G, pid)
    return [pid]


def _start_cluster(net, name):
    return cluster.start(
        cookie="c", transport=net.transport(name), listen="mem://" + name, discovery=False
    )


async def test_a_malformed_peer_message_does_not_crash_pg(net):
    """A garbled pg message from a peer is dropped and logged; the server lives on."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        await ca.connect("mem://" + B)

        async def garble():
            beamish.send(("beamish.pg", B), ("pg_join", A, "g"))  # one field short
            beamish.send(("beamish.pg", B), ("pg_sync", A, ["not", "a", "dict"], False))
            await settle(B)  # B's pg answers after both: it survived them

        await on(a, garble)
        assert await on(a, members_of, "g") == []
        assert await on(b, members_of, "g") == []
        [pid] = await on(a, join_members, "g")
        assert await on(b, members_of, "g") == [pid]
