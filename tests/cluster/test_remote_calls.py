"""Remote calls: one message each way, and OTP's call semantics kept.

The caller's node sends one ``("call", target, CallRequest)`` message; the callee's node
monitors the callee for the caller when it arrives (no separate monitor message).
"""

import pytest
from meshkit import Echo, Recorder, nodes, on

import beamish
from beamish import cluster, telemetry
from beamish.actors._messages import Caller, CallRequest
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B, C = "a@test", "b@test", "c@test"
WAIT = 10


@pytest.fixture
def net():
    return MemoryNetwork()


class Holder(beamish.Actor):
    """Keeps the callers of "hold" unanswered; "release" answers them all late."""

    def init(self):
        self.held = []

    def handle_call(self, request, caller):
        if request == "hold":
            self.held.append(caller)
            return beamish.NoReply()
        if request == "release":
            for held in self.held:
                beamish.reply(held, "late")
            count, self.held = len(self.held), []
            return count
        return request


async def test_a_remote_call_is_one_message_out_and_one_back(net):
    """Each call puts one frame on the caller's connection and one on the callee's:
    the monitor rides in the request."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        pid = await on(b, Echo.start)
        await ca.connect("mem://" + B)
        assert await on(a, beamish.call, pid, "warm") == (B, "warm")
        out, back = ca.connections[B].frames_out, cb.connections[A].frames_out

        async def calls():
            return [await beamish.call(pid, i) for i in range(10)]

        assert await on(a, calls) == [(B, i) for i in range(10)]
        # pg's and global names' replicas (the replication core) greet each other on the
        # same connection after a connect and may add a frame or two here: a separate
        # monitor message per call would make it 20
        assert 10 <= ca.connections[B].frames_out - out < 15
        assert 10 <= cb.connections[A].frames_out - back < 15


async def test_a_call_to_a_remote_name_nobody_holds_is_noproc(net):
    async with nodes(net.transport, [A, B]) as started:
        (a, ca) = started[A]
        await ca.connect("mem://" + B)

        async def client():
            with pytest.raises(beamish.Exited) as info:
                await beamish.call(("nobody", B), "anyone?", timeout=WAIT)
            return info.value.reason

        assert await on(a, client) == "noproc"


async def test_a_callee_killed_mid_call_raises_exited_killed(net):
    """The watch the callee's node set up on the request fires when the callee dies."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, Holder.start)
        await ca.connect("mem://" + B)

        async def kill_when_held():
            assert await beamish.call(pid, "sync") == "sync"  # queued after "hold": FIFO
            beamish.exit(pid, "kill")

        async def client():
            beamish.spawn(kill_when_held)  # runs once the call below is on its way
            with pytest.raises(beamish.Exited) as info:
                await beamish.call(pid, "hold", timeout=WAIT)
            return info.value.reason

        assert await on(a, client) == "killed"


async def test_a_lost_connection_mid_call_raises_exited_noconnection(net):
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, Holder.start)
        await ca.connect("mem://" + B)

        async def partition_when_held():
            assert await beamish.call(pid, "sync") == "sync"  # queued after "hold": FIFO
            net.partition(A, B)

        async def client():
            beamish.spawn(partition_when_held)
            with pytest.raises(beamish.Exited) as info:
                await beamish.call(pid, "hold", timeout=WAIT)
            return info.value.reason

        assert await on(a, client) == "noconnection"


async def test_a_timed_out_remote_call_drops_the_watch_and_the_late_reply(net):
    """After a timeout the callee's node forgets the watch; the reply that comes later
    is dropped and counted, never delivered to the caller's mailbox."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        pid = await on(b, Holder.start)
        await ca.connect("mem://" + B)

        async def client():
            with pytest.raises(beamish.CallTimeout):
                await beamish.call(pid, "hold", timeout=0.05)
            # FIFO on the connection: the demonitor went out before this call
            assert await beamish.call(pid, "sync") == "sync"
            watching = (b._proc(pid)._monitored_by, dict(cb._watched.get(A, {})))
            with Recorder(telemetry.REPLY_DROP) as dropped:
                assert await beamish.call(pid, "release") == 1
                await dropped.wait_for(1)
            with pytest.raises(TimeoutError):
                await beamish.receive(timeout=0)
            return watching

        monitored_by, watched = await on(a, client)
        assert monitored_by in (None, {})
        assert watched == {}
        assert not any(ca._monitors.values())


async def test_a_malformed_call_or_send_closes_that_connection_only(net):
    """A peer whose "call" carries no CallRequest, or one from a process of another node,
    or whose "send" names no pid, is cut off as a bad peer; the node and its other
    connections carry on."""
    async with nodes(net.transport, [A, B, C]) as started:
        (a, ca), (_, cb), (_, cc) = started[A], started[B], started[C]
        pid = await on(a, Echo.start)
        await cb.connect("mem://" + A)
        await cc.connect("mem://" + A)
        forged = CallRequest(Caller(beamish.Pid(C, 1, 1), beamish.Ref(C, 1)), "x")
        malformed = [("call", pid, "not a request"), ("call", pid, forged), ("send", "x", 1)]
        for bad in malformed:
            with Recorder(cluster._mesh.NODE_DOWN) as down:
                cb.connections[A].send(bad)
                seen = await down.wait_for(2)  # both ends report the loss
            assert {event["peer"] for event in seen} == {A, B}
            await cb.connect("mem://" + A)

        async def from_c():
            return await beamish.call(pid, "still here")

        assert await on(started[C][0], from_c) == (A, "still here")
        assert set(ca.nodes()) == {B, C}


async def test_a_call_whose_request_cannot_cross_raises_and_leaves_nothing_behind(net):
    """EncodeError reaches the caller, and neither a monitor nor a call slot stays."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, Echo.start)
        await ca.connect("mem://" + B)

        async def client():
            with pytest.raises(cluster.EncodeError):
                await beamish.call(pid, object(), timeout=WAIT)  # pickles are off
            open_calls = dict(beamish.this_node()._proc(beamish.self())._calls or {})
            return open_calls, await beamish.call(pid, "next", timeout=WAIT)

        assert await on(a, client) == ({}, (B, "next"))
        assert not any(ca._monitors.values())
