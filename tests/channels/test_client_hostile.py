"""A hostile or broken server: the client closes that connection, logs, reconnects, and
nothing else breaks (no exception escapes into the application's task group)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from beamish.channels import client

pytestmark = pytest.mark.anyio

BAD_FRAMES: list[Any] = [
    "not json",
    '{"topic": "room:a"}',
    '[null, null, 5, "event", {}]',
    '["1", "1", "room:a", "phx_reply", "not an object"]',
    '["1", "1", "room:a", "phx_reply", {"status": 7}]',
    b"\x09\x00\x00",
    b"\x00\x05\x01\x01abc",
    b"\x01\x01",
    b"\x00\x00\x06\x01room:a\xff",
    b"x" * 2000,  # over the client's max_size (1000): closed by the WebSocket layer (1009)
]


@pytest.fixture
def anyio_backend() -> str:
    """The fake server is websockets' asyncio server."""
    return "asyncio"


async def test_bad_frames_close_only_that_connection_and_the_client_recovers() -> None:
    from websockets.asyncio.server import serve

    connections: list[int] = []

    async def handler(ws: Any) -> None:
        n = len(connections)
        connections.append(n)
        join = json.loads(await ws.recv())
        assert join[3] == "phx_join"
        if n < len(BAD_FRAMES):
            await ws.send(BAD_FRAMES[n])
            await ws.wait_closed()
            return
        await ws.send(
            json.dumps(
                [join[0], join[1], join[2], "phx_reply", {"status": "ok", "response": {"good": n}}]
            )
        )
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        closes: list[int] = []
        with anyio.fail_after(30):
            async with client.connect(
                f"ws://127.0.0.1:{port}/socket",
                max_size=1000,
                reconnect_after=lambda tries: 0.01,
                timeout=20,
            ) as socket:
                socket.on_close(closes.append)
                room = socket.channel("room:a")
                assert await room.join() == {"good": len(BAD_FRAMES)}
                assert socket.connects == len(BAD_FRAMES) + 1
        assert len(closes) == len(BAD_FRAMES)
        assert closes[-1] == 1009
