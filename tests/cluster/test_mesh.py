"""Remote processes over the in-memory network: send, call, link, monitor, node down."""

import pytest
from meshkit import Echo, Recorder, nodes, on, until_connected

import beamish
from beamish import cluster, telemetry
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B, C = "a@test", "b@test", "c@test"


@pytest.fixture
def net():
    return MemoryNetwork()


async def _start_echo():
    return await Echo.start(name="echo")


async def test_send_call_and_cast_to_a_remote_name(net):
    """A process on A reaches a named server on B by (name, node): send, call and cast."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            reply = await beamish.call(("echo", B), "ping")
            beamish.cast(("echo", B), (beamish.self(), "hello"))
            cast = await beamish.receive(timeout=5)
            return reply, cast

        assert await on(a, client) == ((B, "ping"), ("cast", "hello"))


async def test_connect_on_demand_and_full_mesh(net):
    """A node connects on first use, and peers learn of each other's peers."""
    async with nodes(net.transport, [A, B, C]) as started:
        ca, cb, cc = started[A][1], started[B][1], started[C][1]
        await cb.connect("mem://" + A)
        await cb.connect("mem://" + C)
        await until_connected(ca, [B, C])
        await until_connected(cc, [A, B])
        assert ca.nodes() == [B, C]
        assert cc.nodes() == [A, B]


async def test_remote_pid_call_and_crash_mid_call(net):
    """A call to a remote pid returns; a crash mid-call raises Exited with the exception."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            first = await beamish.call(pid, 1)
            with pytest.raises(beamish.Exited) as info:
                await beamish.call(pid, "crash")
            return first, info.value.reason

        first, reason = await on(a, client)
        assert first == (B, 1)
        assert isinstance(reason, ValueError)
        assert str(reason) == "echo crashed"


async def test_call_to_dead_remote_pid_is_noproc(net):
    """A call to a remote pid that has exited raises Exited("noproc")."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_echo)
        await on(b, beamish.stop, pid)
        await ca.connect("mem://" + B)

        async def client():
            with pytest.raises(beamish.Exited) as info:
                await beamish.call(pid, "anyone?")
            return info.value.reason

        assert await on(a, client) == "noproc"


async def test_remote_link_and_monitor_fire_with_the_reason(net):
    """A remote link delivers Exit and a remote monitor Down, with the crash reason."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            beamish.trap_exits(True)
            beamish.link(pid)
            ref = beamish.monitor(pid)
            with pytest.raises(beamish.Exited):
                await beamish.call(pid, "crash")
            exit_ = await beamish.receive(lambda m: isinstance(m, beamish.Exit), timeout=5)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=5)
            return exit_, down, ref

        exit_, down, ref = await on(a, client)
        assert (exit_.pid, type(exit_.reason)) == (pid, ValueError)
        assert (down.ref, down.pid, type(down.reason)) == (ref, pid, ValueError)


async def test_remote_exit_kill(net):
    """exit(remote_pid, "kill") kills it; the monitor says killed."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            beamish.monitor(pid)
            beamish.exit(pid, "kill")
            return await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=5)

        down = await on(a, client)
        assert down.reason == "killed"


async def test_lost_connection_fires_links_monitors_and_nodedown(net):
    """Breaking the link fires remote links and monitors with noconnection, and NodeDown."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            beamish.trap_exits(True)
            beamish.link(pid)
            ref = beamish.monitor(pid)
            cluster.monitor_node(B)
            assert await beamish.call(pid, "ok?") == (B, "ok?")
            net.partition(A, B)
            got = {}
            while len(got) < 3:
                message = await beamish.receive(timeout=30)
                got[type(message).__name__] = message
            return got, ref

        got, ref = await on(a, client)
        assert got["Exit"] == beamish.Exit(pid, "noconnection")
        assert got["Down"] == beamish.Down(ref, pid, "noconnection")
        assert got["NodeDown"].node == B


async def test_wrong_cookie_is_refused_and_the_node_lives_on(net):
    """A peer with another cookie is refused; both nodes keep working."""
    async with nodes(net.transport, [A, B], cookies={B: "other"}) as started:
        ca, b = started[A][1], started[B][0]
        with pytest.raises(ConnectionError, match="did not prove the cookie"):
            await ca.connect("mem://" + B)
        assert ca.nodes() == []

        async def still_alive():
            return await beamish.call(await Echo.start(), "fine")

        assert await on(b, still_alive) == (B, "fine")


async def test_remote_spawn_by_reference_with_link(net):
    """cluster.spawn starts an importable function on another node, linked to the caller."""
    async with nodes(net.transport, [A, B]) as started:
        a, ca = started[A]
        await ca.connect("mem://" + B)

        async def client():
            beamish.trap_exits(True)
            pid = await cluster.spawn(B, beamish.sleep, 0, link=True)
            exit_ = await beamish.receive(lambda m: isinstance(m, beamish.Exit), timeout=5)
            return pid, exit_

        pid, exit_ = await on(a, client)
        assert pid.node == B
        assert exit_ == beamish.Exit(pid, "normal")


async def test_encode_error_at_the_sender(net):
    """A message the codec cannot carry (pickle off) fails in the sender, at once."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        ca.codec = type(ca.codec)(allow_pickle=False)
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        class Opaque:
            pass

        async def client():
            with pytest.raises(TypeError):
                beamish.send(pid, Opaque())
            return await beamish.call(pid, "after")

        assert await on(a, client) == (B, "after")


async def test_oversized_message_fails_in_the_sender(net):
    """A message over the frame limit raises FrameError in the sender; the link lives on."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        ca.max_frame = 4096
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            with pytest.raises(cluster.FrameError, match="frame limit"):
                beamish.send(pid, b"x" * 10_000)
            return await beamish.call(pid, "still here")

        assert await on(a, client) == (B, "still here")


async def test_silent_peer_is_declared_down_by_heartbeat(net):
    """When traffic silently stops, the heartbeat declares the peer down within 4 ticks."""
    # only A ticks fast, so A's own heartbeat (not B closing first) detects the silence
    async with nodes(net.transport, [A, B], heartbeat={A: 0.05}) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            ref = beamish.monitor(pid)
            cluster.monitor_node(B)
            net.partition(A, B, silent=True)
            node_down = await beamish.receive(lambda m: isinstance(m, cluster.NodeDown), 10)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), 10)
            return node_down, down, ref

        node_down, down, ref = await on(a, client)
        assert "heartbeat" in node_down.reason
        assert down == beamish.Down(ref, pid, "noconnection")


async def test_nodes_with_different_heartbeats_agree(net):
    """A fast-ticking node does not declare an idle slow-ticking peer down: both tick fast."""
    async with nodes(net.transport, [A, B], heartbeat={A: 0.05, B: 60.0}) as started:
        (a, ca), (_, cb) = started[A], started[B]
        await ca.connect("mem://" + B)

        async def idle_longer_than_four_fast_ticks():
            cluster.monitor_node(B)
            await beamish.sleep(0.5)  # ten of A's silence windows, with no traffic of ours
            with pytest.raises(TimeoutError):
                await beamish.receive(lambda m: isinstance(m, cluster.NodeDown), timeout=0)
            return cluster.nodes()

        assert await on(a, idle_longer_than_four_fast_ticks) == [B]
        assert cb.connections[A]._heartbeat == 0.05


async def test_remote_calls_leave_no_monitor_behind(net):
    """After many remote calls, neither node keeps a monitor entry for them."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            for i in range(50):
                await beamish.call(pid, i)

        await on(a, client)
        assert b._proc(pid)._monitored_by in (None, {})
        assert not any(cb._watched.values())
        assert not any(ca._monitors.values())


class Stubborn(beamish.Actor):
    """A server whose terminate never ends on its own."""

    async def terminate(self, reason):
        await beamish.sleep(3600)


async def _start_stubborn():
    return await Stubborn.start(name="stubborn")


async def test_stop_of_a_remote_name_that_does_not_stop_kills_it(net):
    """stop((name, node), timeout=) on a server that does not stop in time kills it over
    the wire and raises CallTimeout (not NoProc)."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_stubborn)
        await ca.connect("mem://" + B)

        async def client():
            ref = beamish.monitor(pid)
            with pytest.raises(beamish.CallTimeout, match="was killed"):
                await beamish.stop(("stubborn", B), timeout=0.5)
            return await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=5), ref

        down, ref = await on(a, client)
        assert down == beamish.Down(ref, pid, "killed")


async def test_pids_of_this_nodes_previous_incarnation_are_dead(net):
    """A pid with this node's name and another creation is gone for good: monitor says
    noproc, a link exits with noproc, and a call raises Exited("noproc") at once."""
    async with nodes(net.transport, [A, B]) as started:
        a = started[A][0]
        ghost = beamish.Pid(A, 7, a.creation + 1)

        async def client():
            beamish.trap_exits(True)
            ref = beamish.monitor(ghost)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=5)
            beamish.link(ghost)
            exit_ = await beamish.receive(lambda m: isinstance(m, beamish.Exit), timeout=5)
            with pytest.raises(beamish.Exited) as info:
                await beamish.call(ghost, "anyone?", timeout=60)
            return down, ref, exit_, info.value.reason

        down, ref, exit_, reason = await on(a, client)
        assert down == beamish.Down(ref, ghost, "noproc")
        assert exit_ == beamish.Exit(ghost, "noproc")
        assert reason == "noproc"


async def test_every_message_the_mesh_drops_is_counted(net):
    """A send to a name nobody holds, a send relayed to a third node's pid and a send to a
    pid of this node's previous incarnation are dropped, each counted by kind; the
    connection stays up."""
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), b = started[A], started[B][0]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)
        with Recorder(telemetry.CLUSTER_MESSAGE_DROPPED) as dropped:

            async def client():
                beamish.send(("nobody", B), "lost")
                ca.connections[B].send(("send", beamish.Pid(C, 1, 1), "relay me"))
                beamish.send(beamish.Pid(A, 7, a.creation + 1), "to the past")
                return await beamish.call(pid, "still connected?")

            assert await on(a, client) == (B, "still connected?")
            seen = await dropped.wait_for(3)
        assert sorted((e["node"], e["peer"], e["kind"]) for e in seen) == [
            (A, A, "not_here"),
            (B, A, "not_here"),
            (B, A, "unknown_name"),
        ]


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (("link", "not a pid", None), "link.remote: not a pid"),
        (("monitor", None, None, None), "monitor.watcher: not a pid"),
        (("peers", {"x": 1}), "peers.peers: not a {name@host: address} dict"),
        (("spawn",), "spawn: 0 fields, expected 5"),
        (("rm -rf",), "unknown frame kind 'rm -rf'"),
    ],
)
async def test_a_frame_with_garbage_in_a_field_closes_that_connection_only(net, frame, why):
    """A frame with a field of the wrong type closes the connection it came on, counted
    with the field named; the receiving node runs on and takes new connections."""
    async with nodes(net.transport, [A, B, C]) as started:
        ca, b, c = started[A][1], started[B][0], started[C][0]
        await on(b, _start_echo)
        await ca.connect("mem://" + B)
        with Recorder(telemetry.CLUSTER_BAD_FRAME) as bad:
            ca.connections[B].send(frame)
            seen = await bad.wait_for(1)
        assert seen[0]["peer"] == A
        assert why in seen[0]["why"]

        async def ask():
            await cluster.connect("mem://" + B)
            return await beamish.call(("echo", B), "fine?")

        assert await on(c, ask) == (B, "fine?")
