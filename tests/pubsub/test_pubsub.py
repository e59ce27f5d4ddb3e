"""PubSub across three nodes over the in-memory network, and on a lone node."""

import pytest
from meshkit import nodes, on, until_connected

import beamish
from beamish import cluster, pubsub
from beamish.cluster.transports import MemoryNetwork
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio

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


async def settle():
    """A round trip to every peer's pg server: what this node's pg sent is handled there."""
    for name in cluster.nodes():
        assert await beamish.call(("beamish.pg", name), ("ping", 0)) == 0


async def subscriber(topic, report, until_ends):
    """Subscribe, say so, then collect messages until ``until_ends`` ("end", _) markers."""
    await pubsub.subscribe(topic)
    beamish.send(report, ("subscribed", beamish.self()))
    got = []
    ends = 0
    while ends < until_ends:
        message = await beamish.receive()
        got.append(message)
        ends += message[0] == "end"
    beamish.send(report, ("done", beamish.self(), got))


async def publisher(topic, name, count):
    for i in range(count):
        pubsub.broadcast(topic, ("msg", name, i))
    pubsub.broadcast(topic, ("end", name))


async def test_every_subscriber_gets_each_broadcast_once_in_order(net):
    """Subscribers on three nodes, a publisher on each: every subscriber receives every
    broadcast exactly once, and each publisher's messages in the order it sent them."""
    count = 40
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)

        async def scenario():
            me = beamish.self()
            subscribers = []
            for name in NAMES:
                node = started[name][0]
                subscribers += await _start_remote_subscribers(node, me, 2, until_ends=3)
            publishers = [
                await cluster.spawn(name, publisher, "topic", name, count) for name in NAMES
            ]
            assert len(publishers) == 3
            results = {}
            while len(results) < len(subscribers):
                _, pid, got = await assert_receive(lambda m: m[0] == "done", timeout=60)
                results[pid] = got
            return subscribers, results

        subscribers, results = await on(started[A][0], scenario)
        assert len(subscribers) == 6
        assert {pid.node for pid in subscribers} == set(NAMES)
        for got in results.values():
            assert len(got) == 3 * (count + 1)
            for name in NAMES:
                mine = [m for m in got if m[1] == name]
                assert mine == [*(("msg", name, i) for i in range(count)), ("end", name)]


async def _start_remote_subscribers(node, report, count, until_ends):
    """From the test's process, start subscribers on ``node`` reporting to ``report``."""

    async def here():
        return [beamish.spawn(subscriber, "topic", report, until_ends) for _ in range(count)]

    pids = await on(node, here)
    for _ in range(count):
        await assert_receive(lambda m: m[0] == "subscribed" and m[1] in pids)
    # each subscriber's node told its peers before "subscribed" went out; a round trip
    # from that node to every peer's pg makes sure they have handled it
    await on(node, settle)
    return pids


async def test_broadcast_from_skips_the_sender(net):
    """broadcast_from(pid, ...) reaches the other subscribers, on every node, but not pid."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)

        async def scenario():
            me = beamish.self()
            others = []
            for name in (B, C):
                others += await _start_remote_subscribers(started[name][0], me, 1, until_ends=1)
            await pubsub.subscribe("topic")
            await settle()
            pubsub.broadcast_from(me, "topic", ("skip", "me"))
            pubsub.broadcast("topic", ("end", "all"))
            first = await beamish.receive(lambda m: m[0] in ("skip", "end"), timeout=5)
            reports = [await assert_receive(lambda m: m[0] == "done") for _ in others]
            return first, reports

        first, reports = await on(started[A][0], scenario)
        assert first == ("end", "all")
        for _, _, got in reports:
            assert got == [("skip", "me"), ("end", "all")]


async def test_local_broadcast_stays_local(net):
    """local_broadcast reaches this node's subscribers only."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)

        async def scenario():
            me = beamish.self()
            [remote] = await _start_remote_subscribers(started[B][0], me, 1, until_ends=1)
            local = beamish.spawn(subscriber, "topic", me, 1)
            await assert_receive(("subscribed", local))
            pubsub.local_broadcast("topic", ("local", 0))
            pubsub.broadcast("topic", ("end", 0))
            reports = {}
            for _ in range(2):
                _, pid, got = await assert_receive(lambda m: m[0] == "done")
                reports[pid] = got
            return local, remote, reports

        local, remote, reports = await on(started[A][0], scenario)
        assert reports[local] == [("local", 0), ("end", 0)]
        assert reports[remote] == [("end", 0)]


async def test_a_broadcast_crosses_each_connection_once(net):
    """One broadcast: one encode, and one frame per remote node with subscribers (the same
    bytes each time), whatever the number of subscribers there."""
    async with nodes(net.transport, list(NAMES)) as started:
        await connect_all(started)
        ca = started[A][1]
        encodes = []
        crossings = []

        async def scenario():
            me = beamish.self()
            pids = await _start_remote_subscribers(started[B][0], me, 3, until_ends=1)
            pids += await _start_remote_subscribers(started[C][0], me, 2, until_ends=1)
            with _counting(ca, encodes, crossings):
                pubsub.broadcast("topic", ("end", "once"))
            reports = [await assert_receive(lambda m: m[0] == "done") for _ in pids]
            return pids, reports

        pids, reports = await on(started[A][0], scenario)
        assert len(encodes) == 1
        assert sorted(peer for peer, _ in crossings) == [B, C]
        assert {id(payload) for _, payload in crossings} == {id(encodes[0])}
        assert sorted(pid for _, pid, _ in reports) == sorted(pids)
        assert all(got == [("end", "once")] for _, _, got in reports)


class _CountingCodec:
    """A codec that records every payload it encodes."""

    def __init__(self, codec, encodes):
        self.codec, self.encodes = codec, encodes

    def encode(self, message):
        payload = self.codec.encode(message)
        self.encodes.append(payload)
        return payload

    def __getattr__(self, name):
        return getattr(self.codec, name)


class _counting:
    """Record the encodes of ``the_cluster``'s codec and the payloads handed to each
    connection while the block runs."""

    def __init__(self, the_cluster, encodes, crossings):
        self.cluster, self.encodes, self.crossings = the_cluster, encodes, crossings

    def __enter__(self):
        self.codec = self.cluster.codec
        self.cluster.codec = _CountingCodec(self.codec, self.encodes)
        for peer, conn in self.cluster.connections.items():
            send_encoded = conn.send_encoded

            def counting_send(payload, peer=peer, send_encoded=send_encoded):
                self.crossings.append((peer, payload))
                send_encoded(payload)

            conn.send_encoded = counting_send

    def __exit__(self, *exc):
        self.cluster.codec = self.codec
        for conn in self.cluster.connections.values():
            del conn.send_encoded


async def test_pubsub_on_a_lone_node():
    """Without distribution, subscribe/broadcast/unsubscribe work locally."""

    async def main():
        me = beamish.self()
        await pubsub.subscribe("t")
        await pubsub.subscribe("t")  # twice: each message twice, as in Phoenix
        pubsub.broadcast("t", 1)
        got = [await beamish.receive(timeout=1), await beamish.receive(timeout=1)]
        await pubsub.unsubscribe("t")
        pubsub.broadcast("t", 2)
        beamish.send(me, "after")
        return got, await beamish.receive(timeout=1), pubsub.subscribers("t")

    async with beamish.runtime.start() as node:
        assert await on(node, main) == ([1, 1], "after", [])


async def test_an_exited_subscriber_is_unsubscribed_everywhere(net):
    """A subscriber that exits no longer counts as one, on any node."""
    async with nodes(net.transport, [A, B]) as started:
        await connect_all_two(started)

        async def scenario():
            me = beamish.self()
            [pid] = await _start_remote_subscribers(started[B][0], me, 1, until_ends=1)
            ref = await cluster.monitor_group(("beamish.pubsub", "topic"))
            assert pubsub.subscribers("topic") == [pid]
            pubsub.broadcast("topic", ("end", 0))
            await assert_receive(lambda m: m[0] == "done")
            change = await assert_receive(cluster.GroupChange)
            await cluster.demonitor_group(ref)
            return pid, change, pubsub.subscribers("topic")

        pid, change, after = await on(started[A][0], scenario)
        assert change.left == [pid]
        assert after == []


async def connect_all_two(started):
    await started[A][1].connect("mem://" + B)
    await until_connected(started[B][1], [A])


async def test_broadcast_from_skips_every_subscription_of_the_pid_and_only_those(node):
    """A pid subscribed twice gets nothing from broadcast_from(pid); another subscribed
    twice gets two copies; the topic's subscriber list is left as it was."""
    me = beamish.self()

    async def twice():
        await pubsub.subscribe("t")
        await pubsub.subscribe("t")
        beamish.send(me, ("subscribed", beamish.self()))
        got = [await beamish.receive(timeout=5) for _ in range(3)]
        beamish.send(me, ("got", got))
        await beamish.receive(lambda m: m == "stop", timeout=5)  # subscribed until then

    other = beamish.spawn(twice)
    await assert_receive(("subscribed", other))
    await pubsub.subscribe("t")
    await pubsub.subscribe("t")
    before = sorted(pubsub.subscribers("t"))
    pubsub.broadcast_from(me, "t", "not to me")
    pubsub.broadcast_from(other, "t", "to me")
    pubsub.broadcast("t", "end")
    assert await assert_receive(("got", ["not to me", "not to me", "end"]))
    assert [await beamish.receive(timeout=5) for _ in range(4)] == ["to me", "to me", "end", "end"]
    assert sorted(pubsub.subscribers("t")) == before
    assert before.count(me) == 2
    beamish.send(other, "stop")
