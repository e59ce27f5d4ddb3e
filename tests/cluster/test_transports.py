"""Transports: the conformance suite over TCP, TLS and memory, and the simulated network."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import ByteStream, SocketAttribute

from beamish.cluster.transports import (
    Handler,
    Listener,
    MemoryNetwork,
    MemoryStream,
    MemoryTransport,
    TcpTransport,
    Transport,
)
from beamish.cluster.transports._base import split_host_port
from beamish.testing import check_transport

trustme = pytest.importorskip("trustme")

real_clock = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
"""Real sockets wait on real I/O: run them without trio's autojumping MockClock."""


@pytest.fixture(scope="module")
def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A client and a server context trusting a throwaway CA with a cert for 127.0.0.1."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return client, server


@asynccontextmanager
async def serving(transport: Transport, address: str, handler: Handler) -> AsyncIterator[Listener]:
    listener = await transport.listen(address)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        yield listener
        await listener.aclose()


class Accepted:
    """A handler that hands each accepted stream to the test and keeps it open until told."""

    def __init__(self) -> None:
        self.streams: list[ByteStream] = []
        self._taken = 0
        self._arrived = anyio.Event()
        self.done = anyio.Event()

    async def __call__(self, stream: ByteStream) -> None:
        async with stream:
            self.streams.append(stream)
            self._arrived.set()
            await self.done.wait()

    async def next(self) -> ByteStream:
        """The next accepted stream, once it arrives."""
        while len(self.streams) <= self._taken:
            self._arrived = anyio.Event()
            await self._arrived.wait()
        self._taken += 1
        return self.streams[self._taken - 1]


# --- conformance --------------------------------------------------------------------------


@real_clock
@pytest.mark.anyio
async def test_tcp_conforms() -> None:
    """Plain TCP on 127.0.0.1 passes the transport conformance suite."""
    await check_transport(TcpTransport(), TcpTransport(), "127.0.0.1:0")


@real_clock
@pytest.mark.anyio
async def test_tls_conforms(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """TCP with TLS (a self-signed CA made at test time) passes the conformance suite."""
    client_ctx, server_ctx = tls_contexts
    server = TcpTransport(server_ssl_context=server_ctx)
    client = TcpTransport(ssl_context=client_ctx)
    await check_transport(server, client, "127.0.0.1:0")


@pytest.mark.anyio
async def test_memory_conforms() -> None:
    """The in-memory transport passes the conformance suite between two nodes."""
    net = MemoryNetwork()
    await check_transport(net.transport("server"), net.transport("client"), "mem://server")


@pytest.mark.anyio
async def test_memory_conforms_with_delay() -> None:
    """The in-memory transport still conforms with a delivery delay on the network."""
    net = MemoryNetwork()
    net.set_delay(0.01)
    await check_transport(net.transport("server"), net.transport("client"), "")


# --- TCP specifics -------------------------------------------------------------------------


@real_clock
@pytest.mark.anyio
async def test_tcp_sets_nodelay_and_reports_the_picked_port() -> None:
    """Port 0 gives a real port in .address, and both ends of a connection have TCP_NODELAY."""
    accepted = Accepted()
    async with serving(TcpTransport(), "127.0.0.1:0", accepted) as listener:
        host, port = split_host_port(listener.address)
        assert host == "127.0.0.1"
        assert port != 0
        async with await TcpTransport().connect(listener.address) as client:
            server = await accepted.next()
            for stream in (client, server):
                sock = stream.extra(SocketAttribute.raw_socket)
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            accepted.done.set()


@real_clock
@pytest.mark.anyio
async def test_tcp_connect_refused_is_a_connection_error() -> None:
    """Dialling a port nobody listens on raises ConnectionError promptly."""
    listener = await TcpTransport().listen("127.0.0.1:0")
    address = listener.address
    await listener.aclose()
    with anyio.fail_after(10), pytest.raises(ConnectionError):
        await TcpTransport().connect(address, timeout=5.0)


@real_clock
@pytest.mark.anyio
async def test_tls_client_rejects_an_untrusted_server(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """A client that does not trust the server's CA gets ConnectionError, and no handler runs."""
    _, server_ctx = tls_contexts
    handled: list[ByteStream] = []

    async def handler(stream: ByteStream) -> None:
        handled.append(stream)
        await stream.aclose()

    untrusting = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    async with serving(TcpTransport(server_ssl_context=server_ctx), "127.0.0.1:0", handler) as lst:
        with pytest.raises(ConnectionError):
            await TcpTransport(ssl_context=untrusting).connect(lst.address)
    assert handled == []


def test_tcp_rejects_a_malformed_address() -> None:
    """An address without a numeric port is a ValueError, before any I/O."""
    with pytest.raises(ValueError, match="host:port"):
        split_host_port("localhost")


# --- the simulated network -----------------------------------------------------------------


class Net(MemoryNetwork):
    """A network whose listeners are served in a task group that the test owns."""

    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        super().__init__()
        self.tg = tg

    async def connected(
        self, client: str, server: str
    ) -> tuple[MemoryStream, MemoryStream, Accepted]:
        """A connection from node ``client`` to a new listener of node ``server``."""
        accepted = Accepted()
        listener = await self.transport(server).listen("")
        self.tg.start_soon(listener.serve, accepted)
        stream = await self.transport(client).connect(listener.address)
        peer = await accepted.next()
        assert isinstance(peer, MemoryStream)
        return stream, peer, accepted


@asynccontextmanager
async def network() -> AsyncIterator[Net]:
    """A simulated network; whatever it still serves is cancelled at the end."""
    async with anyio.create_task_group() as tg:
        yield Net(tg)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_memory_addresses_and_refusal() -> None:
    """Non-mem:// addresses pick mem://<node>(-n), taken ones raise, and nobody home refuses."""
    net = MemoryNetwork()
    transport = net.transport("a")
    assert isinstance(transport, MemoryTransport)
    first = await transport.listen("127.0.0.1:0")
    second = await transport.listen("")
    assert (first.address, second.address) == ("mem://a", "mem://a-2")
    with pytest.raises(OSError, match="in use"):
        await net.transport("b").listen("mem://a")
    with pytest.raises(ConnectionRefusedError):
        await transport.connect("mem://nobody")
    await first.aclose()
    with pytest.raises(ConnectionRefusedError):
        await transport.connect("mem://a")


@pytest.mark.anyio
async def test_partition_breaks_connections_and_refuses_new_ones() -> None:
    """A detected partition breaks both ends of a connection and fails new connects at once."""
    async with network() as net:
        a_end, b_end, accepted = await net.connected("a", "b")
        await a_end.send(b"in flight")
        net.partition("a", "b")
        assert net.is_partitioned("b", "a")
        for stream in (a_end, b_end):
            with pytest.raises(anyio.BrokenResourceError):
                await stream.receive()
            with pytest.raises(anyio.BrokenResourceError):
                await stream.send(b"x")
        with pytest.raises(ConnectionError):
            await net.transport("a").connect("mem://b")
        accepted.done.set()


@pytest.mark.anyio
async def test_partition_groups_cut_only_across_groups() -> None:
    """partition_groups cuts links between the groups and leaves links within a group alone."""
    async with network() as net:
        ab, _, acc1 = await net.connected("a", "b")
        ac, ca, acc2 = await net.connected("a", "c")
        net.partition_groups(["a", "c"], ["b"])
        with pytest.raises(anyio.BrokenResourceError):
            await ab.receive()
        await ac.send(b"still here")
        assert await ca.receive() == b"still here"
        assert net.is_partitioned("c", "b")
        assert not net.is_partitioned("a", "c")
        acc1.done.set()
        acc2.done.set()


@pytest.mark.anyio
async def test_heal_lets_new_connections_through() -> None:
    """After heal() broken connections stay broken but new ones carry data again."""
    async with network() as net:
        old, _, acc1 = await net.connected("a", "b")
        net.partition("a", "b")
        net.heal()
        assert not net.is_partitioned("a", "b")
        with pytest.raises(anyio.BrokenResourceError):
            await old.send(b"x")
        fresh = await net.transport("a").connect("mem://b")
        peer = await acc1.next()
        await fresh.send(b"hello again")
        assert await peer.receive() == b"hello again"
        acc1.done.set()


@pytest.mark.anyio
async def test_silent_partition_drops_until_healed() -> None:
    """A silent partition keeps connections up but drops sends, in flight too, until heal()."""
    async with network() as net:
        net.set_delay(0.1)
        a_end, b_end, accepted = await net.connected("a", "b")
        await a_end.send(b"in flight")
        net.partition("a", "b", silent=True)
        await a_end.send(b"dropped at send")
        await b_end.send(b"dropped too")
        with anyio.move_on_after(0.3) as scope:  # refute: past the delay, nothing arrives
            await b_end.receive()
        assert scope.cancelled_caught, "data crossed a silent partition"
        assert net.statistics().dropped == 3
        net.heal()
        net.set_delay(0.0)
        await a_end.send(b"after heal")
        assert await b_end.receive() == b"after heal"
        accepted.done.set()


@pytest.mark.anyio
async def test_a_close_is_not_seen_across_a_silent_partition_until_the_heal() -> None:
    """As a lost FIN: the other end's receive goes on waiting (only its heartbeat could tell),
    its sends are dropped, not refused; after the heal it reads the end of the stream."""
    async with network() as net:
        a_end, b_end, accepted = await net.connected("a", "b")
        net.partition("a", "b", silent=True)
        await b_end.aclose()
        with anyio.move_on_after(0.3) as scope:  # refute: the close does not cross the cut
            await a_end.receive()
        assert scope.cancelled_caught, "a close crossed a silent partition"
        await a_end.send(b"into the void")
        assert net.statistics().dropped == 1
        async with anyio.create_task_group() as tg:

            async def heal_when_waiting() -> None:
                await anyio.wait_all_tasks_blocked()
                net.heal()

            tg.start_soon(heal_when_waiting)
            with pytest.raises(anyio.EndOfStream), anyio.fail_after(5):
                await a_end.receive()
        with pytest.raises(anyio.BrokenResourceError):
            await a_end.send(b"after the heal")
        accepted.done.set()


@pytest.mark.anyio
async def test_silent_partition_connect_times_out_or_waits_for_heal() -> None:
    """Across a silent cut connect times out with ConnectionError, or succeeds once healed."""
    async with network() as net:
        _, _, accepted = await net.connected("x", "b")
        net.partition("a", "b", silent=True)
        with pytest.raises(ConnectionError, match="timed out"):
            await net.transport("a").connect("mem://b", timeout=0.5)

        async def heal_when_connecting() -> None:
            await anyio.wait_all_tasks_blocked()
            net.heal()

        async with anyio.create_task_group() as tg:
            tg.start_soon(heal_when_connecting)
            stream = await net.transport("a").connect("mem://b", timeout=30)
        assert isinstance(stream, MemoryStream)
        accepted.done.set()


@pytest.mark.anyio
async def test_delay_delays_delivery_in_order(anyio_backend_name: str) -> None:
    """set_delay holds each send back that long on the anyio clock, keeping order."""
    async with network() as net:
        a_end, b_end, accepted = await net.connected("a", "b")
        net.set_delay(0.25)
        start = anyio.current_time()
        await a_end.send(b"one ")
        await a_end.send(b"two")
        data = b""
        while len(data) < 7:
            data += await b_end.receive()
        assert data == b"one two"
        elapsed = anyio.current_time() - start
        assert elapsed >= 0.25
        if anyio_backend_name == "trio":  # MockClock: virtual time, so exact
            assert elapsed == pytest.approx(0.25)
        accepted.done.set()


@pytest.mark.anyio
async def test_drop_rate_drops_a_seeded_fraction_of_whole_sends() -> None:
    """set_drop_rate drops whole sends, the same ones for the same seed, about p of them."""

    async def survivors(seed: int) -> list[int]:
        async with network() as net:
            a_end, b_end, accepted = await net.connected("a", "b")
            net.set_drop_rate(0.3, seed=seed)
            for i in range(1000):
                await a_end.send(i.to_bytes(2, "big"))
            await a_end.aclose()
            data = b""
            while True:
                try:
                    data += await b_end.receive()
                except anyio.EndOfStream:
                    break
            stats = net.statistics()
            assert stats.sends == 1000
            accepted.done.set()
            received = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
            assert stats.dropped == 1000 - len(received)
            return received

    first, again, other = await survivors(7), await survivors(7), await survivors(8)
    assert first == again
    assert first != other
    assert first == sorted(first), "survivors arrive in order"
    assert 600 < len(first) < 800


@pytest.mark.anyio
async def test_network_rejects_bad_settings() -> None:
    """A negative delay or a drop rate outside [0, 1] is a ValueError."""
    net = MemoryNetwork()
    with pytest.raises(ValueError, match="delay"):
        net.set_delay(-1)
    with pytest.raises(ValueError, match="drop rate"):
        net.set_drop_rate(1.5)


@pytest.mark.anyio
async def test_statistics_count_live_connections() -> None:
    """statistics().connections counts a connection until both of its ends are closed."""
    async with network() as net:
        a_end, b_end, accepted = await net.connected("a", "b")
        assert net.statistics().connections == 1
        await a_end.aclose()
        assert net.statistics().connections == 1
        accepted.done.set()
        with anyio.fail_after(5):
            while net.statistics().connections:
                await anyio.wait_all_tasks_blocked()
        assert b_end.remote_node == "a"


@pytest.mark.anyio
async def test_listener_close_resets_unaccepted_connections() -> None:
    """A connection queued on a listener that closes before serving it is reset."""
    net = MemoryNetwork()
    listener = await net.transport("b").listen("mem://b")
    stream = await net.transport("a").connect(listener.address)
    await listener.aclose()
    with pytest.raises(anyio.BrokenResourceError):
        await stream.receive()
