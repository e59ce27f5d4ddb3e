"""What one hostile client can get out of a server: a client that pushes big frames and reads
none of the replies is disconnected once its outbox holds ``outbox_bytes``, long before the
frame count limit (1,000 frames of up to 1 MB each would be a gigabyte per connection); a
connect that crashes leaves no credential of the client in the log."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import urllib.request
from typing import Any

import anyio
import pytest

from .chankit import Server, stats, until


def _frame(data: bytes) -> bytes:
    """A masked client text frame (a zero mask: the payload goes as it is)."""
    if len(data) < 126:
        header = bytes([0x81, 0x80 | len(data)])
    elif len(data) < 1 << 16:
        header = bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(data))
    else:
        header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", len(data))
    return header + b"\0\0\0\0" + data


def _sloth(port: int) -> socket.socket:
    """A client that joins ``room:big`` and never reads again (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotuning
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /socket/websocket?vsn=2.0.0&user=sloth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    sock.sendall(_frame(json.dumps(["1", "1", "room:big", "phx_join", {}]).encode()))
    assert b"phx_reply" in sock.recv(4096)
    return sock


def test_big_replies_to_a_client_that_does_not_read_are_bounded_in_bytes(server: Server) -> None:
    before = stats(server)["counts"].get("outbox_overflow", 0)
    sloth = _sloth(server.port)
    pad = "a" * 900_000
    try:
        for ref in range(40):  # 36 MB of echo replies: far under 1,000 frames
            try:
                sloth.sendall(
                    _frame(json.dumps(["1", str(ref), "room:big", "echo", {"p": pad}]).encode())
                )
            except OSError:  # disconnected already
                break
        until(lambda: stats(server)["counts"].get("outbox_overflow", 0) == before + 1, "overflow")
    finally:
        sloth.close()
    until(lambda: stats(server)["connections"] == 0, "the sloth's connection process gone")


def test_a_crashed_connect_logs_no_credentials() -> None:
    """The crash report of a connect that raised names the connection, not the client's
    token, cookie or auth token (phoenix.js sends its token as a query parameter)."""
    secret = "s3cr3t-credential"
    server = Server()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        protocol = "base64url.bearer.phx." + base64.b64encode(secret.encode()).decode().rstrip("=")
        sock.sendall(
            f"GET /socket/websocket?vsn=2.0.0&crash_connect=1&token={secret} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Cookie: sid={secret}\r\nAuthorization: Bearer {secret}\r\n"
            f"Sec-WebSocket-Protocol: phoenix, {protocol}\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 403")
        sock.close()
    finally:
        output = server.stop()
    assert "connect crashed on purpose" in output
    assert secret not in output
    assert protocol.rpartition(".")[2] not in output


def test_a_longpoll_token_is_not_in_any_process_name(server: Server) -> None:
    """Process names are shown to whoever observes the node (the dashboard, ``beamish top``):
    a LongPoll session is registered under a digest of its id, never the token's secret."""
    request = urllib.request.Request(f"{server.http}/socket/longpoll?vsn=2.0.0&user=lp")
    with urllib.request.urlopen(request, timeout=15) as response:
        token = json.loads(response.read())["token"]
    session_id = token.partition(".")[0]
    names = stats(server)["names"]
    assert any(name.startswith("beamish.channels.lp.") for name in names)
    assert not any(session_id in name for name in names)


def test_a_client_that_pushes_faster_than_its_channel_handles_is_disconnected(
    server: Server,
) -> None:
    """Pushes go from the transport straight into the channel's mailbox: a client that
    pushes big frames at a busy channel is disconnected once ``inbox_bytes`` (16 MB) of its
    frames wait unhandled, and counted; not 10,000 frames of up to 1 MB each (10 GB) later.
    Another client is served meanwhile."""
    before = stats(server)
    flooder = _sloth(server.port)
    pad = "a" * 900_000
    try:
        flooder.sendall(
            _frame(json.dumps(["1", "0", "room:big", "hold", {"seconds": 15}]).encode())
        )
        for ref in range(1, 41):  # 36 MB of pushes while the channel is busy
            try:
                flooder.sendall(
                    _frame(json.dumps(["1", str(ref), "room:big", "echo", {"p": pad}]).encode())
                )
            except OSError:  # disconnected already
                break
        bad_input = before["counts"].get("bad_input", 0) + 1
        until(lambda: stats(server)["counts"].get("bad_input", 0) == bad_input, "disconnected")
        other = _sloth(server.port)  # joins and gets its reply: the server is not hurt
        other.close()
    finally:
        flooder.close()
    until(lambda: stats(server)["connections"] <= before["connections"], "the flooder gone")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Real clocks: these tests talk to a server in another OS process."""
    return request.param


@pytest.mark.anyio
async def test_handled_pushes_give_their_inbox_bytes_back(server: Server) -> None:
    """A client whose pushes are handled as they come is never cut off, however much it
    sends in all: 27 MB of pushes (over ``inbox_bytes``), each answered, on one connection,
    through a channel that is left and joined again halfway."""
    from beamish.channels import client

    before = stats(server)["counts"].get("bad_input", 0)
    pad = "b" * 900_000
    with anyio.fail_after(60):
        async with client.connect(server.url, {"user": "steady"}) as socket:
            for _half in range(2):
                room = socket.channel("room:steady")
                await room.join()
                for i in range(15):
                    reply = await room.push("echo", {"i": i, "p": pad})
                    assert reply.ok
                    assert reply.response["i"] == i
                await room.leave()
    assert stats(server)["counts"].get("bad_input", 0) == before


@pytest.mark.anyio
async def test_one_frame_of_max_frame_size_always_fits_the_inbox() -> None:
    """``inbox_bytes`` below ``max_frame_size`` does not cut off a client for one frame
    the endpoint allows."""
    from beamish.channels import client

    small = Server("max_frame_size=2000000", "inbox_bytes=1000000")
    try:
        with anyio.fail_after(30):
            async with client.connect(small.url, {"user": "big"}) as socket:
                room = socket.channel("room:big")
                await room.join()
                reply = await room.push("echo", {"p": "c" * 1_500_000})
                assert reply.status == "ok"
                assert len(reply.response["p"]) == 1_500_000
        assert stats(small)["counts"].get("bad_input", 0) == 0
    finally:
        small.stop()
