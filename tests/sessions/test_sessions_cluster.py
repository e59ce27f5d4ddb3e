"""Sessions across three nodes over the in-memory network: started on A, found and
called from B and C; hash placement; a node's death; a partition's conflict."""

import inspect

import anyio
import pytest
from meshkit import Recorder, nodes, on, until_connected
from sessionkit import Counter

import beamish
from beamish import sessions
from beamish.cluster.transports import MemoryNetwork
from beamish.registry import Registry
from beamish.sessions import SessionChanged
from beamish.testing import assert_receive

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        "replication" not in inspect.signature(Registry.child_spec).parameters,
        reason="needs the registry's cluster scope (registry branch, not merged yet)",
    ),
]

A, B, C = "a@test", "b@test", "c@test"
NAMES = (A, B, C)


@pytest.fixture
def net():
    return MemoryNetwork()


async def connect_all(started):
    ca = started[A][1]
    await ca.connect("mem://" + B)
    await ca.connect("mem://" + C)
    for name, (_, the_cluster) in started.items():
        await until_connected(the_cluster, [n for n in started if n != name])


async def with_sessions(started, **options):
    """A Sessions on every node (the same options), not linked to anything; a silent
    node's sessions leave the others' view after 2 s."""
    options.setdefault("rate_limit", None)
    options.setdefault("replication", {"down_period": 2.0})

    async def start_tree():
        await sessions.Sessions.start(**options)

    for name in started:
        await on(started[name][0], start_tree)


async def until_found(session_id, present=True, timeout=10):
    """Wait until this node's view of the registry has (or has lost) ``session_id``:
    replication is asynchronous. Bounded steps of 1 ms on the node clock (virtual on
    trio), ``timeout`` seconds in all."""
    for _ in range(int(timeout * 1000)):
        if (sessions.find(session_id) is not None) == present:
            return sessions.find(session_id)
        await beamish.sleep(0.001)
    raise AssertionError(f"{session_id!r} {'never appeared' if present else 'never left'}")


async def test_started_on_a_found_and_called_from_b_and_c(net):
    """A session started on A is found, called, cast to, touched, watched and stopped from
    B and C by its id."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)
        await with_sessions(started, session=Counter)
        pid = await on(started[A][0], sessions.start, "s1", Counter, {"value": 5})
        assert pid.node == A

        async def from_b():
            found = await until_found("s1")
            await sessions.cast("s1", "add_one")
            value = await sessions.call("s1", "get_value")
            await sessions.touch("s1")
            info = await sessions.info("s1")
            await sessions.watch("s1", "value")
            watched = await assert_receive(SessionChanged)
            return found, value, info["node"], watched, sessions.list()

        found, value, where, watched, listed = await on(started[B][0], from_b)
        assert (found, value, where) == (pid, 6, A)
        assert watched == SessionChanged("s1", "value", 6)
        assert listed == [("s1", pid)]

        async def from_c():
            await until_found("s1")
            assert await sessions.call("s1", "get_value") == 6
            await sessions.stop("s1")
            return await until_found("s1", present=False)  # C's view follows by replication

        assert await on(started[C][0], from_c) is None

        async def gone_on_b():
            return await until_found("s1", present=False)

        assert await on(started[B][0], gone_on_b) is None


async def test_an_id_runs_once_in_the_cluster(net):
    """With local placement, a second start of a running id on another node is refused
    (SessionAlreadyStarted with the first pid), once the first has replicated."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)
        await with_sessions(started)
        pid = await on(started[A][0], sessions.start, "only")

        async def again():
            await until_found("only")
            try:
                await sessions.start("only")
            except sessions.SessionAlreadyStarted as exc:
                return exc.pid, await sessions.start("only", exist_ok=True)

        assert await on(started[B][0], again) == (pid, pid)


async def test_hash_placement_puts_each_id_on_its_owner(net):
    """placement="hash": whichever node asks, an id starts on the node that owns it on the
    ring of live nodes; starts from two nodes meet there."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)
        await with_sessions(started, placement="hash")
        ring = sessions.HashRing(NAMES)
        ids = [f"user{i}" for i in range(40)]
        for i, session_id in enumerate(ids):
            asker = NAMES[i % 3]
            pid = await on(started[asker][0], sessions.start, session_id)
            assert pid.node == ring.owner(session_id)
        assert {ring.owner(i) for i in ids} == set(NAMES)  # the test covers every node

        async def start_again(session_id):
            return await sessions.start(session_id, exist_ok=True)

        for session_id in ids:
            first = await on(started[B][0], start_again, session_id)
            second = await on(started[C][0], start_again, session_id)
            assert first == second


async def test_concurrent_starts_of_one_id_meet_on_its_owner(net):
    """placement="hash": B and C start one id at the same time; both starts go to its
    owner, so one session runs and both get its pid (exist_ok)."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)
        await with_sessions(started, placement="hash")
        ring = sessions.HashRing(NAMES)
        ids = [i for i in (f"race{n}" for n in range(50)) if ring.owner(i) == A][:5]
        for session_id in ids:
            pids = {}

            async def start_it(session_id):
                return await sessions.start(session_id, exist_ok=True)

            async def racer(name, session_id=session_id, pids=pids):
                pids[name] = await on(started[name][0], start_it, session_id)

            async with anyio.create_task_group() as group:
                group.start_soon(racer, B)
                group.start_soon(racer, C)
            assert pids[B] == pids[C]
            assert pids[B].node == A


async def test_a_dead_nodes_sessions_vanish_and_start_again_elsewhere(net):
    """When A's distribution goes away, its sessions leave B's view, and their ids can
    start on B."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)
        await with_sessions(started)
        await on(started[A][0], sessions.start, "orphan")

        async def seen_on_b():
            return await until_found("orphan")

        assert (await on(started[B][0], seen_on_b)).node == A
        net.partition(A, B)
        net.partition(A, C)

        async def restart_on_b():
            await until_found("orphan", present=False, timeout=30)
            return await sessions.start("orphan")

        pid = await on(started[B][0], restart_on_b)
        assert pid.node == B


async def test_partition_conflict_loser_ends_with_conflict(net):
    """Both sides of a partition start one id; after the heal one session keeps it and
    the other stops with session_end reason "conflict"."""
    async with nodes(net.transport, [A, B]) as started:
        ca = started[A][1]
        await ca.connect("mem://" + B)
        await until_connected(ca, [B])
        await until_connected(started[B][1], [A])
        await with_sessions(started)
        net.partition(A, B)
        with Recorder(sessions.SESSION_END) as ends:
            pid_a = await on(started[A][0], sessions.start, "twin")
            pid_b = await on(started[B][0], sessions.start, "twin")
            net.heal()
            await ca.connect("mem://" + B)
            (end,) = await ends.wait_for(1, timeout=60)
        assert end["reason"] == "conflict"
        assert end["pid"] in (pid_a, pid_b)
        winner = pid_b if end["pid"] == pid_a else pid_a

        async def view():
            return await until_found("twin")

        assert await on(started[A][0], view) == winner
        assert await on(started[B][0], view) == winner
