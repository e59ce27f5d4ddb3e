"""Cluster-scoped registries over the in-memory network: replication, exits, partitions,
conflicts after a heal (one winner everywhere, the loser told once), node down."""

import pytest
from clusterkit import Claimer, connect_all, nodes, on, start_registry, until_view, view

import beamish
from beamish import registry
from beamish.cluster.transports import MemoryNetwork
from beamish.testing import refute_receive

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

A, B, C = "a@test", "b@test", "c@test"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def net():
    return MemoryNetwork()


async def claim(key, name="reg", value=None):
    return await Claimer.start(name, key, value)


async def alive(pid):
    return beamish.is_alive(pid)


async def exits_of(pid):
    return await beamish.call(pid, "exits")


async def test_a_registration_is_found_from_every_node(net):
    """A key registered on A is looked up, called through via and dropped from B and C."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        await start_registry(started)
        a, b = started[A][0], started[B][0]
        pid = await on(a, claim, "room", "reg", {"topic": "lobby"})
        await until_view(started, "room", {pid})
        assert (await view(started, "room"))[C] == [(pid, {"topic": "lobby"})]
        assert await on(b, beamish.call, registry.via("reg", "room"), "?") == []
        with pytest.raises(registry.AlreadyRegistered) as taken:
            await on(b, claim, "room")
        assert taken.value.pid == pid or isinstance(taken.value, beamish.StartError)
        await on(a, beamish.stop, pid)
        await until_view(started, "room", set())


async def test_duplicate_keys_list_the_entries_of_every_node(net):
    """A duplicate key holds entries from each node; an exit removes only its own."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        await start_registry(started, keys="duplicate")
        pids = [await on(node, claim, "topic", "reg", n) for n, (node, _) in started.items()]
        await until_view(started, "topic", set(pids))
        await on(started[B][0], beamish.stop, pids[1])
        await until_view(started, "topic", {pids[0], pids[2]})


async def _split_and_claim(net, started, order):
    """Partition {A} | {B, C}; each side claims "k" (in ``order``); returns the pids."""
    await connect_all(started)
    await start_registry(started)
    net.partition_groups([A], [B, C])
    claimed = {}
    for side in order:
        node = started[side][0]
        claimed[side] = await on(node, claim, "k")
    # each side sees only its own claim once the other is down (down_period)
    await until_view({A: started[A]}, "k", {claimed[A]})
    await until_view({B: started[B], C: started[C]}, "k", {claimed[B]})
    return claimed


@pytest.mark.parametrize("order", [(A, B), (B, A)])
async def test_after_a_heal_every_node_agrees_on_one_winner_and_the_loser_is_told_once(
    net, order
):
    """Both sides of a partition claim "k"; after the heal every node shows the same
    winner (equal Lamport stamps: the smaller pid, A's), and B's claimer alone gets the
    exit signal ("name_conflict", "k", winner), once."""
    async with nodes(net.transport, [A, B, C]) as started:
        claimed = await _split_and_claim(net, started, order)
        net.heal()
        await connect_all(started)
        winner, loser = claimed[A], claimed[B]
        await until_view(started, "k", {winner})
        b = started[B][0]
        exits = await on(b, exits_of, loser)
        assert [e.reason for e in exits] == [("name_conflict", "k", winner)]
        assert await on(started[A][0], exits_of, winner) == []

        async def nothing_more():
            await refute_receive(timeout=0.5)
            return await exits_of(loser)

        assert len(await on(b, nothing_more)) == 1
        assert await view(started, "k") == {n: [(winner, None)] for n in started}


async def test_a_resolve_callback_runs_on_the_losers_node_instead(net):
    """With resolve=, the loser's node calls it (no exit signal), once."""
    calls = []
    async with nodes(net.transport, [A, B]) as started:
        await connect_all(started)
        await start_registry(started, resolve=lambda *args: calls.append(args))
        net.partition_groups([A], [B])
        on_a = await on(started[A][0], claim, "k")
        on_b = await on(started[B][0], claim, "k")
        await until_view({B: started[B]}, "k", {on_b})
        net.heal()
        await connect_all(started)
        await until_view(started, "k", {on_a})
        assert calls == [("k", on_b, on_a)]
        assert await on(started[B][0], exits_of, on_b) == []
        assert await on(started[B][0], alive, on_b)


async def test_a_node_that_goes_down_takes_its_entries_after_the_down_period(net):
    """Cut A off: after the down period B and C no longer list A's entries."""
    async with nodes(net.transport, [A, B, C]) as started:
        await connect_all(started)
        await start_registry(started, keys="duplicate")
        on_a = await on(started[A][0], claim, "t")
        on_b = await on(started[B][0], claim, "t")
        await until_view(started, "t", {on_a, on_b})
        net.partition_groups([A], [B, C])
        await until_view({B: started[B], C: started[C]}, "t", {on_b})
        await until_view({A: started[A]}, "t", {on_a})


async def test_a_value_the_wire_cannot_carry_is_refused_at_register(net):
    """In a cluster-scoped registry, register (and update_value) of a key or value that
    cannot cross the wire raise TypeError in the caller; nothing is registered."""
    async with nodes(net.transport, [A, B]) as started:
        await connect_all(started)
        await start_registry(started)

        async def bad():
            with pytest.raises(TypeError, match="cannot"):
                registry.register("reg", "k", object())
            with pytest.raises(TypeError, match="cannot"):
                registry.register("reg", object(), 1)
            registry.register("reg", "k", 1)
            with pytest.raises(TypeError, match="cannot"):
                registry.update_value("reg", "k", lambda v: object())
            return registry.lookup("reg", "k")

        assert [value for _, value in await on(started[A][0], bad)] == [1]
