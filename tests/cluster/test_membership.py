"""Membership: joins converge to a full mesh, one connection per peer, one node per name."""

import contextlib

import anyio
import pytest
from meshkit import COOKIE, Echo, Recorder, nodes, on, until_connected

import beamish
from beamish import cluster, telemetry
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B, C = "a@test", "b@test", "c@test"


@pytest.fixture
def net():
    return MemoryNetwork()


@contextlib.asynccontextmanager
async def seeded_node(net, name, seeds=(), *, listen=None, cookie=COOKIE):
    """One node on ``net`` listening on ``mem://<name>`` (or ``listen``), seeded with
    ``seeds``; yields (node, cluster) once ``cluster.start`` returned."""
    async with beamish.runtime.start(name=name) as node:
        async with cluster.start(
            cookie=cookie,
            transport=net.transport(name),
            listen=listen or f"mem://{name}",
            seeds=seeds,
            discovery=False,
        ) as the_cluster:
            yield node, the_cluster


async def test_two_nodes_seeded_with_a_third_at_once_connect_to_each_other(net):
    """n2 and n3 started at once, both seeded with n1 only, on a 100 ms network: every
    node ends up connected to both others (the peer lists that missed them are repeated)."""
    net.set_delay(0.1)
    clusters = {}
    both_up = anyio.Event()
    done = anyio.Event()

    async def run(name):
        async with seeded_node(net, name, ("mem://" + A,)) as (_, the_cluster):
            clusters[name] = the_cluster
            if len(clusters) == 3:
                both_up.set()
            await done.wait()

    async with seeded_node(net, A) as (_, ca):
        clusters[A] = ca
        async with anyio.create_task_group() as group:
            group.start_soon(run, B)
            group.start_soon(run, C)
            await both_up.wait()
            try:
                for name, the_cluster in clusters.items():
                    await until_connected(the_cluster, {A, B, C} - {name}, timeout=30)
            finally:
                done.set()


async def test_seeds_are_connected_when_start_returns_and_wait_for_nodes(net):
    """cluster.start returns once its seeds are connected; wait_for_nodes waits for a
    count or for names, and raises TimeoutError when they do not come."""
    async with seeded_node(net, A), seeded_node(net, B, ("mem://" + A,)) as (_, cb):
        assert cb.nodes() == [A]
        async with seeded_node(net, C, ("mem://" + B,)) as (c, cc):
            assert cc.nodes() == [B]

            async def wait_in_a_process():
                return await cluster.wait_for_nodes([A, B], timeout=30)

            assert await on(c, wait_in_a_process) == [A, B]
            assert await cb.wait_for_nodes(2, timeout=30) == [A, C]
            with pytest.raises(TimeoutError):
                await cb.wait_for_nodes(3, timeout=0.5)


class Sink(beamish.Actor):
    """Counts the integers it receives, in order, and answers ("count", n) calls once it
    has n of them; a NodeDown or a gap is recorded."""

    def init(self, peer):
        cluster.monitor_node(peer)
        self.received, self.gaps, self.downs = 0, [], []
        self.waiting = []

    def handle_info(self, message):
        if isinstance(message, cluster.NodeDown):
            self.downs.append(message)
        elif message != self.received:
            self.gaps.append((self.received, message))
            self.received = message + 1
        else:
            self.received += 1
        self._flush()

    def handle_call(self, request, caller):
        self.waiting.append((request, caller))
        self._flush()
        return beamish.NoReply()

    def _flush(self):
        for entry in list(self.waiting):
            if self.received >= entry[0] or self.downs:
                self.waiting.remove(entry)
                beamish.reply(entry[1], (self.received, self.gaps, self.downs))


async def stream_to(target, count):
    for i in range(count):
        beamish.send(target, i)
        if i % 500 == 0:
            await beamish.sleep(0)


async def test_connect_to_an_address_already_connected_keeps_the_connection(net):
    """While B streams to a process on A over the connection B opened, A connects to B's
    address: connect returns B, the connection is the same, and no message is lost."""
    count = 20_000
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        await cb.connect("mem://" + A)
        before = ca.connections[B]

        async def start_sink():
            return await Sink.start(B)

        sink = await on(a, start_sink)

        async def stream():
            await stream_to(sink, count)

        async def connect_midway():
            await beamish.call(sink, 1000, timeout=30)
            return await cluster.connect("mem://" + B)

        async with anyio.create_task_group() as group:
            group.start_soon(on, b, stream)
            assert await on(a, connect_midway) == B

        async def wait_all():
            return await beamish.call(sink, count, timeout=60)

        received, gaps, downs = await on(a, wait_all)
        assert (received, gaps, downs) == (count, [], [])
        assert ca.connections[B] is before


async def test_a_second_node_with_a_taken_name_is_refused(net):
    """A node named like a connected one is refused at the handshake (counted in
    telemetry); the real one keeps its connection and answers calls."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        await cb.connect("mem://" + A)
        real = ca.connections[B]

        async def start_echo():
            await Echo.start(name="echo")

        await on(b, start_echo)
        with Recorder(cluster.DUPLICATE_NAME_REFUSED) as refused:
            async with beamish.runtime.start(name=B) as impostor:
                async with cluster.start(
                    cookie=COOKIE,
                    transport=net.transport(B),
                    listen="mem://impostor",
                    discovery=False,
                ) as ci:
                    with pytest.raises(ConnectionError, match="refused this node"):
                        await ci.connect("mem://" + A)
                    with pytest.raises(ConnectionError, match="already taken"):
                        await ca.connect("mem://impostor")
                    events = await refused.wait_for(2)

                    async def ask():
                        return await beamish.call(("echo", B), "who?")

                    assert await on(a, ask) == (B, "who?")
                    assert impostor.creation != b.creation
        assert ca.connections[B] is real
        assert [e["creation"] for e in events] == [impostor.creation] * 2
        assert telemetry.CLUSTER_DUPLICATE_NAME == cluster.DUPLICATE_NAME_REFUSED
