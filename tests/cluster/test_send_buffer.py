"""A peer that proved the cookie and then stops reading: what this node holds queued for it
is bounded by ``send_buffer_limit``; past it, that connection alone closes (its links and
monitors fire ``noconnection``), and is counted. Real OS processes over real TCP."""

from __future__ import annotations

import contextlib

import anyio
import anyio.lowlevel
import psutil
import pytest
from meshkit import Recorder, on, until_connected
from osnodes import COOKIE, HOST, WAIT, launcher

import beamish
from beamish import cluster, telemetry
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),  # real sockets: the real clock
    pytest.mark.timeout(60),
]

N1, N2, T = (f"{short}@{HOST}" for short in ("n1", "n2", "t"))
LIMIT = 2 * 1024 * 1024
CHUNK = b"x" * (64 * 1024)
FLOOD = 256 * 1024 * 1024  # 128 times the limit: an unbounded queue would hold it all


@contextlib.asynccontextmanager
async def distributed(**options):
    async with beamish.runtime.start(name=T) as node:
        async with cluster.start(
            cookie=COOKIE, transport=TcpTransport(), listen=f"{HOST}:0", discovery=False, **options
        ) as the_cluster:
            yield node, the_cluster


async def test_a_peer_that_stops_reading_costs_one_connection_and_bounded_memory(tmp_path):
    """n1 authenticates, then is SIGSTOPped; the test node floods it with 256 MiB of casts.
    The queue never holds more than the limit (and the process's memory does not grow by
    the flood), the connection to n1 closes, counted, a monitor of n1's process fires
    noconnection, and n2, connected all along, still answers."""
    async with launcher(tmp_path) as launch, distributed(send_buffer_limit=LIMIT) as (node, tc):
        n1, n2 = await launch(N1), await launch(N2)
        await tc.connect(n1.address)
        await tc.connect(n2.address)
        await until_connected(tc, [N1, N2], timeout=WAIT)

        async def client():
            victim = await beamish.call(("ctl", N1), ("victim",), timeout=WAIT)
            ref = beamish.monitor(victim)
            before = psutil.Process().memory_info().rss
            n1.stop()
            with Recorder(telemetry.CLUSTER_SEND_OVERFLOW, node=T) as overflow:
                sent = 0
                with anyio.fail_after(WAIT * 3):
                    while sent < FLOOD and not overflow.seen:
                        beamish.cast(("ctl", N1), (beamish.self(), CHUNK))
                        sent += len(CHUNK)
                        if sent % (16 * len(CHUNK)) == 0:
                            await anyio.lowlevel.checkpoint()  # the writer gets its turns
                grown = psutil.Process().memory_info().rss - before
                seen = await overflow.wait_for(1, timeout=WAIT)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=WAIT)
            answer = await beamish.call(("ctl", N2), ("echo", "still here"), timeout=WAIT)
            return sent, grown, seen, ref, victim, down, answer

        sent, grown, seen, ref, victim, down, answer = await on(node, client)
        assert sent < FLOOD, "the connection never closed"
        assert grown < 64 * 1024 * 1024, f"grew by {grown} bytes"
        assert seen[0]["peer"] == N1
        assert seen[0]["limit"] == LIMIT
        assert down == beamish.Down(ref, victim, "noconnection")
        assert answer == (N2, "still here")
        assert N2 in tc.connections


async def test_what_waits_for_a_handshake_the_peer_never_answers_is_bounded_too(tmp_path):
    """The connection to n1 is gone and n1 is SIGSTOPped: a flood of casts to n1 waits for
    a new connection whose handshake n1 never answers. That wait holds at most the limit:
    past it, it is dropped, counted, and a monitor of n1's process fires noconnection."""
    async with (
        launcher(tmp_path) as launch,
        distributed(send_buffer_limit=LIMIT, handshake_timeout=WAIT * 6) as (node, tc),
    ):
        n1 = await launch(N1)
        await tc.connect(n1.address)

        async def client():
            victim = await beamish.call(("ctl", N1), ("victim",), timeout=WAIT)
            cluster.monitor_node(N1)
            n1.stop()
            tc.connections[N1].close("the test cuts it")
            await beamish.receive(lambda m: isinstance(m, cluster.NodeDown), timeout=WAIT)
            ref = beamish.monitor(victim)  # now waits for the connection being made
            with Recorder(telemetry.CLUSTER_SEND_OVERFLOW, node=T) as overflow:
                sent = 0
                with anyio.fail_after(WAIT * 3):
                    while sent < FLOOD and not overflow.seen:
                        beamish.cast(("ctl", N1), (beamish.self(), CHUNK))
                        sent += len(CHUNK)
                        if sent % (16 * len(CHUNK)) == 0:
                            await anyio.lowlevel.checkpoint()
                seen = await overflow.wait_for(1, timeout=WAIT)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=WAIT)
            return sent, seen, ref, victim, down

        sent, seen, ref, victim, down = await on(node, client)
        assert sent <= LIMIT + len(CHUNK) * 2
        assert seen[0]["peer"] == N1
        assert down == beamish.Down(ref, victim, "noconnection")


async def test_the_default_limit_is_erlangs_busy_limit_order():
    """Without the option, a connection holds up to 64 MiB for its peer."""
    async with distributed() as (_, tc):
        assert tc.send_buffer_limit == 64 * 1024 * 1024
