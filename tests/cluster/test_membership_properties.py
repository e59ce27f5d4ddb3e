"""Property: any order of joins, any latency and any drops that heal end in a full mesh
within a bounded number of gossip rounds (hypothesis, in-memory network, virtual time)."""

import contextlib

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import beamish
from beamish import cluster, telemetry
from beamish.cluster.transports import MemoryNetwork

GOSSIP = 2.0  # seconds between anti-entropy rounds
HANDSHAKE = 5.0  # the longest a handshake hangs when its messages were dropped
ROUNDS = 4  # gossip rounds a healed network may take to become a full mesh


@st.composite
def clusters(draw):
    """How many nodes, who seeds whom (each node a node of lower index: one cluster), when
    each starts, the latency, and how long the network drops what rate of sends."""
    count = draw(st.integers(2, 5))
    seeds = [draw(st.integers(0, i - 1)) for i in range(1, count)]
    starts = [draw(st.floats(0, 4)) for _ in range(count)]
    latency = draw(st.sampled_from([0.0, 0.001, 0.05, 0.1, 0.3]))
    drop_rate = draw(st.sampled_from([0.0, 0.05, 0.2, 0.5]))
    bad_for = draw(st.floats(0, 10))
    return count, seeds, starts, latency, drop_rate, bad_for, draw(st.integers(0, 2**16))


def _converge(plan):
    """Run the plan; returns (seconds after the heal the full mesh took, each node's peers,
    how many connections were lost along the way)."""
    count, seeds, starts, latency, drop_rate, bad_for, drop_seed = plan
    names = [f"n{i}@prop" for i in range(count)]
    net = MemoryNetwork()
    net.set_delay(latency)
    net.set_drop_rate(drop_rate, seed=drop_seed)

    lost = []
    telemetry.attach("membership-property", telemetry.CLUSTER_NODE_DOWN, lambda *e: lost.append(e))

    async def main():
        started: dict[str, cluster.Cluster] = {}
        all_started = anyio.Event()
        stop = anyio.Event()

        async def node(i):
            await anyio.sleep(starts[i])
            seed = () if i == 0 else ("mem://" + names[seeds[i - 1]],)
            async with contextlib.AsyncExitStack() as stack:
                await stack.enter_async_context(beamish.runtime.start(name=names[i]))
                started[names[i]] = await stack.enter_async_context(
                    cluster.start(
                        cookie="prop",
                        transport=net.transport(names[i]),
                        listen="mem://" + names[i],
                        seeds=seed,
                        discovery=False,
                        handshake_timeout=HANDSHAKE,
                        gossip_interval=GOSSIP,
                    )
                )
                if len(started) == count:
                    all_started.set()
                await stop.wait()

        async with anyio.create_task_group() as group:
            for i in range(count):
                group.start_soon(node, i)
            await anyio.sleep(bad_for)
            net.set_drop_rate(0.0)
            await all_started.wait()
            healed = anyio.current_time()
            async with anyio.create_task_group() as waits:
                for the_cluster in started.values():
                    waits.start_soon(the_cluster.wait_for_nodes, count - 1, 3600)
            took = anyio.current_time() - healed
            peers = {name: the_cluster.nodes() for name, the_cluster in started.items()}
            lost_before_stop = len(lost)
            stop.set()
        return took, peers, lost_before_stop

    from trio.testing import MockClock

    clock = MockClock(autojump_threshold=0)
    try:
        return anyio.run(main, backend="trio", backend_options={"clock": clock})
    finally:
        telemetry.detach("membership-property")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=clusters())
def test_every_healed_cluster_becomes_a_full_mesh_within_bounded_rounds(plan):
    """Whatever the joins, latency and drops, once the network heals every node is
    connected to every other within HANDSHAKE + ROUNDS gossip rounds (plus latency); and
    where nothing is dropped, no connection is ever lost (simultaneous connects included)."""
    count, latency, drop_rate = plan[0], plan[3], plan[4]
    took, peers, lost = _converge(plan)
    if drop_rate == 0:
        assert lost == 0
    names = sorted(peers)
    assert peers == {name: [n for n in names if n != name] for name in names}
    assert len(names) == count
    assert took <= HANDSHAKE + ROUNDS * GOSSIP + 20 * latency, took
