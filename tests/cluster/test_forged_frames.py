"""Frames an authenticated but hostile peer forges: refs and pids that are not its own,
answers nobody awaits, a flood of peers, a refusal before any proof. Each closes only that
connection or is dropped and counted; no local watch is taken over."""

import contextlib

import anyio
import pytest
from meshkit import Recorder, nodes, on, until_connected

import beamish
from beamish import cluster, telemetry
from beamish.actors import Pid
from beamish.actors._messages import Caller, CallRequest
from beamish.cluster._framing import encode_frame
from beamish.cluster._wire import PlainCodec
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B = "a@test", "b@test"


@pytest.fixture
def net():
    return MemoryNetwork()


@pytest.mark.parametrize("kind", ["call", "monitor"])
async def test_a_ref_made_here_cannot_take_over_a_local_monitor(net, kind):
    """A peer that reuses a ref of this node (they are predictable) in a call or a monitor
    is cut off; the local monitor it aimed at still fires for its own watcher."""
    async with nodes(net.transport, [A, B]) as started:
        (a, _), (b, cb) = started[A], started[B]
        await cb.connect("mem://" + A)
        await until_connected(cb, [A])

        async def local_watcher():
            target = beamish.spawn(_wait)
            ref = beamish.monitor(target)
            forged_watcher = Pid(B, 999, b.creation)
            if kind == "call":
                frame = ("call", target, CallRequest(Caller(forged_watcher, ref), "hi"))
            else:
                frame = ("monitor", forged_watcher, ref, target)
            with Recorder(cluster._mesh.NODE_DOWN) as down:
                cb.connections[A].send(frame)
                await down.wait_for(2)  # both ends report the loss of that connection
            beamish.send(target, "go")
            return await beamish.receive(timeout=5)

        down = await on(a, local_watcher)
        assert type(down) is beamish.Down
        assert down.reason == "normal"


async def test_a_reply_to_another_pid_leaves_the_call_watched(net):
    """A reply a peer addresses to another pid than the caller is dropped and counted; the
    caller keeps its watch, so losing the connection still ends its call with noconnection."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        await ca.connect("mem://" + B)
        await until_connected(ca, [B])
        send_request, requests = anyio.create_memory_object_stream[CallRequest](1)

        async def sink():
            await send_request.send(await beamish.receive())
            await beamish.receive()

        callee = await on(b, _spawn, sink)

        async def caller():
            with pytest.raises(beamish.Exited) as exited:
                await beamish.call(callee, "hi", timeout=None)
            return exited.value.reason

        async def scene():
            beamish.trap_exits(True)
            me = beamish.self()
            beamish.spawn_link(_report, me, caller)
            request = await requests.receive()
            with Recorder(telemetry.REPLY_DROP) as dropped:  # counted as a reply dropped
                cb.connections[A].send(("reply", me, request.caller.ref, "forged"))
                await dropped.wait_for(1)
            cb.connections[A].close("the peer goes")
            return await beamish.receive(lambda m: type(m) is tuple, timeout=5)

        with send_request, requests:
            assert await on(a, scene) == ("reason", "noconnection")


async def _wait():
    await beamish.receive()


async def _spawn(fn):
    return beamish.spawn(fn)


async def _report(to, fn):
    beamish.send(to, ("reason", await fn()))


async def test_a_peers_frame_over_the_limit_closes_that_connection(net):
    """A peer naming more peers than one frame may carry is cut off before any is dialled."""
    async with nodes(net.transport, [A, B]) as started:
        (_, ca), (_, cb) = started[A], started[B]
        await cb.connect("mem://" + A)
        await until_connected(cb, [A])
        flood = {f"n{i}@h": f"mem://nowhere{i}" for i in range(cluster._mesh.MAX_PEERS_FRAME + 1)}
        with Recorder(cluster._mesh.NODE_DOWN) as down:
            cb.connections[A].send(("peers", flood))
            await down.wait_for(2)
        assert len(ca.addresses) <= 1
        assert not ca._connecting


async def test_a_refusal_before_the_challenge_is_a_connection_error(net):
    """A listener that answers the hello with a refusal has proved nothing: connect() raises
    ConnectionError, as for any failed handshake."""
    rogue = await net.transport("rogue@h").listen("mem://rogue@h")

    async def refuse(stream):
        async with stream:
            await stream.receive()
            await stream.send(encode_frame(PlainCodec().encode({"refused": "by a stranger"})))
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                await stream.receive()

    async with anyio.create_task_group() as tg:
        tg.start_soon(rogue.serve, refuse)
        async with nodes(net.transport, [A]) as started:
            _, ca = started[A]
            with pytest.raises(ConnectionError):
                await ca.connect("mem://rogue@h")
        tg.cancel_scope.cancel()


C = "c@test"  # a third node, named by forged frames


async def _tell_first(report_to):
    beamish.send(report_to, ("first", await beamish.receive()))


def _forged(kind, a_node, b_node, victim):
    """A frame from b naming a process of a (``victim``) in a way only a liar would."""
    b_pid = Pid(B, 999, b_node.creation)
    elsewhere = ("victim", C)  # {Name, Node} resolves on Node: not on a
    if kind == "call_named_elsewhere":
        return ("call", elsewhere, CallRequest(Caller(b_pid, b_node.make_ref()), "hi"))
    if kind == "monitor_named_elsewhere":
        return ("monitor", b_pid, b_node.make_ref(), elsewhere)
    if kind == "exit_named_elsewhere":
        return ("exit", b_pid, elsewhere, "kill", False)
    if kind == "exit_from_a_third_nodes_pid":
        return ("exit", Pid(C, 1, 1), victim, "boom", False)
    if kind == "exit_from_a_pid_of_a":
        return ("exit", Pid(A, 424242, a_node.creation), victim, "boom", False)
    if kind == "link_from_a_third_nodes_pid":
        return ("link", Pid(C, 1, 1), victim)
    assert kind == "unlink_from_a_third_nodes_pid"
    return ("unlink", Pid(C, 1, 1), victim)


@pytest.mark.parametrize(
    "kind",
    [
        "call_named_elsewhere",
        "monitor_named_elsewhere",
        "exit_named_elsewhere",
        "exit_from_a_third_nodes_pid",
        "exit_from_a_pid_of_a",
        "link_from_a_third_nodes_pid",
        "unlink_from_a_third_nodes_pid",
    ],
)
async def test_a_frame_naming_what_the_peer_does_not_own_closes_its_connection(net, kind):
    """A call, monitor or exit naming ``(name, another node)`` is not resolved here (Erlang
    resolves ``{Name, Node}`` on Node), and a link, unlink or exit from a pid that is not
    the peer's is a lie: the connection that sent it closes, counted as a bad frame, and
    the local process it named is untouched (alive, no link, its mailbox empty)."""
    async with nodes(net.transport, [A, B]) as started:
        (a, _), (b, cb) = started[A], started[B]
        await cb.connect("mem://" + A)
        await until_connected(cb, [A])

        async def scene():
            me = beamish.self()
            victim = beamish.spawn(_tell_first, me)
            beamish.register("victim", victim)
            with (
                Recorder(cluster._mesh.NODE_DOWN) as down,
                Recorder(telemetry.CLUSTER_BAD_FRAME) as bad,
            ):
                cb.connections[A].send(_forged(kind, a, b, victim))
                await down.wait_for(2)  # both ends report the loss of that connection
            info = beamish.this_node().process_info(victim)
            beamish.send(victim, "ping")
            first = await beamish.receive(timeout=5)
            return info.links if info is not None else None, first, bad.seen

        links, first, bad = await on(a, scene)
        assert links == ()
        assert first == ("first", "ping")
        assert [seen["peer"] for seen in bad] == [B]
