"""The socket and channel processes in one node, without a web server: frames go in as
``InFrame`` messages, what the client would get comes out of the outbox. On asyncio and
trio, on virtual time."""

from __future__ import annotations

import json
from typing import Any

import pytest

import beamish
from beamish import channels
from beamish.channels._socket import ClientGone, InFrame
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio

EVENTS: list[Any] = []


class Room(channels.Channel):
    def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        socket.assigns["report"] = payload.get("report")
        return None

    def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if event == "crash":
            raise RuntimeError("boom")
        return channels.ok(payload)

    def terminate(self, reason: Any, socket: channels.ChannelSocket) -> None:
        report = socket.assigns.get("report")
        if report is not None:
            beamish.send(beamish.Pid(*report), ("terminated", socket.topic, reason))


class Sock(channels.Socket):
    routes = [("room:*", Room)]  # noqa: RUF012


async def open_connection(
    endpoint: channels.Endpoint, idle: float = 60.0
) -> tuple[beamish.Pid, channels.Outbox]:
    from beamish.channels._connect import connect_info

    outbox = channels.Outbox(100)
    scope = {"type": "websocket", "path": "/socket/websocket", "query_string": b"vsn=2.0.0"}
    info = connect_info(scope, "websocket", {}, None, None)
    endpoint.heartbeat_timeout = idle
    pid = await endpoint.open_socket(info, channels.V2_SERIALIZER, outbox, None)
    return pid, outbox


async def frames(outbox: channels.Outbox, count: int) -> list[Any]:
    got: list[Any] = []
    while len(got) < count:
        taken = await outbox.take()
        assert taken is not None, f"outbox closed after {got}"
        got += [json.loads(f) for f in taken]
    assert len(got) == count, got
    return got


def push(pid: beamish.Pid, *frame: Any) -> None:
    beamish.send(pid, InFrame(json.dumps(list(frame))))


async def test_crash_isolation_and_terminate_on_close(node: beamish.Node) -> None:
    """A channel crash: phx_error for it only; closing the connection stops the other
    channel with ("shutdown", "closed"), terminate running."""
    endpoint = channels.Endpoint(Sock)
    await endpoint.start()
    pid, outbox = await open_connection(endpoint)
    me = list(beamish.self())
    push(pid, "1", "1", "room:a", "phx_join", {"report": me})
    push(pid, "2", "2", "room:b", "phx_join", {"report": me})
    assert [f[4]["status"] for f in await frames(outbox, 2)] == ["ok", "ok"]
    push(pid, "1", "3", "room:a", "crash", {})
    assert await frames(outbox, 1) == [
        ["1", "1", "room:a", "phx_error", {"reason": "channel_crash"}]
    ]
    push(pid, "2", "4", "room:b", "echo", {"n": 1})
    assert await frames(outbox, 1) == [
        ["2", "4", "room:b", "phx_reply", {"status": "ok", "response": {"n": 1}}]
    ]
    ref = beamish.monitor(pid)
    beamish.send(pid, ClientGone())
    await assert_receive(("terminated", "room:b", ("shutdown", "closed")))
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert down.reason == ("shutdown", "closed")
    assert outbox.closed


async def test_silent_connection_times_out_on_virtual_time(node: beamish.Node) -> None:
    """No frame for heartbeat_timeout seconds: the connection stops; a heartbeat resets it."""
    endpoint = channels.Endpoint(Sock)
    await endpoint.start()
    pid, outbox = await open_connection(endpoint, idle=10.0)
    ref = beamish.monitor(pid)
    await beamish.sleep(8)
    push(pid, None, "1", "phoenix", "heartbeat", {})
    assert (await frames(outbox, 1))[0][3] == "phx_reply"
    await beamish.sleep(8)
    assert beamish.is_alive(pid)  # 16 s in, 8 s after the heartbeat
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref, timeout=30)
    assert down.reason == ("shutdown", "timeout")
    assert outbox.close_code == 1001


async def test_broadcast_is_encoded_once_and_shared(node: beamish.Node) -> None:
    """Fastlane: every V2 subscriber's outbox gets the very same frame object."""
    endpoint = channels.Endpoint(Sock)
    await endpoint.start()
    boxes = []
    for _ in range(3):
        pid, outbox = await open_connection(endpoint)
        push(pid, "1", "1", "room:f", "phx_join", {})
        await frames(outbox, 1)
        boxes.append(outbox)
    channels.broadcast("room:f", "shout", {"x": 1})
    taken = [box.take_nowait() for box in boxes]
    assert all(len(t) == 1 for t in taken)
    assert taken[0][0] is taken[1][0] is taken[2][0]
    assert json.loads(taken[0][0]) == [None, None, "room:f", "shout", {"x": 1}]
