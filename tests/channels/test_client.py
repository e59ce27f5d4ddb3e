"""beamish.channels.client against the test endpoint (app.py) under a real uvicorn, on
asyncio and trio: the scenarios the phoenix.js tests cover."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from beamish.channels import client

from .chankit import Server

pytestmark = pytest.mark.anyio

FAST = {"rejoin_after": lambda tries: 0.02, "reconnect_after": lambda tries: 0.02}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Real clocks: these tests talk to a server in another OS process."""
    return request.param


Connect = Callable[..., contextlib.AbstractAsyncContextManager[client.Socket]]


@pytest.fixture(params=["websocket", "longpoll"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(transport: str) -> Connect:
    """``client.connect`` over the transport of the test's parameter."""
    return functools.partial(client.connect, transport=transport)


class Inbox:
    """A callback that records what it gets; ``until(n)`` waits for the n-th item."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = anyio.Event()

    def __call__(self, *item: Any) -> None:
        self.items.append(item[0] if len(item) == 1 else item or None)
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, n: int) -> list[Any]:
        while len(self.items) < n:
            await self._changed.wait()
        return self.items


async def test_join_replies_pushes_broadcasts_intercept(server: Server, connect: Connect) -> None:
    with anyio.fail_after(20):
        async with connect(server.url, {"user": "ann"}) as socket:
            room = socket.channel("room:a", {"x": 1})
            welcome, shouts, pushed, filtered = Inbox(), Inbox(), Inbox(), Inbox()
            room.on("welcome", welcome)
            room.on("shout", shouts)
            room.on("pushed", pushed)
            room.on("filtered", filtered)
            assert await room.join() == {"joined": "room:a", "user": "ann"}
            assert room.state == "joined"
            assert await welcome.until(1) == [{"topic": "room:a"}]
            assert await room.push("echo", {"x": 1}) == client.Reply("ok", {"x": 1})
            refused = await room.push("refuse")
            assert (refused.status, refused.response, refused.ok) == (
                "error",
                {"why": "asked"},
                False,
            )
            async with anyio.create_task_group() as tg:  # answered by a push, not a reply
                tg.start_soon(_push_without_reply, room, "push_me", {"p": 2})
                assert await pushed.until(1) == [{"p": 2}]
                tg.cancel_scope.cancel()
            assert (await room.push("shout", {"s": 3})).ok
            assert await shouts.until(1) == [{"s": 3}]
            later = await room.push("later", {"l": 4})
            assert later == client.Reply("ok", {"later": {"l": 4}})
            assert (await room.push("filtered", {"f": 5})).ok
            assert await filtered.until(1) == [{"f": 5, "filtered_by": "ann"}]
            closed = Inbox()
            room.on("phx_close", closed)
            await room.leave()
            assert room.state == "closed"
            assert closed.items == [{}]
            assert room not in socket.channels


async def test_refused_crashed_and_unmatched_joins(server: Server, connect: Connect) -> None:
    with anyio.fail_after(20):
        async with connect(server.url, {"user": "ann"}, **FAST) as socket:
            cases = [
                ("room:r", {"refuse": True}, {"reason": "unauthorized"}),
                ("room:c", {"crash_join": True}, {"reason": "join crashed"}),
                ("nope:x", {}, {"reason": "unmatched topic"}),
            ]
            for topic, params, response in cases:
                channel = socket.channel(topic, params)
                with pytest.raises(client.JoinError) as refused:
                    await channel.join()
                assert refused.value.response == response
                assert channel.state in ("errored", "joining")  # rejoining, as phoenix.js
                await channel.leave()
                assert channel.state == "closed"


async def test_binary_reply_push_and_broadcast(server: Server) -> None:
    with anyio.fail_after(20):
        async with client.connect(server.url, {"user": "bin"}) as socket:
            room = socket.channel("room:bin")
            pushed, shouted = Inbox(), Inbox()
            room.on("binary_pushed", pushed)
            room.on("binary_shout", shouted)
            await room.join()
            assert await room.push("binary_echo", b"\x01\x02\x03") == client.Reply(
                "ok", b"\x01\x02\x03"
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(_push_without_reply, room, "binary_push")
                assert await pushed.until(1) == [b"\x04\x05"]
                tg.cancel_scope.cancel()
            assert (await room.push("binary_shout")).ok
            assert await shouted.until(1) == [b"\x06"]


async def _push_without_reply(channel: client.Channel, event: str, payload: Any = None) -> None:
    await channel.push(event, payload, timeout=30)


async def test_channel_crash_errors_and_rejoins(server: Server, connect: Connect) -> None:
    with anyio.fail_after(20):
        async with connect(server.url, {"user": "crash"}, **FAST) as socket:
            room = socket.channel("room:crash")
            welcome, errors = Inbox(), Inbox()
            room.on("welcome", welcome)
            room.on("phx_error", errors)
            other = socket.channel("room:other")
            await room.join()
            await other.join()
            first_join_ref = room.join_ref
            async with anyio.create_task_group() as tg:
                tg.start_soon(_push_without_reply, room, "crash")
                assert await errors.until(1) == [{"reason": "channel_crash"}]
                await welcome.until(2)  # the server ran join again: rejoined
                tg.cancel_scope.cancel()
            assert room.join_ref != first_join_ref
            assert await room.push("echo", {"again": True}) == client.Reply("ok", {"again": True})
            assert (await other.push("echo", {})).ok  # the other channel never noticed
            assert socket.connects == 1


async def test_server_side_stop_replies_then_closes_for_good(
    server: Server, connect: Connect
) -> None:
    with anyio.fail_after(20):
        async with connect(server.url, {"user": "stop"}, **FAST) as socket:
            room = socket.channel("room:stop")
            closed = Inbox()
            room.on("phx_close", closed)
            await room.join()
            assert await room.push("stop") == client.Reply("ok", {"bye": True})
            await closed.until(1)
            assert room.state == "closed"
            with pytest.raises(client.ChannelClosed):
                await room.push("echo", {})


async def test_disconnect_by_socket_id_reconnects_and_rejoins(
    server: Server, connect: Connect
) -> None:
    with anyio.fail_after(20):
        async with connect(server.url, {"user": "dis"}, **FAST) as socket:
            closes, opens = Inbox(), Inbox()
            socket.on_close(closes)
            socket.on_open(lambda: opens(True))
            room = socket.channel("room:dis")
            welcome = Inbox()
            room.on("welcome", welcome)
            await room.join()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_push_without_reply, room, "disconnect_me")
                # WebSocket: closed with 1001; LongPoll: the session is gone (phoenix.js: 3410)
                assert await closes.until(1) == [1001 if socket.transport == "websocket" else 3410]
                await opens.until(1)
                await welcome.until(2)
                tg.cancel_scope.cancel()
            assert socket.connects == 2
            assert await room.push("echo", {"back": 1}) == client.Reply("ok", {"back": 1})


async def test_refused_connect_raises_with_the_status(server: Server, connect: Connect) -> None:
    with anyio.fail_after(20):
        with pytest.raises(client.ConnectError) as refused:
            async with connect(server.url, {"reject": "yes"}):
                raise AssertionError("connected")
        assert refused.value.status == 403


async def test_connect_to_nothing_raises(connect: Connect) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with anyio.fail_after(20):
            with pytest.raises(client.ConnectError):
                async with connect(f"ws://127.0.0.1:{port}/socket"):
                    raise AssertionError("connected")


async def test_auth_token_and_params_reach_connect(server: Server, connect: Connect) -> None:
    with anyio.fail_after(20):
        async with connect(server.url, {"user": "tok"}, auth_token="s3cr3t+/=ü") as socket:
            room = socket.channel("room:tok")
            await room.join()
            info = (await room.push("info")).response
            assert info["token"] == "s3cr3t+/=ü"
            assert info["transport"] == socket.transport
            assert "user=tok" in info["uri"]


@pytest.fixture
def short_heartbeat_server() -> Iterator[Server]:
    srv = Server("heartbeat_timeout=0.5")
    try:
        yield srv
    finally:
        srv.stop()


async def test_silent_client_is_closed_by_the_server_and_comes_back(
    short_heartbeat_server: Server,
) -> None:
    """No heartbeats: the server closes it after heartbeat_timeout (1001); it reconnects."""
    with anyio.fail_after(20):
        async with client.connect(
            short_heartbeat_server.url, {"user": "quiet"}, heartbeat_interval=None, **FAST
        ) as socket:
            closes = Inbox()
            socket.on_close(closes)
            room = socket.channel("room:quiet")
            welcome = Inbox()
            room.on("welcome", welcome)
            await room.join()
            assert await closes.until(1) == [1001]
            await welcome.until(2)


async def test_heartbeats_keep_the_connection_and_a_stopped_server_is_detected(
    short_heartbeat_server: Server,
) -> None:
    """Heartbeats every 0.1 s keep a 0.5 s server timeout at bay (no close while 20 are
    answered); a server that stops answering (SIGSTOP) is closed by the client ("heartbeat
    timeout", 1000) after heartbeat_timeout, and it reconnects and rejoins once the server
    runs again. (heartbeat_timeout 1.5 s, not the interval: a loaded machine may take more
    than 0.1 s to answer.)"""
    srv = short_heartbeat_server
    with anyio.fail_after(30):
        async with client.connect(
            srv.url,
            {"user": "hb"},
            heartbeat_interval=0.1,
            heartbeat_timeout=1.5,
            timeout=2,
            **FAST,
        ) as socket:
            closes = Inbox()
            socket.on_close(closes)
            room = socket.channel("room:hb")
            welcome = Inbox()
            room.on("welcome", welcome)
            await room.join()
            answered = Inbox()
            socket.on_heartbeat(answered)
            await answered.until(20)
            assert closes.items == []
            os.kill(srv.proc.pid, signal.SIGSTOP)
            try:
                assert await closes.until(1) == [1000]
            finally:
                os.kill(srv.proc.pid, signal.SIGCONT)
            await welcome.until(2)
            assert (await room.push("echo", {})).ok


async def test_presence_state_and_diffs(server: Server, connect: Connect) -> None:
    with anyio.fail_after(20):
        async with (
            connect(server.url, {"user": "alice"}) as alice_socket,
            connect(server.url, {"user": "bob"}) as bob_socket,
        ):
            alice = alice_socket.channel("presence:lobby")
            syncs = Inbox()
            presence = client.Presence(alice, on_sync=lambda: syncs(sorted(presence.list())))
            await alice.join()
            while sorted(presence.list()) != ["alice"]:
                await syncs.until(len(syncs.items) + 1)
            bob = bob_socket.channel("presence:lobby")
            await bob.join()
            while sorted(presence.list()) != ["alice", "bob"]:
                await syncs.until(len(syncs.items) + 1)
            metas = presence.list()["bob"]
            assert metas[0]["online"] is True
            assert isinstance(metas[0]["phx_ref"], str)
            await bob.leave()
            while sorted(presence.list()) != ["alice"]:
                await syncs.until(len(syncs.items) + 1)


async def test_an_error_in_the_body_comes_out_as_itself(server: Server, connect: Connect) -> None:
    """Not wrapped in an exception group by the client's task group."""
    with anyio.fail_after(20), pytest.raises(KeyError, match="mine"):
        async with connect(server.url, {"user": "err"}):
            raise KeyError("mine")
