"""Cluster-wide (global) names across three nodes over the in-memory network."""

import anyio
import pytest
from meshkit import Echo, nodes, on, until_connected

import beamish
from beamish import Pid, cluster, telemetry
from beamish.cluster import GlobalNameConflict
from beamish.cluster._global import Entry, senior
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B, C = "a@test", "b@test", "c@test"


@pytest.fixture
def net():
    return MemoryNetwork()


class Holder(beamish.Actor):
    """Keeps the messages it gets; "next" answers with the oldest one (waiting for it)."""

    def init(self):
        self.inbox = []
        self.waiting = None

    def handle_call(self, request, caller):
        if request == "inbox":
            return list(self.inbox)
        if self.inbox:
            return self.inbox.pop(0)
        self.waiting = caller
        return beamish.NoReply()

    def handle_info(self, message):
        if self.waiting is not None:
            beamish.reply(self.waiting, message)
            self.waiting = None
        else:
            self.inbox.append(message)


async def holder(name=None, resolve=None):
    """Start a Holder on the calling node; register it globally as ``name`` if given."""
    pid = await Holder.start()
    if name is not None:
        await cluster.register_name(name, pid, resolve=resolve)
    return pid


async def connect_all(started):
    """Connect A to B and C, then wait until every node sees every other."""
    ca = started[A][1]
    await ca.connect("mem://" + B)
    await ca.connect("mem://" + C)
    for name, (_, the_cluster) in started.items():
        await until_connected(the_cluster, [n for n in started if n != name])


async def until_disconnected(the_cluster, peers, timeout=10):
    """Wait (on nodedown events, not polling) until ``the_cluster`` has lost ``peers``."""
    done = anyio.Event()

    def check(*_):
        if not set(peers) & set(the_cluster.nodes()):
            done.set()

    handler = f"test-global-down-{id(done)}"
    telemetry.attach(handler, cluster._mesh.NODE_DOWN, check)
    try:
        check()
        with anyio.fail_after(timeout):
            await done.wait()
    finally:
        telemetry.detach(handler)


async def settle(started, rounds=2):
    """Each node in turn runs sync_names: after a round, everything any server sent
    before it has been handled; a second round covers what those messages caused."""
    for _ in range(rounds):
        for node, _ in started.values():
            await on(node, cluster.sync_names)


async def views(started, name):
    """whereis_name(name) as each node sees it."""
    return {n: await on(node, _whereis, name) for n, (node, _) in started.items()}


async def _whereis(name):
    return cluster.whereis_name(name)


async def _registered():
    return sorted(cluster.registered_names(), key=repr)


def test_the_senior_entry_is_the_earlier_one_then_the_smaller_pid():
    """The default rule: the smaller Lamport stamp wins; a tie goes to the smaller pid."""
    a, b = Pid(A, 9, 1), Pid(B, 1, 1)
    assert senior(Entry(a, 2), Entry(b, 1)).pid == b
    assert senior(Entry(b, 1), Entry(a, 1)).pid == a
    assert senior(Entry(a, 1), Entry(Pid(A, 3, 1), 1)).pid == Pid(A, 3, 1)


async def test_register_on_one_node_is_seen_on_every_node(net):
    """A name registered on A resolves on B and C; send_name and registered_names work."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        a, b = started[A][0], started[B][0]
        pid = await on(a, holder, "leader")
        await settle(started, rounds=1)
        assert await views(started, "leader") == {A: pid, B: pid, C: pid}
        assert await on(b, _registered) == ["leader"]

        async def send_from_b():
            cluster.send_name("leader", "hello")
            with pytest.raises(beamish.NoProc):
                cluster.send_name("nobody", "hello")
            return await beamish.call(pid, "next")

        assert await on(b, send_from_b) == "hello"


async def test_a_taken_name_raises_name_taken(net):
    """Registering a name another node's process holds raises NameTaken; the same pid is ok."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        a, b = started[A][0], started[B][0]
        pid = await on(a, holder, "db")
        await settle(started, rounds=1)

        async def try_on_b():
            with pytest.raises(beamish.NameTaken):
                await holder("db")
            await cluster.register_name("db", pid)  # asks A, its owner: already so
            return cluster.whereis_name("db")

        assert await on(b, try_on_b) == pid


async def test_unregister_from_another_node_vanishes_everywhere(net):
    """unregister_name on C removes A's registration on every node."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        a, c = started[A][0], started[C][0]
        await on(a, holder, "leader")
        await settle(started, rounds=1)

        async def unregister_twice():
            return await cluster.unregister_name("leader"), await cluster.unregister_name("x")

        assert await on(c, unregister_twice) == (True, False)
        await settle(started)
        assert await views(started, "leader") == {A: None, B: None, C: None}


async def test_an_exiting_process_loses_its_name_everywhere(net):
    """When a registered process exits, its name disappears on every node."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        b = started[B][0]
        pid = await on(b, holder, "worker")
        await settle(started, rounds=1)
        assert (await views(started, "worker"))[A] == pid
        await on(b, beamish.stop, pid)
        await settle(started, rounds=1)
        assert await views(started, "worker") == {A: None, B: None, C: None}


async def test_a_late_node_gets_the_names_on_connect(net):
    """A node that connects after the registration receives it in the full sync."""
    async with nodes(net.transport, [A, B, C]) as started:
        (a, ca), (_, cb) = started[A], started[B]
        await ca.connect("mem://" + B)
        await until_connected(cb, [A])
        pid = await on(a, holder, "leader")
        await ca.connect("mem://" + C)
        await connect_all(started)
        await settle(started, rounds=1)
        assert await views(started, "leader") == {A: pid, B: pid, C: pid}


async def test_a_node_that_goes_down_takes_its_names_with_it(net):
    """Cut A from B and C: A's names vanish on B and C, and theirs on A."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        (a, ca), (b, cb), (_, cc) = started[A], started[B], started[C]
        on_a = await on(a, holder, "on-a")
        on_b = await on(b, holder, "on-b")
        await settle(started, rounds=1)
        net.partition_groups([A], [B, C])
        await until_disconnected(ca, [B, C])
        await until_disconnected(cb, [A])
        await until_disconnected(cc, [A])
        await settle(started, rounds=1)
        assert await views(started, "on-a") == {A: on_a, B: None, C: None}
        assert await views(started, "on-b") == {A: None, B: on_b, C: on_b}


async def _split_register_heal(net, started, resolve=None):
    """Partition {A} | {B, C}, register "leader" on A (with ``resolve``) and on B, heal,
    reconnect and settle; returns the two pids."""
    await connect_all(started)
    (a, ca), (b, cb), (_, cc) = started[A], started[B], started[C]
    net.partition_groups([A], [B, C])
    await until_disconnected(ca, [B, C])
    await until_disconnected(cb, [A])
    await until_disconnected(cc, [A])
    on_a = await on(a, holder, "leader", resolve)
    on_b = await on(b, holder, "leader")
    await settle(started, rounds=1)
    assert await views(started, "leader") == {A: on_a, B: on_b, C: on_b}
    net.heal()
    await connect_all(started)
    await settle(started)
    return on_a, on_b


async def test_netsplit_heal_has_one_winner_everywhere_and_the_loser_is_told(net):
    """Both sides of a split register "leader"; after the heal every node agrees on the
    senior entry (equal stamps: the smaller pid, A's), and only B's process is told."""
    async with nodes(net.transport, [A, B, C]) as started:
        events = []
        telemetry.attach(
            "test-global-conflict",
            cluster.GLOBAL_CONFLICT,
            lambda e, m, meta, _: events.append(meta),
        )
        try:
            on_a, on_b = await _split_register_heal(net, started)
        finally:
            telemetry.detach("test-global-conflict")
        assert await views(started, "leader") == {A: on_a, B: on_a, C: on_a}
        for node, _ in started.values():
            assert await on(node, _registered) == ["leader"]
        told = await on(started[B][0], beamish.call, on_b, "next")
        assert told == GlobalNameConflict("leader", on_a)
        assert await on(started[A][0], beamish.call, on_a, "inbox") == []
        assert [(e["node"], e["loser"], e["winner"]) for e in events] == [(B, on_b, on_a)]


async def test_a_resolve_callback_decides_once_for_every_node(net):
    """With resolve= on the senior registration, its node calls it once and every node
    follows its choice; the process it rejects is told."""
    calls = []

    def prefer_b(name, first, second):
        calls.append((name, first, second))
        return second if second.node == B else first

    async with nodes(net.transport, [A, B, C]) as started:
        on_a, on_b = await _split_register_heal(net, started, resolve=prefer_b)
        assert calls == [("leader", on_a, on_b)]
        assert await views(started, "leader") == {A: on_b, B: on_b, C: on_b}
        told = await on(started[A][0], beamish.call, on_a, "next")
        assert told == GlobalNameConflict("leader", on_b)
        assert await on(started[B][0], beamish.call, on_b, "inbox") == []


async def test_a_resolve_callback_may_drop_both(net):
    """A resolve that returns None leaves the name to nobody; both processes are told."""

    async with nodes(net.transport, [A, B, C]) as started:
        on_a, on_b = await _split_register_heal(net, started, resolve=lambda *_: None)
        assert await views(started, "leader") == {A: None, B: None, C: None}
        told_a = await on(started[A][0], beamish.call, on_a, "next")
        told_b = await on(started[B][0], beamish.call, on_b, "next")
        assert told_a == told_b == GlobalNameConflict("leader", None)


async def test_via_global_names_with_call_send_and_the_resolver(net):
    """via(global_names(), name) works with call and send; the resolver registers too."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        b, c = started[B][0], started[C][0]

        async def start_echo():
            pid = await Echo.start()
            await cluster.register_name(("echo", 1), pid)
            return pid

        await on(b, start_echo)
        await settle(started, rounds=1)

        async def use_via():
            dest = beamish.via(cluster.global_names(), ("echo", 1))
            reply = await beamish.call(dest, "ping")
            beamish.cast(dest, (beamish.self(), "hi"))
            cast = await beamish.receive(timeout=5)
            with pytest.raises(beamish.Exited):
                await beamish.call(beamish.via(cluster.global_names(), "none"), "ping")
            with pytest.raises(beamish.NoProc):
                beamish.send(beamish.via(cluster.global_names(), "none"), "x")
            return reply, cast

        assert await on(c, use_via) == ((B, "ping"), ("cast", "hi"))

        async def resolver_register():
            pid = await Holder.start()
            resolver = cluster.global_names()
            resolver.register_name("h", pid)
            with pytest.raises(beamish.NameTaken):
                resolver.register_name(("echo", 1), pid)
            await cluster.sync_names()
            return pid

        pid = await on(c, resolver_register)
        await settle(started, rounds=1)
        assert await views(started, "h") == {A: pid, B: pid, C: pid}

        async def resolver_unregister():
            cluster.global_names().unregister_name("h")

        await on(b, resolver_unregister)
        await settle(started)
        assert await views(started, "h") == {A: None, B: None, C: None}
