"""Frames from one client are handled in the order they came, although pushes to a joined
channel go from the WebSocket transport straight to the channel's process and everything
else through the connection's process (a raw client under a real uvicorn).

After a first join, the frames go out in one TCP write, without waiting for replies:
uvicorn queues them all before the server handles the first, so the pushes behind the
second join arrive while the channel of the first is still the one routed to.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from .chankit import Server


def frame(join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> str:
    return json.dumps([join_ref, ref, topic, event, payload])


async def frames_until(ws: Any, last: list[Any]) -> list[list[Any]]:
    """Every frame received up to and including one that starts with ``last``."""
    got: list[list[Any]] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        got.append(message)
        if message[: len(last)] == last:
            return got


def test_pipelined_joins_pushes_and_duplicate_join_keep_their_order(server: Server) -> None:
    """Joined, then in one write: 10 pushes, a heartbeat, a second join of the same topic,
    10 pushes for it, one stale push for the first instance, one more push, leave: every
    push is answered by the instance it names, in order; the stale one is dropped; each
    instance's frames come in Phoenix's order (join reply, welcome push, replies, then its
    phx_close)."""
    topic = "room:burst"

    async def go() -> list[list[Any]]:
        async with connect(f"{server.url}/websocket?vsn=2.0.0", compression=None) as ws:
            await ws.send(frame("1", "1", topic, "phx_join", {}))
            joined = await frames_until(ws, ["1", None, topic, "welcome"])
            burst = [frame("1", str(r), topic, "echo", {"n": r}) for r in range(10, 20)]
            burst.append(frame(None, "h", "phoenix", "heartbeat", {}))
            burst.append(frame("2", "2", topic, "phx_join", {}))
            burst += [frame("2", str(r), topic, "echo", {"n": r}) for r in range(20, 30)]
            burst.append(frame("1", "99", topic, "echo", {"n": 99}))  # stale: instance 1
            burst.append(frame("2", "30", topic, "echo", {"n": 30}))
            burst.append(frame("2", "l", topic, "phx_leave", {}))
            for text in burst:  # framed (masked) by websockets, written at once
                ws.protocol.send_text(text.encode())
            ws.transport.write(b"".join(ws.protocol.data_to_send()))
            return joined + await frames_until(ws, ["2", "2", topic, "phx_close"])

    got = asyncio.run(asyncio.wait_for(go(), 30))
    mine = [m for m in got if m[2] == topic]

    def of(join_ref: str) -> list[list[Any]]:
        return [m for m in mine if m[0] == join_ref]

    first, second = of("1"), of("2")
    ok: dict[str, Any] = {"status": "ok", "response": {}}
    assert first[0][:4] == ["1", "1", topic, "phx_reply"]
    assert first[1] == ["1", None, topic, "welcome", {"topic": topic}]
    assert first[2:12] == [
        ["1", str(r), topic, "phx_reply", {"status": "ok", "response": {"n": r}}]
        for r in range(10, 20)
    ]
    assert first[12:] == [["1", "1", topic, "phx_close", {}]]
    assert second[0][:4] == ["2", "2", topic, "phx_reply"]
    assert second[1] == ["2", None, topic, "welcome", {"topic": topic}]
    assert second[2:13] == [
        ["2", str(r), topic, "phx_reply", {"status": "ok", "response": {"n": r}}]
        for r in [*range(20, 30), 30]
    ]
    assert second[13:] == [
        ["2", "l", topic, "phx_reply", ok],
        ["2", "2", topic, "phx_close", {}],
    ]
    assert len(mine) == len(first) + len(second)  # nothing for the stale push (ref 99)
    # the first instance is done with before the second one's join reply
    assert mine.index(first[-1]) < mine.index(second[2])
    assert [m for m in got if m[2] == "phoenix"] == [[None, "h", "phoenix", "phx_reply", ok]]
