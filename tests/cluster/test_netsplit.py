"""Dialling from a chosen local address (``TcpTransport(local_host=...)``), and the
``netsplit`` relays that the OS-process partition tests cut the network with: a cut holds
the bytes of a pair's connections (both stay open) and heal lets them through."""

from __future__ import annotations

import anyio
import pytest
from anyio.abc import SocketAttribute
from netsplit import LOOPBACK_ALIASES, netsplit

from beamish.cluster.transports import TcpTransport
from beamish.testing import check_transport

pytestmark = [
    pytest.mark.skipif(not LOOPBACK_ALIASES, reason="needs 127.0.0.2 and up"),
    pytest.mark.anyio,
    pytest.mark.timeout(30),
]
real_clock = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])  # real sockets


@real_clock
async def test_local_host_is_the_address_peers_see() -> None:
    seen: list[str] = []
    arrived = anyio.Event()
    listener = await TcpTransport().listen("127.0.0.1:0")

    async def handler(stream):
        async with stream:
            seen.append(stream.extra(SocketAttribute.remote_address)[0])
            arrived.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        with anyio.fail_after(5):
            async with await TcpTransport(local_host="127.0.0.3").connect(listener.address):
                await arrived.wait()
        await listener.aclose()
    assert seen == ["127.0.0.3"]


@real_clock
async def test_tcp_with_local_host_conforms() -> None:
    await check_transport(TcpTransport(), TcpTransport(local_host="127.0.0.2"), "127.0.0.1:0")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # anyio on trio leaks the socket
async def test_an_unbindable_local_host_is_a_connection_error() -> None:
    listener = await TcpTransport().listen("127.0.0.1:0")
    with pytest.raises(ConnectionError):
        await TcpTransport(local_host="192.0.2.1").connect(listener.address, timeout=5)
    await listener.aclose()


@real_clock
async def test_a_cut_holds_a_pairs_bytes_and_heal_delivers_them() -> None:
    """b's connection to a's relay carries bytes; cut: the connection stays open (relayed)
    and a's byte waits; heal: it arrives, in order. c, on no side of the cut, flows."""
    send, inbox = anyio.create_memory_object_stream[bytes](10)

    async def upstream(stream):
        async with stream:
            async for data in stream:
                await send.send(data)

    target = await TcpTransport().listen("127.0.0.2:0")
    async with netsplit() as net, anyio.create_task_group() as tg:
        tg.start_soon(target.serve, upstream)
        a, b, c = [await net.member(short) for short in "abc"]
        a.attach(target.address)
        with anyio.fail_after(10):
            from_b = await TcpTransport(local_host=b.host).connect(a.relay)
            from_c = await TcpTransport(local_host=c.host).connect(a.relay)
            await from_b.send(b"1")
            assert await inbox.receive() == b"1"
            await from_c.send(b"0")
            assert await inbox.receive() == b"0"
            assert net.relayed() == {frozenset("ab"), frozenset("ac")}
            net.cut(["a"], ["b"])
            await from_b.send(b"2")
            await from_c.send(b"c")
            assert await inbox.receive() == b"c"  # c flows, b's byte waits
            assert net.relayed() == {frozenset("ab"), frozenset("ac")}  # still open
            net.heal()
            assert await inbox.receive() == b"2"
            await from_b.aclose()
            await from_c.aclose()
        await target.aclose()
        tg.cancel_scope.cancel()
    send.close()
    inbox.close()
