"""The mesh over real TCP on 127.0.0.1: remote processes, and peers that misbehave."""

from __future__ import annotations

import contextlib
import logging
import random
import struct

import anyio
import pytest
from meshkit import Echo, Recorder, on, until_connected

import beamish
from beamish import cluster
from beamish.cluster._framing import FrameDecoder, encode_frame
from beamish.cluster._handshake import Initiator, proof_of
from beamish.cluster._mesh import HANDSHAKE_FAILED, NODE_DOWN
from beamish.cluster._wire import Codec
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    # Real sockets wait on real I/O: no trio MockClock here (the global conftest's default).
    pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"]),
    pytest.mark.timeout(30),
]

A, B, C = "a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1"
COOKIE = "tcp-test-cookie"
BAD_FRAME = ("beamish", "cluster", "bad_frame")
WAIT = 10  # seconds: the bound on every wait for something that should happen at once


@contextlib.asynccontextmanager
async def tcp_nodes(names, *, cookies=None, handshake_timeout=5.0, heartbeat=15.0):
    """One node per name, distributed over TCP on 127.0.0.1; yields {name: (node, cluster)}."""
    started = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in names:
            node = await stack.enter_async_context(beamish.runtime.start(name=name))
            started[name] = (
                node,
                await stack.enter_async_context(
                    cluster.start(
                        cookie=(cookies or {}).get(name, COOKIE),
                        transport=TcpTransport(),
                        listen="127.0.0.1:0",
                        discovery=False,
                        heartbeat=heartbeat,
                        handshake_timeout=handshake_timeout,
                    )
                ),
            )
        yield started


async def _start_echo():
    return await Echo.start(name="echo")


async def _still_serving(client_node, server):
    """A fresh call from ``client_node`` to the echo server on ``server`` is answered."""

    async def client():
        return await beamish.call(("echo", server), "still there?", timeout=WAIT)

    assert await on(client_node, client) == (server, "still there?")


async def _raw_connect(address):
    host, _, port = address.rpartition(":")
    return await anyio.connect_tcp(host, int(port))


async def _closed_by_peer(stream, timeout=WAIT):
    """Read (and drop) until the peer closes ``stream``; fail if it stays open."""
    with anyio.fail_after(timeout):
        try:
            while True:
                await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            return


# ---------------------------------------------------------------------------------------
# The test_mesh.py scenarios, over TCP
# ---------------------------------------------------------------------------------------


async def test_call_and_cast_by_name_over_tcp():
    """A process on A reaches a named server on B over TCP by (name, node): call and cast."""
    async with tcp_nodes([A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        await on(b, _start_echo)
        assert await ca.connect(cb.address) == B

        async def client():
            reply = await beamish.call(("echo", B), "ping")
            beamish.cast(("echo", B), (beamish.self(), "hello"))
            return reply, await beamish.receive(timeout=WAIT)

        assert await on(a, client) == ((B, "ping"), ("cast", "hello"))


async def test_remote_link_and_monitor_carry_the_crash_reason_over_tcp():
    """A remote link and monitor over TCP fire with the remote crash's exception."""
    async with tcp_nodes([A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect(cb.address)

        async def client():
            beamish.trap_exits(True)
            beamish.link(pid)
            ref = beamish.monitor(pid)
            with pytest.raises(beamish.Exited) as info:
                await beamish.call(pid, "crash")
            exit_ = await beamish.receive(lambda m: isinstance(m, beamish.Exit), timeout=WAIT)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=WAIT)
            return info.value.reason, exit_, down, ref

        reason, exit_, down, ref = await on(a, client)
        assert (type(reason), str(reason)) == (ValueError, "echo crashed")
        assert (exit_.pid, type(exit_.reason), str(exit_.reason)) == (
            pid,
            ValueError,
            "echo crashed",
        )
        assert (down.ref, down.pid, type(down.reason)) == (ref, pid, ValueError)


async def test_remote_kill_over_tcp():
    """exit(remote_pid, "kill") over TCP kills it; the monitor says killed."""
    async with tcp_nodes([A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect(cb.address)

        async def client():
            ref = beamish.monitor(pid)
            beamish.exit(pid, "kill")
            return ref, await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=WAIT)

        ref, down = await on(a, client)
        assert down == beamish.Down(ref, pid, "killed")
        assert not b.is_alive(pid)


async def test_full_mesh_of_three_over_tcp():
    """B connects to A and C over TCP; A and C learn of each other and connect directly."""
    async with tcp_nodes([A, B, C]) as started:
        (a, ca), (_, cb), (c, cc) = started[A], started[B], started[C]
        await cb.connect(ca.address)
        await cb.connect(cc.address)
        await until_connected(ca, [B, C])
        await until_connected(cc, [A, B])
        assert (ca.nodes(), cb.nodes(), cc.nodes()) == ([B, C], [A, C], [A, B])
        await on(c, _start_echo)

        async def client():
            return await beamish.call(("echo", C), "via the mesh", timeout=WAIT)

        assert await on(a, client) == (C, "via the mesh")
        assert ca.addresses[C] == cc.address  # C's listening address came over the mesh


async def test_remote_spawn_with_link_over_tcp():
    """cluster.spawn starts an importable function on B over TCP, linked to the caller."""
    async with tcp_nodes([A, B]) as started:
        (a, ca), (_, cb) = started[A], started[B]
        await ca.connect(cb.address)

        async def client():
            beamish.trap_exits(True)
            pid = await cluster.spawn(B, beamish.sleep, 0, link=True)
            return pid, await beamish.receive(lambda m: isinstance(m, beamish.Exit), timeout=WAIT)

        pid, exit_ = await on(a, client)
        assert pid.node == B
        assert exit_ == beamish.Exit(pid, "normal")


async def test_node_stopping_fires_noconnection_over_tcp():
    """When B's distribution stops, A's link, monitor and monitor_node fire (noconnection)."""
    async with tcp_nodes([A]) as started_a:
        a, ca = started_a[A]
        results = {}
        ready = anyio.Event()
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as group:
                async with tcp_nodes([B]) as started_b:
                    b, cb = started_b[B]
                    pid = await on(b, _start_echo)
                    await ca.connect(cb.address)

                    async def watcher():
                        beamish.trap_exits(True)
                        beamish.link(pid)
                        results["ref"] = beamish.monitor(pid)
                        cluster.monitor_node(B)
                        assert await beamish.call(pid, "up?") == (B, "up?")
                        ready.set()
                        got = {}
                        while len(got) < 3:
                            message = await beamish.receive(timeout=WAIT)
                            got[type(message).__name__] = message
                        results["got"] = got

                    group.start_soon(on, a, watcher)
                    await ready.wait()
                # B's distribution (then B) stopped here: the watcher sees it go
        got, ref = results["got"], results["ref"]
        assert got["Exit"] == beamish.Exit(pid, "noconnection")
        assert got["Down"] == beamish.Down(ref, pid, "noconnection")
        assert got["NodeDown"].node == B


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


async def test_wrong_cookie_is_refused_logged_and_the_node_keeps_serving(caplog):
    """A node with another cookie is refused (logged, counted); A keeps serving B."""
    caplog.set_level(logging.WARNING, logger="beamish.cluster")
    async with tcp_nodes([A, B, C], cookies={C: "not-the-cookie"}) as started:
        (a, ca), (b, cb), (_, cc) = started[A], started[B], started[C]
        await on(a, _start_echo)
        with Recorder(HANDSHAKE_FAILED, node=A) as refused_at_a:
            with pytest.raises(ConnectionError, match="did not prove the cookie"):
                await cc.connect(ca.address)
            await refused_at_a.wait_for(1)
        assert ca.nodes() == []
        assert cc.nodes() == []
        assert any("did not prove the cookie" in r.getMessage() for r in caplog.records)
        assert any(
            r.getMessage().startswith(f"{A}: handshake with an incoming connection failed")
            for r in caplog.records
        )
        await cb.connect(ca.address)
        await _still_serving(b, A)


async def test_impostor_with_a_wrong_cookie_proof_is_refused_and_logged(caplog):
    """A raw client that answers the challenge with a proof from another cookie is dropped."""
    caplog.set_level(logging.WARNING, logger="beamish.cluster")
    async with tcp_nodes([A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        await on(a, _start_echo)
        codec, decoder = Codec(), FrameDecoder()
        with Recorder(HANDSHAKE_FAILED, node=A) as refused:
            stream = await _raw_connect(ca.address)
            async with stream:
                hello = Initiator("mallory@127.0.0.1", 1, b"a guess").hello()
                await stream.send(encode_frame(codec.encode(hello)))
                challenge = await _read_message(stream, decoder, codec)
                assert challenge["name"] == A
                proof = proof_of(
                    b"a guess", "initiator", challenge["nonce"], "mallory@127.0.0.1", A
                )
                await stream.send(encode_frame(codec.encode({"proof": proof})))
                await _closed_by_peer(stream)
            seen = await refused.wait_for(1)
        assert "did not prove the cookie" in seen[0]["why"]
        assert any(
            "mallory@127.0.0.1 did not prove the cookie" in r.getMessage() for r in caplog.records
        )
        assert ca.nodes() == []
        await cb.connect(ca.address)
        await _still_serving(b, A)


def _garbage():
    """Seeded random bytes that are not a version-1 frame header."""
    data = bytearray(random.Random(20261124).randbytes(256))
    data[0] = 0xA7
    return bytes(data)


GARBAGE = {
    "random_bytes": _garbage(),
    "wrong_version_byte": b"\x02" + encode_frame(Codec().encode({"hello": 1}))[1:],
    "oversized_length": struct.pack(">BI", 1, 0xFFFF_FFF0) + b"x" * 64,
    "undecodable_payload": encode_frame(b"\xc1\xc1\xc1\xc1"),
    "not_a_hello": encode_frame(Codec().encode(["send", "anything"])),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
async def test_garbage_before_the_handshake_is_dropped_counted_and_harmless(kind):
    """A raw client sending garbage instead of a hello is disconnected and counted; a peer
    connected before it, and one connecting after it, are both served."""
    async with tcp_nodes([A, B, C]) as started:
        (a, ca), (b, cb), (c, cc) = started[A], started[B], started[C]
        await on(a, _start_echo)
        await cb.connect(ca.address)
        with Recorder(HANDSHAKE_FAILED, node=A) as failed:
            stream = await _raw_connect(ca.address)
            async with stream:
                with contextlib.suppress(anyio.BrokenResourceError, OSError):
                    await stream.send(GARBAGE[kind])
                await _closed_by_peer(stream, timeout=2)  # well before the 5 s handshake timeout
            await failed.wait_for(1)
        assert len(failed.seen) == 1
        assert ca.nodes() == [B]
        await _still_serving(b, A)
        await cc.connect(ca.address)
        await _still_serving(c, A)
        # C learnt of B from A and connects to it: let that finish before the nodes stop
        # (a handshake cancelled by the node stopping leaks its socket: see the report)
        await until_connected(cc, [A, B])


async def test_silent_client_is_dropped_after_the_handshake_timeout():
    """A client that connects and says nothing is dropped after handshake_timeout, counted,
    and the node serves peers during and after that time."""
    async with tcp_nodes([A, B], handshake_timeout=0.5) as started:
        (a, ca), (b, cb) = started[A], started[B]
        await on(a, _start_echo)
        with Recorder(HANDSHAKE_FAILED, node=A) as failed:
            silent = await _raw_connect(ca.address)
            half = await _raw_connect(ca.address)  # and one that stops inside a frame
            async with silent, half:
                started_at = anyio.current_time()
                await half.send(encode_frame(Codec().encode({"hello": 1}))[:7])
                await cb.connect(ca.address)  # served while the two are pending
                await _still_serving(b, A)
                await _closed_by_peer(silent, timeout=WAIT)
                await _closed_by_peer(half, timeout=WAIT)
                waited = anyio.current_time() - started_at
            seen = await failed.wait_for(2)
        assert 0.4 <= waited < 4, waited
        assert [s["why"] for s in seen] == ["TimeoutError", "TimeoutError"]
        await _still_serving(b, A)


async def _read_message(stream, decoder, codec, *, then_more=False):
    """One handshake message; the welcome may come with the connection's first frames."""
    pending = []
    while not pending:
        pending.extend(decoder.feed(await stream.receive()))
    assert then_more or len(pending) == 1
    return codec.decode(pending[0])


@contextlib.asynccontextmanager
async def _handshaken(address, name="raw@127.0.0.1"):
    """A raw socket that completed the handshake by hand (Initiator, codec, framing)."""
    codec, decoder = Codec(), FrameDecoder()
    stream = await _raw_connect(address)
    async with stream:
        initiator = Initiator(name, 1, COOKIE.encode())
        await stream.send(encode_frame(codec.encode(initiator.hello())))
        proof = initiator.on_challenge(await _read_message(stream, decoder, codec))
        await stream.send(encode_frame(codec.encode(proof)))
        initiator.on_welcome(await _read_message(stream, decoder, codec, then_more=True))
        yield stream


BAD_AFTER_HANDSHAKE = {
    "wrong_version_byte": b"\x09" + encode_frame(Codec().encode(("tick",)))[1:],
    "oversized_length": struct.pack(">BI", 1, 0x7FFF_FFFF),
    "undecodable_payload": encode_frame(b"\xc1"),
    "unknown_operation": encode_frame(Codec().encode(("format_disk", "/"))),
    "malformed_operation": encode_frame(Codec().encode(("send",))),
}


@pytest.mark.parametrize("kind", list(BAD_AFTER_HANDSHAKE))
async def test_garbage_after_the_handshake_closes_that_connection_only(kind):
    """A peer that sends a bad frame after a good handshake is closed and counted as a
    bad frame (and reported down); another peer's connection carries on untouched."""
    async with tcp_nodes([A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        await on(a, _start_echo)
        await cb.connect(ca.address)
        with Recorder(BAD_FRAME) as bad, Recorder(NODE_DOWN, node=A) as down:
            async with _handshaken(ca.address) as stream:
                good = encode_frame(Codec().encode(("tick",)))
                await stream.send(good)  # a valid frame first: the link is really up
                with contextlib.suppress(anyio.BrokenResourceError, OSError):
                    await stream.send(BAD_AFTER_HANDSHAKE[kind])
                await _closed_by_peer(stream)
            seen = await bad.wait_for(1)
            lost = await down.wait_for(1)
        assert seen[0]["peer"] == "raw@127.0.0.1"
        assert lost[0]["peer"] == "raw@127.0.0.1"
        assert ca.nodes() == [B]
        await _still_serving(b, A)
