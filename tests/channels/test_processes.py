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


class Slow(channels.Channel):
    async def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if payload.get("hang"):
            await beamish.sleep(3600)
        return None

    def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        socket.push("bin", b"\x01")  # not for a LongPoll client
        return None


class SlowSock(channels.Socket):
    routes = [("slow:*", Slow)]  # noqa: RUF012


async def test_a_hanging_join_is_cut_off_and_the_socket_goes_on(node: beamish.Node) -> None:
    """A join that never returns: after JOIN_TIMEOUT the client gets an error reply and the
    connection answers again (virtual time)."""
    endpoint = channels.Endpoint(SlowSock)
    await endpoint.start()
    pid, outbox = await open_connection(endpoint)
    push(pid, "1", "1", "slow:a", "phx_join", {"hang": True})
    push(pid, None, "2", "phoenix", "heartbeat", {})
    got = await frames(outbox, 2)
    assert got[0] == [
        "1",
        "1",
        "slow:a",
        "phx_reply",
        {"status": "error", "response": {"reason": "join crashed"}},
    ]
    assert got[1] == [None, "2", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    assert channels.local_subscribers("slow:a") == []


async def test_binary_push_to_a_longpoll_client_crashes_that_channel(node: beamish.Node) -> None:
    """LongPoll cannot carry binary frames: pushing bytes there is an error (the channel
    crashes, its client gets phx_error), not a silent loss."""
    from beamish.channels._connect import connect_info

    endpoint = channels.Endpoint(SlowSock)
    await endpoint.start()
    outbox = channels.Outbox(100)
    info = connect_info({"type": "http", "path": "/socket/longpoll"}, "longpoll", {}, None, None)
    pid = await endpoint.open_socket(info, channels.V2_SERIALIZER, outbox, "A" * 24)
    push(pid, "1", "1", "slow:b", "phx_join", {})
    assert (await frames(outbox, 1))[0][4]["status"] == "ok"
    push(pid, "1", "2", "slow:b", "go", {})
    assert await frames(outbox, 1) == [
        ["1", "1", "slow:b", "phx_error", {"reason": "channel_crash"}]
    ]


async def test_a_broadcast_that_is_not_json_fails_in_the_broadcaster(node: beamish.Node) -> None:
    """NaN, objects, non-dict payloads: raised where broadcast is called, nobody gets it."""
    with pytest.raises(ValueError, match=r"JSON|NaN|Out of range"):
        channels.broadcast("room:z", "e", {"x": float("nan")})
    with pytest.raises(TypeError):
        channels.broadcast("room:z", "e", {"x": object()})
    with pytest.raises(TypeError):
        channels.broadcast("room:z", "e", ["not", "a", "dict"])


async def open_session(endpoint: channels.Endpoint) -> tuple[beamish.Pid, channels.Outbox]:
    from beamish.channels._connect import connect_info

    outbox = channels.Outbox(100)
    info = connect_info({"type": "http", "path": "/socket/longpoll"}, "longpoll", {}, None, None)
    pid = await endpoint.open_socket(info, channels.V2_SERIALIZER, outbox, "B" * 24)
    return pid, outbox


async def test_longpoll_poll_waits_for_frames_or_the_window(node: beamish.Node) -> None:
    """A poll with nothing buffered waits: answered 200 with every frame buffered when the
    first arrives, or 204 when the window ends (virtual time)."""
    endpoint = channels.Endpoint(Sock, longpoll_window=10.0)
    await endpoint.start()
    pid, _ = await open_session(endpoint)
    started = node.clock.now()
    assert await beamish.call(pid, ("poll", 10.0), timeout=30) == (204, [])
    assert node.clock.now() - started >= 10.0
    assert await beamish.call(pid, ("post", ['["1","1","room:p","phx_join",{}]']), timeout=5) == 200
    status, got = await beamish.call(pid, ("poll", 10.0), timeout=30)
    assert status == 200
    assert json.loads(got[0])[4]["status"] == "ok"


async def test_longpoll_session_without_polls_ends(node: beamish.Node) -> None:
    """No poll for 1.5 windows: the session stops, its channels with it."""
    endpoint = channels.Endpoint(Sock, longpoll_window=10.0)
    await endpoint.start()
    pid, outbox = await open_session(endpoint)
    assert await beamish.call(pid, ("post", ['["1","1","room:q","phx_join",{}]']), timeout=5) == 200
    await frames(outbox, 1)
    channel = channels.lookup(pid, "room:q")
    assert channel is not None
    ref = beamish.monitor(channel)
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref, timeout=60)
    assert down.reason == ("shutdown", "timeout")
    assert not beamish.is_alive(pid)


async def test_endpoint_as_a_child_of_a_supervision_tree(node: beamish.Node) -> None:
    """endpoint.child_spec(): its connection supervisor is a child of yours; stopping the
    tree stops the connections."""
    from beamish.supervision import Supervisor, which_children

    endpoint = channels.Endpoint(Sock)
    sup = await Supervisor.start_link([endpoint.child_spec()])
    [child] = await which_children(sup)
    assert child.pid == endpoint.supervisor
    pid, outbox = await open_connection(endpoint)
    push(pid, "1", "1", "room:t", "phx_join", {})
    assert (await frames(outbox, 1))[0][4]["status"] == "ok"
    ref = beamish.monitor(pid)
    await beamish.stop(sup)
    await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert outbox.closed


class SecretSock(channels.Socket):
    routes = [("room:*", Room)]  # noqa: RUF012

    def connect(self, params: dict[str, Any], info: channels.ConnectInfo) -> Any:
        return {"password": "hunter2"}


async def test_state_shown_by_get_state_and_crash_reports_leaves_assigns_out(
    node: beamish.Node,
) -> None:
    """format_status: a connection's and a channel's state summary carries no assigns."""
    from beamish.actors import get_state

    endpoint = channels.Endpoint(SecretSock)
    await endpoint.start()
    pid, outbox = await open_connection(endpoint)
    push(pid, "1", "1", "room:s", "phx_join", {})
    await frames(outbox, 1)
    state = await get_state(pid)
    assert state == {
        "socket": "SecretSock",
        "transport": "websocket",
        "socket_id": None,
        "channels": ["room:s"],
        "outbox": 0,
    }
    channel_state = await get_state(channels.lookup(pid, "room:s"))
    assert channel_state["topic"] == "room:s"
    assert "hunter2" not in repr(state) + repr(channel_state)


async def test_outbox_take_on_the_nodes_waiter_wakes_on_put_and_close(node: beamish.Node) -> None:
    """The WebSocket writer's wait: ``take(waiter_factory(node))`` wakes on the first put
    and on close, and a cancelled take leaves the outbox usable."""
    import anyio

    from beamish.actors import lowlevel

    make = lowlevel.waiter_factory(node)
    outbox = channels.Outbox(10)
    got: list[Any] = []

    async def reader() -> None:
        while (frames := await outbox.take(make)) is not None:
            got.append(frames)
        got.append(None)

    async with anyio.create_task_group() as group:  # a take cancelled while it waits
        group.start_soon(outbox.take, make)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    async with anyio.create_task_group() as group:
        group.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        outbox.put("a")
        outbox.put("b")
        await anyio.wait_all_tasks_blocked()
        assert got == [["a", "b"]]
        outbox.close(1000)
    assert got == [["a", "b"], None]
