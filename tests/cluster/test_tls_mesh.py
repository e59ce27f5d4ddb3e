"""Two nodes over TLS on 127.0.0.1: the cookie handshake and remote calls inside TLS."""

import contextlib
import ssl

import pytest
import trustme
from meshkit import COOKIE, Echo, on

import beamish
from beamish import cluster
from beamish.cluster.transports import TcpTransport

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    """Real sockets need a real clock: no MockClock here."""
    return request.param


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return TcpTransport(ssl_context=client, server_ssl_context=server)


@contextlib.asynccontextmanager
async def tls_node(name, transport):
    async with beamish.runtime.start(name=name) as the_node:
        async with cluster.start(
            cookie=COOKIE, transport=transport, listen="127.0.0.1:0", discovery=False
        ) as the_cluster:
            yield the_node, the_cluster


async def test_call_across_tls(tls):
    """A call crosses a TLS connection between two nodes."""
    async with tls_node("a@127.0.0.1", tls) as (a, ca), tls_node("b@127.0.0.1", tls) as (b, cb):
        pid = await on(b, Echo.start)
        assert await ca.connect(cb.address) == "b@127.0.0.1"

        async def client():
            return await beamish.call(pid, "secret")

        assert await on(a, client) == ("b@127.0.0.1", "secret")


async def test_plain_client_cannot_reach_a_tls_node(tls):
    """A node without TLS cannot connect to a TLS node; the TLS node keeps serving."""
    async with tls_node("a@127.0.0.1", tls) as (_, ca):
        async with tls_node("p@127.0.0.1", TcpTransport()) as (_, plain):
            with pytest.raises(ConnectionError):
                await plain.connect(ca.address)
        async with tls_node("b@127.0.0.1", tls) as (_, cb):
            assert await cb.connect(ca.address) == "a@127.0.0.1"


async def test_unknown_node_name_is_nodedown_not_a_crash():
    """Sending to or watching a node whose address nobody knows gives NodeDown; the node
    keeps running."""
    async with tls_node("a@127.0.0.1", TcpTransport()) as (a, _):

        async def client():
            cluster.monitor_node("ghost@nowhere")
            beamish.send(("anyone", "ghost@nowhere"), "hello?")
            down = await beamish.receive(lambda m: isinstance(m, cluster.NodeDown), timeout=5)
            return down.node, await beamish.call(await Echo.start(), "alive")

        assert await on(a, client) == ("ghost@nowhere", ("a@127.0.0.1", "alive"))


async def test_a_handshake_cancelled_midway_closes_its_socket():
    """Cancelling connect() while the peer stays mute leaves no socket open."""
    import gc
    import warnings

    import anyio

    async def mute(stream):
        async with stream:
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, mute)
            async with tls_node("a@127.0.0.1", TcpTransport()) as (_, ca):
                with anyio.move_on_after(0.3) as scope:
                    await ca.connect(f"127.0.0.1:{port}")
                assert scope.cancelled_caught
            group.cancel_scope.cancel()
        await listener.aclose()
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
