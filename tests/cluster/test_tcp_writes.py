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
