"""The LongPoll server against hostile and vanishing clients, under a real uvicorn: a poll
whose client went away ends at once, and a flood of session-creating GETs stops at the
endpoint's ``longpoll_sessions`` without touching the sessions that exist."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from .chankit import Server, stats, until


def lp(
    server: Server, method: str, query: str, body: bytes | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One LongPoll request: HTTP status, JSON body, headers."""
    request = urllib.request.Request(
        f"{server.http}/socket/longpoll?{query}", data=body, method=method
    )
    if body is not None:
        request.add_header("Content-Type", "application/x-ndjson")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, json.loads(refused.read()), dict(refused.headers)


def new_session(server: Server, user: str) -> str:
    status, body, _ = lp(server, "GET", f"vsn=2.0.0&user={user}")
    assert (status, body["status"]) == (200, 410), body
    token: str = body["token"]
    return token


@pytest.fixture
def long_window() -> Iterator[Server]:
    srv = Server("longpoll_window=30.0", "longpoll_sessions=5")
    try:
        yield srv
    finally:
        srv.stop()


def test_a_poll_whose_client_went_away_ends_at_once(long_window: Server) -> None:
    """Clients that vanish mid-poll (30 s window) hold no GET: each ends when the server
    sees the disconnect, long before its window."""
    tokens = [new_session(long_window, f"vanish{i}") for i in range(3)]
    clients = []
    for token in tokens:
        client = socket.create_connection(("127.0.0.1", long_window.port), timeout=10)
        client.sendall(
            f"GET /socket/longpoll?vsn=2.0.0&token={token} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\n\r\n".encode()
        )
        clients.append(client)
    until(lambda: stats(long_window)["polls"] == 3, "three polls wait")
    for client in clients:
        client.close()
    until(lambda: stats(long_window)["polls"] == 0, "the polls of the gone clients ended")
    # the sessions are still there: a poll with the token is served
    token = tokens[0]
    join = b'["1","1","room:v","phx_join",{}]'
    assert lp(long_window, "POST", f"vsn=2.0.0&token={token}", join)[1] == {"status": 200}
    _, answer, _ = lp(long_window, "GET", f"vsn=2.0.0&token={token}")
    assert answer["status"] == 200
    assert json.loads(answer["messages"][0])[3] == "phx_reply"


def test_a_flood_of_sessions_stops_at_the_bound(long_window: Server) -> None:
    """longpoll_sessions=5: GETs without a token (and with a stale one) beyond the live
    sessions get HTTP 503, body status 500 (phoenix.js retries), counted in telemetry; the
    live sessions keep working; a slot frees when a session ends."""
    tokens = [new_session(long_window, f"flood{i}") for i in range(5)]
    assert stats(long_window)["lp_sessions"] == 5
    for query in ["vsn=2.0.0&user=x"] * 20 + ["vsn=2.0.0&token=stale.x", "vsn=2.0.0&token="]:
        status, body, headers = lp(long_window, "GET", query)
        assert (status, body) == (503, {"status": 500})
        assert headers["retry-after"] == "5"
    assert stats(long_window)["counts"]["longpoll_limit"] == 22
    assert stats(long_window)["lp_sessions"] == 5
    token = tokens[0]
    join = b'["1","1","room:f","phx_join",{}]'
    assert lp(long_window, "POST", f"vsn=2.0.0&token={token}", join)[1] == {"status": 200}
    _, answer, _ = lp(long_window, "GET", f"vsn=2.0.0&token={token}")
    assert answer["status"] == 200
    # a malformed POST ends that session: its slot is free again
    assert lp(long_window, "POST", f"vsn=2.0.0&token={token}", b"not base64!")[1] == {"status": 400}
    until(lambda: stats(long_window)["lp_sessions"] == 4, "the ended session's slot is free")
    new_session(long_window, "after")
    assert stats(long_window)["lp_sessions"] == 5
