"""Writes over TCP: bursts larger than the socket's buffer arrive whole and in order."""

import hashlib

import anyio
import anyio.lowlevel
import pytest
from meshkit import on
from test_tcp_mesh import WAIT, tcp_nodes

import beamish

pytestmark = pytest.mark.anyio

A, B = "a@127.0.0.1", "b@127.0.0.1"
BIG = 1024 * 1024


def digest(message):
    return hashlib.sha256(message).hexdigest() if isinstance(message, bytes) else message


async def collector(count):
    """Receives its owner's pid, then ``count`` messages; sends the owner their digests,
    in arrival order."""
    owner = await beamish.receive()
    beamish.send(owner, [digest(await beamish.receive()) for _ in range(count)])


async def test_bursts_bigger_than_the_socket_buffer_arrive_whole_and_in_order():
    """Many frames queued at once (megabytes, so writes to the socket are partial) and
    single small frames in between all arrive, intact, in the order they were sent."""
    async with tcp_nodes([A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        assert await ca.connect(cb.address) == B
        messages = []
        for burst in range(4):
            messages += [bytes([burst, i]) * (BIG // 2) for i in range(8)]  # one big batch
            messages.append(burst)  # then one small frame on its own

        async def start_collector():
            return beamish.spawn(collector, len(messages))

        pid = await on(b, start_collector)

        async def sender():
            beamish.send(pid, beamish.self())
            for burst in range(4):
                for message in messages[burst * 9 : burst * 9 + 9]:
                    beamish.send(pid, message)
                await anyio.lowlevel.checkpoint()  # the writer runs: the next is a new batch
            return await beamish.receive(timeout=WAIT * 3)

        with anyio.fail_after(WAIT * 4):
            assert await on(a, sender) == [digest(m) for m in messages]


class Log(beamish.Actor):
    """Records ``(tag, i, intact)`` for every cast and call, in arrival order."""

    def init(self):
        self.seen = []

    def _record(self, message):
        tag, i, payload = message
        self.seen.append((tag, i, payload == bytes([i % 256]) * len(payload)))

    def handle_cast(self, message):
        self._record(message)

    def handle_call(self, request, caller):
        if request == "log":
            return self.seen
        self._record(request)
        return request[1]


async def _caster(log, owner, count):
    for i in range(count):
        beamish.cast(log, ("cast", i, bytes([i % 256]) * (BIG // 4)))
        if i % 4 == 3:
            await anyio.lowlevel.checkpoint()  # the writer takes a batch
    beamish.send(owner, "casts sent")


async def _caller(log, owner, count):
    for i in range(count):
        size = BIG * 4 if i % 2 else 100  # a big one: written in part, the rest spills
        assert await beamish.call(log, ("call", i, bytes([i % 256]) * size), timeout=WAIT) == i
    beamish.send(owner, "calls answered")


async def test_calls_written_at_once_never_overtake_what_is_queued_or_in_flight():
    """A call's request (and its reply) is written by the calling task when the writer is
    idle. With casts streaming from another process of the same node, megabyte calls
    (partial writes) and small ones all arrive intact, each sender's in its order, and
    every call is answered."""
    async with tcp_nodes([A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        assert await ca.connect(cb.address) == B
        log = await on(b, Log.start)
        casts, calls = 40, 10

        async def senders():
            me = beamish.self()
            beamish.spawn(_caster, log, me, casts)
            beamish.spawn(_caller, log, me, calls)
            done = {await beamish.receive(timeout=WAIT * 3) for _ in range(2)}
            assert done == {"casts sent", "calls answered"}
            return await beamish.call(log, "log", timeout=WAIT * 3)

        with anyio.fail_after(WAIT * 6):
            seen = await on(a, senders)
        assert all(intact for _, _, intact in seen)
        assert [i for tag, i, _ in seen if tag == "cast"] == list(range(casts))
        assert [i for tag, i, _ in seen if tag == "call"] == list(range(calls))


async def test_a_write_from_the_calling_task_to_a_reset_connection_closes_it_quietly():
    """A call's request is written by the calling task: when the peer has reset the
    connection, that write fails; the caller sees no error (the connection closes, and
    the mesh fires noconnection for what crossed it), as for any lost connection."""
    import socket
    import struct

    from beamish.cluster._connection import Connection
    from beamish.cluster._framing import FrameDecoder
    from beamish.cluster._handshake import Peer
    from beamish.cluster._wire import Codec

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        accepted = await listener.listeners[0].accept()
        raw = accepted.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await accepted.aclose()  # a reset, not an orderly close: no await after it
        conn = Connection(
            stream,
            Peer("gone@127.0.0.1", 1),
            Codec(),
            FrameDecoder(),
            lambda conn, message: None,
            outgoing=True,
            heartbeat=15.0,
        )
        conn.send_encoded(b"\x01" * 1024, now=True)  # (over loopback the reset is there)
        assert "connection lost while writing" in conn.reason
        await stream.aclose()
