"""The WebSocket writer: a process linked to the connection process. Whatever ends the
connection process, a kill included, ends the writer and closes the WebSocket, even while
the writer waits on a client that does not read (raw clients, real uvicorn)."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from websockets.asyncio.client import connect

from .chankit import Server, stats, until
from .test_wire import _raw_websocket, closed_code, joined, recv, run, url


def _kill(server: Server, socket_id: str) -> int:
    request = urllib.request.Request(f"{server.http}/kill?id={socket_id}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        killed: int = json.loads(response.read())["killed"]
        return killed


CONNECTION_PROCESSES = 3  # the connection, its channel, its writer


def test_a_killed_connection_process_closes_its_websocket_with_1011(server: Server) -> None:
    async def go() -> int:
        async with connect(url(server, "vsn=2.0.0&user=killed")) as ws:
            await joined(ws, "room:k")
            assert (await recv(ws))[3] == "welcome"
            during: int = (await asyncio.to_thread(stats, server))["processes"]
            assert await asyncio.to_thread(_kill, server, "user:killed") == 1
            assert await closed_code(ws) == 1011
            return during

    during = run(go())
    until(
        lambda: stats(server)["processes"] == during - CONNECTION_PROCESSES,
        "the connection's processes gone",
    )


def test_a_kill_ends_a_writer_blocked_on_a_client_that_does_not_read(server: Server) -> None:
    """The writer waits in ``send`` (the client's buffers are full, its outbox far from its
    limits) when the connection process is killed: the writer ends all the same, within
    the second it gives a close frame."""
    sloth = _raw_websocket(server.port, "vsn=2.0.0&user=stuck")  # joined
    try:
        during = stats(server)["processes"]
        # 12 MB: far more than the socket buffers take (tcp_wmem: 4 MB at most), under
        # outbox_bytes (16 MB); then one more frame, which waits in the outbox while the
        # writer waits in send
        for n, pad in ((12, 1_000_000), (1, 10)):
            request = urllib.request.Request(
                f"{server.http}/broadcast?topic=room:bp&n={n}&pad={pad}", data=b"{}", method="POST"
            )
            urllib.request.urlopen(request, timeout=5).close()
        until(lambda: [1, False] in stats(server)["outboxes"], "the writer blocked")
        assert _kill(server, "user:stuck") == 1
        until(
            lambda: stats(server)["processes"] == during - CONNECTION_PROCESSES,
            "the connection's processes gone, the writer with them",
        )
    finally:
        sloth.close()
