"""A mesh re-forms by itself after a partition heals: silent cuts that only the heartbeat
notices, heals before, during or after the heartbeat fires, no seeds (nodes joined by an
explicit connect) — every node ends connected to every other within bounded rounds, and
stays so (in-memory network, virtual time)."""

import contextlib

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import beamish
from beamish import cluster
from beamish.cluster.transports import MemoryNetwork

GOSSIP = 2.0  # seconds between anti-entropy rounds
HANDSHAKE = 5.0  # the longest a connect waits across a silent cut (then a handshake)
HEARTBEAT = 0.2  # a peer silent for 4 ticks is down
ROUNDS = 2  # gossip rounds a healed network may take to re-form


def _run(main):
    from trio.testing import MockClock

    clock = MockClock(autojump_threshold=0)
    return anyio.run(main, backend="trio", backend_options={"clock": clock})


@contextlib.asynccontextmanager
async def _mesh(net, names, heartbeats):
    """Nodes without seeds, joined by explicit connects into a full mesh."""
    async with contextlib.AsyncExitStack() as stack:
        started: dict[str, cluster.Cluster] = {}
        for name in names:
            await stack.enter_async_context(beamish.runtime.start(name=name))
            started[name] = await stack.enter_async_context(
                cluster.start(
                    cookie="heal",
                    transport=net.transport(name),
                    listen="mem://" + name,
                    discovery=False,
                    heartbeat=heartbeats[name],
                    handshake_timeout=HANDSHAKE,
                    gossip_interval=GOSSIP,
                )
            )
        for name in names[1:]:
            await started[names[0]].connect("mem://" + name)
        for the_cluster in started.values():
            await the_cluster.wait_for_nodes(len(names) - 1)
        yield started


async def _until_apart(started, groups):
    """Wait until no node is connected across the cut (its heartbeat noticed)."""
    side = {name: set(group) for group in groups for name in group}
    with anyio.fail_after(60):
        for name, the_cluster in started.items():
            while set(the_cluster.nodes()) - side[name]:
                await the_cluster._changed.wait()


async def _full_mesh_took(started):
    """Seconds (virtual) until every node is connected to every other."""
    began = anyio.current_time()
    async with anyio.create_task_group() as waits:
        for the_cluster in started.values():
            waits.start_soon(the_cluster.wait_for_nodes, len(started) - 1, 3600)
    return anyio.current_time() - began


def _peers(started):
    return {name: the_cluster.nodes() for name, the_cluster in started.items()}


def test_a_silent_cut_both_sides_noticed_heals_into_the_full_mesh_again():
    """A and B (no seeds) lose each other to their heartbeats across a silent cut; after
    the heal they reconnect by themselves, though neither was told to."""
    names = ["a@heal", "b@heal"]

    async def main():
        net = MemoryNetwork()
        async with _mesh(net, names, dict.fromkeys(names, HEARTBEAT)) as started:
            net.partition(*names, silent=True)
            await _until_apart(started, [[names[0]], [names[1]]])
            net.heal()
            took = await _full_mesh_took(started)
            return took, _peers(started)

    took, peers = _run(main)
    assert peers == {"a@heal": ["b@heal"], "b@heal": ["a@heal"]}
    assert took <= ROUNDS * GOSSIP + HANDSHAKE, took


@st.composite
def partitions(draw):
    """Nodes, a split into two or more sides, each node's heartbeat, and when the heal
    comes after the cut: before, around or after the heartbeats notice it."""
    count = draw(st.integers(2, 4))
    names = [f"n{i}@heal" for i in range(count)]
    sides = [draw(st.integers(0, i)) for i in range(count)]  # node i on side <= i
    sides[1] = 1 if max(sides) == 0 else sides[1]  # at least two sides
    groups = [[n for n, s in zip(names, sides, strict=True) if s == k] for k in set(sides)]
    heartbeats = {n: draw(st.sampled_from([0.05, HEARTBEAT, 0.5])) for n in names}
    heal_after = draw(st.floats(0, 3))  # 4 ticks of 0.05 .. 0.5: 0.2 .. 2.5 s
    noticed = draw(st.booleans())  # or wait for every heartbeat to fire first
    return names, groups, heartbeats, heal_after, noticed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=partitions())
def test_any_silent_partition_heals_into_a_full_mesh_that_stays(plan):
    """Whatever the split, the heartbeats and when the heal comes relative to them, every
    node is connected to every other within the handshake timeout plus two gossip rounds
    of the heal, and still is after a quiet period longer than a heartbeat timeout."""
    names, groups, heartbeats, heal_after, noticed = plan

    async def main():
        net = MemoryNetwork()
        async with _mesh(net, names, heartbeats) as started:
            for i, group in enumerate(groups):
                for other in groups[i + 1 :]:
                    net.partition_groups(group, other, silent=True)
            if noticed:
                await _until_apart(started, groups)
            else:
                await anyio.sleep(heal_after)  # virtual time: the heal lands at that moment
            net.heal()
            took = await _full_mesh_took(started)
            await anyio.sleep(4 * max(heartbeats.values()) + 2 * GOSSIP)  # a quiet period
            return took, _peers(started)

    took, peers = _run(main)
    assert took <= ROUNDS * GOSSIP + HANDSHAKE, took
    assert peers == {name: [n for n in sorted(names) if n != name] for name in sorted(names)}
