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


def test_a_longpoll_client_that_posts_faster_than_its_channel_handles_is_disconnected(
    server: Server,
) -> None:
    """POSTs hand their frames to the channel's mailbox: over ``inbox_bytes`` (16 MB) of
    them unhandled, the session ends (that POST answers 400, counted) instead of queueing
    up to 10,000 frames of 1 MB."""
    before = stats(server)["counts"].get("bad_input", 0)
    token = new_session(server, "flood")
    query = f"vsn=2.0.0&token={token}"

    def post(*frames: list[Any]) -> int:
        body = "\n".join(json.dumps(frame) for frame in frames).encode()
        status, answer, _ = lp(server, "POST", query, body)
        assert status == 200
        return int(answer["status"])

    assert post(["1", "1", "room:lp", "phx_join", {}]) == 200
    assert post(["1", "2", "room:lp", "hold", {"seconds": 15}]) == 200
    pad = "a" * 900_000
    answers = [post(["1", str(ref), "room:lp", "echo", {"p": pad}]) for ref in range(3, 43)]
    assert 400 in answers
    assert set(answers[answers.index(400) + 1 :]) <= {410}
    until(lambda: stats(server)["counts"].get("bad_input", 0) == before + 1, "counted")


@pytest.mark.parametrize(
    "node_hint",
    [
        "ZXZpbEBub3doZXJl",  # evil@nowhere: not connected
        "Y2hhbkBsb2NhbGhvc3Q",  # chan@localhost, the server's own node: no such session
        "B" * 5000,  # over 400 characters
        "",
        "!!!!",  # not base64url
        "__4",  # b"\xff\xfe": not UTF-8
    ],
)
def test_a_forged_token_gets_a_clean_410_and_takes_nothing(server: Server, node_hint: str) -> None:
    """A token whose session id is well formed but unknown, with any node hint, is a new
    session (410 + a fresh token, as Phoenix), for a GET, and a 410 for a POST; the live
    session beside it goes on."""
    victim = new_session(server, "victim")
    forged = "A" * 24 + "." + node_hint
    status, body, _ = lp(server, "GET", f"vsn=2.0.0&user=x&token={forged}")
    assert (status, body["status"], body["messages"]) == (200, 410, [])
    assert body["token"] not in (forged, victim)
    join = json.dumps(["1", "1", "room:f", "phx_join", {}]).encode()
    assert lp(server, "POST", f"vsn=2.0.0&token={forged}", join)[1] == {"status": 410}
    assert lp(server, "POST", f"vsn=2.0.0&token={victim}", join)[1] == {"status": 200}
