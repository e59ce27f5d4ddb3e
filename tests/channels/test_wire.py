"""The wire protocol and bad input, with a raw WebSocket / HTTP client against the test
endpoint under a real uvicorn (PHOENIX-PROTOCOL.md §2-§8)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .chankit import Server, stats, until


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def url(server: Server, query: str = "vsn=2.0.0") -> str:
    return f"{server.url}/websocket?{query}"


async def recv(ws: ClientConnection) -> Any:
    frame = await asyncio.wait_for(ws.recv(), 5)
    return frame if isinstance(frame, bytes) else json.loads(frame)


async def joined(ws: ClientConnection, topic: str, jr: str = "1", payload: Any = None) -> Any:
    await ws.send(json.dumps([jr, jr, topic, "phx_join", payload or {}]))
    reply = await recv(ws)
    assert reply[:4] == [jr, jr, topic, "phx_reply"], reply
    return reply


async def closed_code(ws: ClientConnection) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed:
        return ws.close_code


async def still_serves(server: Server) -> None:
    """Another connection on the same server joins and gets an echo."""
    async with connect(url(server)) as ws:
        await joined(ws, "room:other")
        assert (await recv(ws))[3] == "welcome"
        await ws.send(json.dumps(["1", "2", "room:other", "echo", {"alive": True}]))
        assert await recv(ws) == [
            "1",
            "2",
            "room:other",
            "phx_reply",
            {"status": "ok", "response": {"alive": True}},
        ]


@pytest.fixture(scope="module")
def small() -> Iterator[Server]:
    """A server with small limits: 1,000-byte frames, 5 queued frames per client."""
    srv = Server(
        "max_frame_size=1000",
        "outbox_limit=5",
        "check_origin=https://good.example",
        "session_cookie=sid",
    )
    try:
        yield srv
    finally:
        srv.stop()


# -- protocol --


def test_heartbeat_and_canonical_frames(server: Server) -> None:
    """heartbeat → ok reply with join_ref null; join reply then the push made in join."""

    async def go() -> None:
        async with connect(url(server)) as ws:
            await ws.send(json.dumps([None, "7", "phoenix", "heartbeat", {}]))
            assert await recv(ws) == [
                None,
                "7",
                "phoenix",
                "phx_reply",
                {"status": "ok", "response": {}},
            ]
            reply = await joined(ws, "room:h", "3")
            assert reply[4] == {"status": "ok", "response": {"joined": "room:h", "user": "anon"}}
            assert await recv(ws) == ["3", None, "room:h", "welcome", {"topic": "room:h"}]

    run(go())


def test_duplicate_join_replies_then_closes_the_old_instance(server: Server) -> None:
    """A second join of a joined topic: the new reply, then phx_close for the old join_ref;
    the old instance's stale messages get no reply."""

    async def go() -> None:
        async with connect(url(server)) as ws:
            await joined(ws, "room:dup", "1")
            assert (await recv(ws))[3] == "welcome"
            await joined(ws, "room:dup", "2")
            rest = [await recv(ws), await recv(ws)]
            assert ["1", "1", "room:dup", "phx_close", {}] in rest
            await ws.send(json.dumps(["1", "5", "room:dup", "echo", {"stale": True}]))
            await ws.send(json.dumps(["2", "6", "room:dup", "echo", {"fresh": True}]))
            assert await recv(ws) == [
                "2",
                "6",
                "room:dup",
                "phx_reply",
                {"status": "ok", "response": {"fresh": True}},
            ]

    run(go())


def test_null_join_ref_is_accepted_and_replies_carry_the_channels(server: Server) -> None:
    """A push with join_ref null reaches the channel; the reply names the channel's join_ref."""

    async def go() -> None:
        async with connect(url(server)) as ws:
            await joined(ws, "room:n", "4")
            await recv(ws)
            await ws.send(json.dumps([None, "8", "room:n", "echo", {"a": 1}]))
            assert await recv(ws) == [
                "4",
                "8",
                "room:n",
                "phx_reply",
                {"status": "ok", "response": {"a": 1}},
            ]

    run(go())


def test_leave_replies_then_closes_and_leave_of_unjoined_topic_is_ok(server: Server) -> None:
    """phx_leave: ok reply, then phx_close; a leave for a topic not joined: ok, its join_ref."""

    async def go() -> None:
        async with connect(url(server)) as ws:
            await joined(ws, "room:l", "1")
            await recv(ws)
            await ws.send(json.dumps(["1", "2", "room:l", "phx_leave", {}]))
            assert await recv(ws) == [
                "1",
                "2",
                "room:l",
                "phx_reply",
                {"status": "ok", "response": {}},
            ]
            assert await recv(ws) == ["1", "1", "room:l", "phx_close", {}]
            await ws.send(json.dumps(["9", "10", "room:never", "phx_leave", {}]))
            assert await recv(ws) == [
                "9",
                "10",
                "room:never",
                "phx_reply",
                {"status": "ok", "response": {}},
            ]
            await ws.send(json.dumps(["9", "11", "room:never", "echo", {}]))
            assert await recv(ws) == [
                None,
                "11",
                "room:never",
                "phx_reply",
                {"status": "error", "response": {"reason": "unmatched topic"}},
            ]

    run(go())


def test_v1_serializer_speaks_objects(server: Server) -> None:
    """vsn=1.0.0 (or none): JSON objects in and out, no join_ref on the way out."""

    async def go() -> None:
        async with connect(url(server, "vsn=1.0.0")) as ws:
            await ws.send(
                json.dumps({"topic": "room:v1", "event": "phx_join", "payload": {}, "ref": "1"})
            )
            assert json.loads(await ws.recv()) == {
                "topic": "room:v1",
                "event": "phx_reply",
                "payload": {"status": "ok", "response": {"joined": "room:v1", "user": "anon"}},
                "ref": "1",
            }
            assert json.loads(await ws.recv())["event"] == "welcome"
            await ws.send(
                json.dumps({"topic": "room:v1", "event": "echo", "payload": {"v": 1}, "ref": 2})
            )
            reply = json.loads(await ws.recv())
            assert (reply["ref"], reply["payload"]) == (2, {"status": "ok", "response": {"v": 1}})

    run(go())


@pytest.mark.parametrize("vsn", ["3.0.0", "2.1.0", "banana"])
def test_unsupported_vsn_is_refused_with_403(server: Server, vsn: str) -> None:
    """An unknown serializer version: the upgrade is refused (HTTP 403)."""

    async def go() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(url(server, f"vsn={vsn}")):
                pass
        assert info.value.response.status_code == 403

    run(go())


def test_connect_info_auth_token_subprotocol_and_session_cookie(small: Server) -> None:
    """connect_info carries the peer, the URI, the headers, the session cookie and the
    token of the ``base64url.bearer.phx.`` subprotocol; the server selects ``phoenix``."""
    token = "sécret+/token"
    encoded = base64.b64encode(token.encode()).decode().rstrip("=")

    async def go() -> None:
        async with connect(
            url(small, "vsn=2.0.0&user=zed"),
            subprotocols=["phoenix", f"base64url.bearer.phx.{encoded}"],  # type: ignore[list-item]
            additional_headers={"Cookie": "other=1; sid=s3ss10n", "User-Agent": "probe/1"},
        ) as ws:
            assert ws.subprotocol == "phoenix"
            await joined(ws, "room:info")
            await recv(ws)
            await ws.send(json.dumps(["1", "2", "room:info", "info", {}]))
            info = (await recv(ws))[4]["response"]
            host, port = ws.local_address[:2]
            assert info["peer"] == [host, port]
            assert info["uri"] == f"ws://127.0.0.1:{small.port}/socket/websocket?vsn=2.0.0&user=zed"
            assert info["session"] == "s3ss10n"
            assert info["ua"] == "probe/1"
            assert info["token"] == token
            assert info["transport"] == "websocket"

    run(go())


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("https://good.example", True), ("https://evil.example", False), (None, True)],
)
def test_check_origin(small: Server, origin: str | None, allowed: bool) -> None:
    """Only the configured origins may connect; a client without Origin (not a browser) may."""

    async def go() -> None:
        headers = {"Origin": origin} if origin else {}
        if allowed:
            async with connect(url(small), additional_headers=headers, origin=None) as ws:
                await joined(ws, "room:o")
        else:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url(small), additional_headers=headers, origin=None):
                    pass
            assert info.value.response.status_code == 403

    run(go())


# -- bad input: the hostile tests --


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        '["1","2","room:x"]',
        '{"topic":"room:x","event":"e","payload":{},"ref":"1"}',
        '[1.5, "2", "room:x", "e", {}]',
        '["1", "2", 42, "e", {}]',
        '[NaN, "2", "room:x", "e", {}]',
        "[" * 50_000,
        b"\x00\x05\x01\x06\x04",
        b"\x00\xff\xff\xff\xff" + b"x" * 10,
        b"\x01\x01\x01\x06\x02" + b"59room:aok",
        b"\x07",
        b"\x00\x00\x00\x02\x01" + b"\xff\xfe" + b"e",
    ],
    ids=lambda f: repr(f)[:30],
)
def test_malformed_frames_close_only_that_connection(server: Server, frame: str | bytes) -> None:
    """Malformed JSON, wrong shapes, a V1 object on V2, binary frames with bad lengths, a
    wrong kind or non-UTF-8 fields: that connection closes (1008) and is counted; another
    connection, joined before and after, is unaffected."""
    before = stats(server)["counts"].get("bad_input", 0)

    async def go() -> None:
        async with connect(url(server)) as bystander:
            await joined(bystander, "room:by")
            await recv(bystander)
            async with connect(url(server)) as ws:
                await joined(ws, "room:x")
                await recv(ws)
                await ws.send(frame)
                assert await closed_code(ws) == 1008
            await bystander.send(json.dumps(["1", "2", "room:by", "echo", {"still": True}]))
            assert (await recv(bystander))[4] == {"status": "ok", "response": {"still": True}}
        await still_serves(server)

    run(go())
    assert stats(server)["counts"]["bad_input"] == before + 1


def test_oversized_frame_closes_with_1009(small: Server) -> None:
    """A frame over max_frame_size: close 1009, counted; the server goes on."""
    before = stats(small)["counts"].get("bad_input", 0)

    async def go() -> None:
        async with connect(url(small)) as ws:
            await joined(ws, "room:big")
            await recv(ws)
            await ws.send(json.dumps(["1", "2", "room:big", "echo", {"x": "y" * 2000}]))
            assert await closed_code(ws) == 1009

    run(go())
    assert stats(small)["counts"]["bad_input"] == before + 1
    run(still_serves(small))


def test_unknown_event_crashes_only_that_channel(server: Server) -> None:
    """An event the channel has no clause for: phx_error for that topic; the socket and its
    other channel go on."""

    async def go() -> None:
        async with connect(url(server)) as ws:
            await joined(ws, "room:u1", "1")
            await recv(ws)
            await joined(ws, "room:u2", "2")
            await recv(ws)
            await ws.send(json.dumps(["1", "3", "room:u1", "no_such_event", {}]))
            assert await recv(ws) == ["1", "1", "room:u1", "phx_error", {"reason": "channel_crash"}]
            await ws.send(json.dumps(["2", "4", "room:u2", "echo", {"ok": 1}]))
            assert (await recv(ws))[4] == {"status": "ok", "response": {"ok": 1}}
            await ws.send(json.dumps(["1", "5", "room:u1", "echo", {}]))
            assert (await recv(ws))[4]["response"] == {"reason": "unmatched topic"}

    run(go())


def test_join_flood_is_capped_and_cleaned_up(server: Server) -> None:
    """150 topics: the 101st join and later get "too many channels joined"; 200 joins of one
    topic leave one channel; closing the socket stops every channel process."""
    run(still_serves(server))  # warm up: what the first connection starts for good
    until(lambda: stats(server)["connections"] == 0, "warm-up connection gone")
    base = stats(server)["processes"]

    async def go() -> None:
        async with connect(url(server)) as ws:
            for i in range(150):
                await ws.send(json.dumps([str(i), str(i), f"room:f{i}", "phx_join", {}]))
            replies = []
            while len(replies) < 150:
                frame = await recv(ws)
                if frame[3] == "phx_reply":
                    replies.append(frame[4])
            errors = [r for r in replies if r["status"] == "error"]
            assert len(errors) == 50
            assert all(r["response"] == {"reason": "too many channels joined"} for r in errors)
            for i in range(200):
                await ws.send(json.dumps([f"d{i}", f"d{i}", "room:f0", "phx_join", {}]))
            await ws.send(json.dumps(["d199", "e", "room:f0", "echo", {"last": 1}]))
            while True:
                frame = await recv(ws)
                if frame[1] == "e":
                    assert frame[4]["response"] == {"last": 1}
                    break
            assert stats(server)["joined"] == 100

    run(go(), timeout=60)
    until(lambda: stats(server)["processes"] == base, "every process of the socket gone")


def _raw_websocket(port: int, query: str) -> socket.socket:
    """A WebSocket client that never reads after its join: a tiny receive buffer, a hand
    written handshake and one masked text frame."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotuning
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /socket/websocket?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    data = json.dumps(["1", "1", "room:bp", "phx_join", {}]).encode()
    mask = os.urandom(4)
    sock.sendall(
        bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    )
    assert b"phx_reply" in sock.recv(4096)
    return sock


def test_a_client_that_does_not_read_is_disconnected_alone(small: Server) -> None:
    """Backpressure: a client that stops reading overflows its 5-frame outbox and is
    disconnected (counted as outbox_overflow, its connection process gone); a client that
    reads gets every one of the 400 broadcasts meanwhile."""
    before = stats(small)["counts"].get("outbox_overflow", 0)
    sloth = _raw_websocket(small.port, "vsn=2.0.0&user=sloth")

    async def go() -> None:
        async with connect(url(small)) as reader:
            await joined(reader, "room:bp")
            await recv(reader)
            got = 0
            for _ in range(100):  # 100 x 4 broadcasts of 60 kB: more than the socket buffers hold
                request = urllib.request.Request(
                    f"{small.http}/broadcast?topic=room:bp&n=4&pad=60000", data=b"{}", method="POST"
                )
                await asyncio.to_thread(urllib.request.urlopen, request, timeout=5)
                for _ in range(4):
                    frame = await recv(reader)
                    assert frame[3] == "shout"
                    got += 1
            assert got == 400

    try:
        run(go(), timeout=60)
        until(lambda: stats(small)["counts"].get("outbox_overflow", 0) == before + 1, "overflow")
        until(lambda: stats(small)["connections"] == 0, "the sloth's connection process gone")
    finally:
        sloth.close()


# -- LongPoll, raw --


def lp(
    server: Server,
    method: str,
    query: str,
    body: bytes | None = None,
    ctype: str = "application/x-ndjson",
) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.http}/socket/longpoll?{query}", data=body, method=method
    )
    if body is not None:
        request.add_header("Content-Type", ctype)
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def test_longpoll_session_exchange(server: Server) -> None:
    """GET (no token) → 410 + token; POST ndjson → 200; GET → 200 with JSON-string messages
    (the join reply, the push, the echo reply); POST with a bogus token → 410."""
    first = lp(server, "GET", "vsn=2.0.0&")
    assert (first["status"], first["messages"]) == (410, [])
    token = first["token"]
    body = b'["1","1","room:lp","phx_join",{}]\n["1","2","room:lp","echo",{"y":2}]'
    assert lp(server, "POST", f"vsn=2.0.0&token={token}", body) == {"status": 200}
    messages: list[Any] = []
    while len(messages) < 3:
        answer = lp(server, "GET", f"vsn=2.0.0&token={token}")
        assert answer["token"] == token
        messages += [json.loads(m) for m in answer["messages"]]
    assert messages[0][:4] == ["1", "1", "room:lp", "phx_reply"]
    assert messages[1] == ["1", None, "room:lp", "welcome", {"topic": "room:lp"}]
    assert messages[2] == ["1", "2", "room:lp", "phx_reply", {"status": "ok", "response": {"y": 2}}]
    assert lp(server, "POST", "vsn=2.0.0&token=bogus", body) == {"status": 410}
    gone = lp(server, "GET", "vsn=2.0.0&token=AAAAAAAAAAAAAAAAAAAAAAAA.Zm9v")
    assert gone["status"] == 410
    assert gone["token"] != "AAAAAAAAAAAAAAAAAAAAAAAA.Zm9v"
    assert lp(server, "GET", "vsn=2.0.0&reject=1&") == {"status": 403}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'["1","1","room:lp","phx_join",{}]\n{not json', 400),
        (b"!!!not base64!!!", 400),
        (b"\xff\xfe", 400),
        (base64.b64encode(b"\x00\xff\xff\xff\xff"), 400),
        (b"\n".join([b'[null,"1","phoenix","heartbeat",{}]'] * 101), 400),  # was cut silently
    ],
)
def test_longpoll_bad_bodies_end_that_session_only(
    server: Server, body: bytes, status: int
) -> None:
    """A malformed POST line (bad JSON, bad base64, not UTF-8, a binary frame with bad
    lengths): that session ends (its next GET is 410), counted; other sessions go on."""
    other = lp(server, "GET", "vsn=2.0.0&")["token"]
    token = lp(server, "GET", "vsn=2.0.0&")["token"]
    before = stats(server)["counts"].get("bad_input", 0)
    assert lp(server, "POST", f"vsn=2.0.0&token={token}", body)["status"] == status
    assert lp(server, "GET", f"vsn=2.0.0&token={token}")["status"] == 410
    assert stats(server)["counts"]["bad_input"] == before + 1
    assert lp(
        server, "POST", f"vsn=2.0.0&token={other}", b'[null,"1","phoenix","heartbeat",{}]'
    ) == {"status": 200}
    assert (
        json.loads(lp(server, "GET", f"vsn=2.0.0&token={other}")["messages"][0])[3] == "phx_reply"
    )


def test_longpoll_oversized_body_is_413(small: Server) -> None:
    """A POST body over max_frame_size: 413 and the session ends."""
    token = lp(small, "GET", "vsn=2.0.0&")["token"]
    line = json.dumps(["1", "1", "room:lp", "echo", {"x": "y" * 2000}]).encode()
    assert lp(small, "POST", f"vsn=2.0.0&token={token}", line) == {"status": 413}
    assert lp(small, "GET", f"vsn=2.0.0&token={token}")["status"] == 410


def test_longpoll_cors_preflight_and_other_methods(server: Server) -> None:
    """OPTIONS: 200 with the CORS headers (echoing the requested headers); PUT: 400."""
    request = urllib.request.Request(f"{server.http}/socket/longpoll", method="OPTIONS")
    request.add_header("Access-Control-Request-Headers", "x-phoenix-authtoken")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.headers["access-control-allow-headers"] == "x-phoenix-authtoken"
        assert response.headers["access-control-allow-methods"] == "get, post, options"
        assert response.headers["access-control-allow-origin"] == "*"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            urllib.request.Request(f"{server.http}/socket/longpoll", data=b"", method="PUT"),
            timeout=5,
        )
    assert info.value.code == 400
    info.value.close()
