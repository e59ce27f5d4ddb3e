"""The channels client's LongPoll: its HTTP/1.1 client against raw servers (bodies, keep-alive,
bounds), a hostile LongPoll server, and the fallback from WebSocket to LongPoll against the
test endpoint under uvicorn. (The client scenarios over LongPoll are in test_client.py.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from beamish.channels import client
from beamish.channels._http_client import HTTPConnection, HTTPError

from .chankit import Server

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


Request = tuple[str, str, bytes]  # method, target, body
Handler = Callable[[Request, int], Awaitable[bytes | None]]  # raw answer; None: close


class RawServer:
    """An HTTP server that answers each request with the raw bytes ``handler`` gives (and
    closes after an answer with ``connection: close``); ``connections`` counts the TCP
    connections it accepted."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = 0

    async def _serve(self, stream: anyio.abc.ByteStream) -> None:
        self.connections += 1
        number = self.connections
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            while True:
                try:
                    head = await reader.receive_until(b"\r\n\r\n", 65536)
                except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.receive_exactly(length) if length else b""
                answer = await self.handler((method, target, body), number)
                if answer is None:
                    return
                await stream.send(answer)
                if b"connection: close" in answer.partition(b"\r\n\r\n")[0]:
                    return


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:

        async def start(handler: Handler) -> RawServer:
            server = RawServer(handler)
            server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
            tg.start_soon(listener.serve, server._serve)
            return server

        yield start
        tg.cancel_scope.cancel()


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


async def test_http_bodies_and_keep_alive(raw_server: Any) -> None:
    """Content-Length, chunked and read-to-close bodies; a kept-alive connection is reused,
    one the server closes (``connection: close``, or a body read to the close) is not."""

    async def handler(request: Request, _: int) -> bytes:
        target = request[1]
        if target == "/length":
            return answer(b"hello", "content-length: 5")
        if target == "/chunked":
            return answer(
                b"3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n", "transfer-encoding: chunked"
            )
        if target == "/echo":
            return answer(request[2], f"content-length: {len(request[2])}", "connection: close")
        return answer(b"to the end", "connection: close")

    server = await raw_server(handler)
    connection = HTTPConnection("127.0.0.1", server.port)
    with anyio.fail_after(10):
        assert await connection.request("GET", "/length") == (200, b"hello")
        assert await connection.request("GET", "/chunked") == (200, b"abcde")
        assert await connection.request("GET", "/length") == (200, b"hello")
        assert server.connections == 1
        assert await connection.request("POST", "/echo", [], b"x\ny") == (200, b"x\ny")
        assert await connection.request("GET", "/close") == (200, b"to the end")
        assert await connection.request("GET", "/length") == (200, b"hello")
        assert server.connections == 3
    await connection.aclose()


BAD_ANSWERS = [
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 2xx OK\r\n\r\n",
    answer(b"", "no colon here"),
    answer(b"", *[f"x-{i}: y" for i in range(101)]),
    answer(b"", "x-long: " + "y" * 9000),
    answer(b"x" * 10, "content-length: 1001"),
    answer(b"", "content-length: -1"),
    answer(b"zz\r\n", "transfer-encoding: chunked"),
    answer(b"400\r\n" + b"x" * 1024 + b"\r\n0\r\n\r\n", "transfer-encoding: chunked"),
    answer(b"3\r\nabcXX0\r\n\r\n", "transfer-encoding: chunked"),
    answer(b"y" * 1001, "connection: close"),
    answer(b"short", "content-length: 10", "connection: close"),
]


async def test_http_bad_answers_fail_that_request_only(raw_server: Any) -> None:
    """Each malformed or oversized answer is an HTTPError (bounded reads: nothing past
    max_body, 8 KiB lines, 100 headers is buffered); the next request works."""

    async def handler(request: Request, _: int) -> bytes | None:
        if request[1] == "/good":
            return answer(b"ok", "content-length: 2")
        return BAD_ANSWERS[int(request[1][1:])]

    server = await raw_server(handler)
    connection = HTTPConnection("127.0.0.1", server.port, max_body=1000)
    with anyio.fail_after(20):
        for i in range(len(BAD_ANSWERS)):
            with pytest.raises(HTTPError):
                await connection.request("GET", f"/{i}")
            assert await connection.request("GET", "/good") == (200, b"ok")
    await connection.aclose()


async def test_http_no_server_is_an_http_error() -> None:
    with anyio.fail_after(10):
        import socket

        with socket.socket() as bound:  # bound, not listening: refused
            bound.bind(("127.0.0.1", 0))
            connection = HTTPConnection("127.0.0.1", bound.getsockname()[1])
            with pytest.raises(HTTPError):
                await connection.request("GET", "/")


def _json_answer(body: Any) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return answer(data, f"content-length: {len(data)}", "content-type: application/json")


BAD_POLLS: list[Any] = [
    b"not json",
    {"status": "200", "token": "x", "messages": []},
    {"status": 200, "token": 7, "messages": []},
    {"status": 200, "token": "T", "messages": [["1", "1", "room:a", "phx_reply", {}]]},
    {"status": 200, "token": "T", "messages": ["not a frame"]},
    {"status": 999, "token": "T", "messages": []},
    {"status": 500},
    {"status": 410, "token": "T", "messages": []},  # the session is gone
    b"[" * 2000,  # over the client's max_size (1000)
]


async def test_a_hostile_longpoll_server_closes_that_session_only(raw_server: Any) -> None:
    """Session k answers its first poll with BAD_POLLS[k]: the client closes it, opens a new
    session and rejoins; the session after the last bad one serves the join."""
    sessions = 0
    join: list[Any] = []
    joined = anyio.Event()

    async def handler(request: Request, _: int) -> bytes | None:
        nonlocal sessions
        method, target, body = request
        token = target.partition("token=")[2]
        if method == "GET" and not token:
            sessions += 1
            return _json_answer({"status": 410, "token": f"T{sessions - 1}", "messages": []})
        k = int(token[1:])
        if method == "POST":
            if k == len(BAD_POLLS):
                join.append(json.loads(body.split(b"\n")[0]))
                joined.set()
            return _json_answer({"status": 200})
        if k < len(BAD_POLLS):
            return _json_answer(BAD_POLLS[k])
        if join:
            ref = join.pop()
            reply = [ref[0], ref[1], ref[2], "phx_reply", {"status": "ok", "response": {}}]
            return _json_answer({"status": 200, "token": token, "messages": [json.dumps(reply)]})
        await joined.wait()
        return _json_answer({"status": 204, "token": token, "messages": []})

    server = await raw_server(handler)
    closes: list[int] = []
    with anyio.fail_after(30):
        async with client.connect(
            f"ws://127.0.0.1:{server.port}/socket",
            transport="longpoll",
            max_size=1000,
            reconnect_after=lambda tries: 0.01,
            timeout=20,
        ) as socket:
            socket.on_close(closes.append)
            room = socket.channel("room:a")
            assert await room.join() == {}
            assert socket.connects == len(BAD_POLLS) + 1
    assert len(closes) == len(BAD_POLLS)
    assert closes[BAD_POLLS.index({"status": 410, "token": "T", "messages": []})] == 3410
    assert closes[BAD_POLLS.index({"status": 500})] == 1011


@pytest.fixture(scope="module")
def longpoll_only() -> Iterator[Server]:
    srv = Server("websocket=0")
    try:
        yield srv
    finally:
        srv.stop()


async def test_longpoll_fallback_when_the_websocket_is_refused(longpoll_only: Server) -> None:
    """No WebSocket at the endpoint: with longpoll_fallback the socket uses LongPoll and
    reconnects over it; without, the connect fails."""
    with anyio.fail_after(20):
        with pytest.raises(client.ConnectError):
            async with client.connect(longpoll_only.url, {"user": "ws"}):
                raise AssertionError("connected")
        async with client.connect(longpoll_only.url, {"user": "fb"}, longpoll_fallback=5) as socket:
            assert socket.transport == "longpoll"
            room = socket.channel("room:fb")
            assert await room.join() == {"joined": "room:fb", "user": "fb"}
            info = await room.push("info")
            assert info.response["transport"] == "longpoll"
