"""The official phoenix.js client (npm phoenix 1.8.16) against the test endpoint under a real
uvicorn, over WebSocket and LongPoll."""

from __future__ import annotations

import pytest

from .chankit import Server, run_js

TRANSPORTS = ["websocket", "longpoll"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_join_reply_push_broadcast_intercept_and_errors(server: Server, transport: str) -> None:
    """Join ok (its reply before the push made in join), replies ok/error, a push, a
    broadcast, a deferred reply, an intercepted event, refused/crashed/unmatched joins."""
    out = run_js(server.url, transport, "basic")
    assert out["join"] == {"status": "ok", "response": {"joined": "room:a", "user": "ann"}}
    assert out["welcome"] == {"topic": "room:a"}
    assert out["echo"] == {"status": "ok", "response": {"x": 1}}
    assert out["refuse"] == {"status": "error", "response": {"why": "asked"}}
    assert out["pushed"] == {"p": 2}
    assert out["shout"] == {"s": 3}
    assert out["later"] == {"status": "ok", "response": {"later": {"l": 4}}}
    assert out["lookup"]["response"] == {"found": True}
    assert out["filtered"] == {"f": 5, "filtered_by": "ann"}
    assert out["refused_join"] == {"status": "error", "response": {"reason": "unauthorized"}}
    assert out["crashed_join"] == {"status": "error", "response": {"reason": "join crashed"}}
    assert out["unmatched"] == {"status": "error", "response": {"reason": "unmatched topic"}}
    assert out["leave"] == "ok"
    if transport == "websocket":
        assert out["ping"] is True


def test_binary_reply_push_and_broadcast(server: Server) -> None:
    """An ArrayBuffer push is echoed as a binary reply; binary push and broadcast arrive."""
    out = run_js(server.url, "websocket", "binary")
    assert out["echo"] == {"status": "ok", "response": {"binary": [1, 2, 3]}}
    assert out["pushed"] == {"binary": [4, 5]}
    assert out["shout"] == {"binary": [6]}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_channel_crash_sends_phx_error_and_the_client_rejoins(
    server: Server, transport: str
) -> None:
    """A crash in handle_in: phx_error, the client rejoins on the same socket, pushes work."""
    out = run_js(server.url, transport, "crash_rejoin")
    assert out["errored"] is True
    assert out["joins"] == 2
    assert out["echo_after"] == {"status": "ok", "response": {"again": True}}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_side_stop_replies_then_closes_the_channel(server: Server, transport: str) -> None:
    """Stop with a reply: the reply first, then phx_close; the channel is closed for good."""
    out = run_js(server.url, transport, "stop")
    assert out["reply"] == {"status": "ok", "response": {"bye": True}}
    assert out["closed"] is True
    assert out["state"] == "closed"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disconnect_by_socket_id_closes_and_the_client_comes_back(
    server: Server, transport: str
) -> None:
    """channels.disconnect(id): closed with 1001 over WebSocket (3410 session gone over
    LongPoll); phoenix.js reconnects and rejoins."""
    out = run_js(server.url, transport, "disconnect")
    assert out["close_code"] == (1001 if transport == "websocket" else 3410)
    assert out["opens"] == 2
    assert out["joins"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refused_connect(server: Server, transport: str) -> None:
    """Socket.connect returning None: the client gets an error and is not connected."""
    out = run_js(server.url, transport, "refused")
    assert out["error"] is True
    assert out["connected"] is False


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_broadcast_broadcast_from_and_intercept_between_clients(
    server: Server, transport: str
) -> None:
    """Two clients: a broadcast reaches the other, broadcast_from skips the sender, an
    intercepted event goes through each receiver's handle_out."""
    out = run_js(server.url, transport, "fanout")
    assert out["b_got"] == {"from": "a"}
    assert out["b_got_others"] == {"n": 2}
    assert out["a_filtered"] == {"n": 3, "filtered_by": "a"}
    assert out["a_shouts"] == []  # broadcast_from: its own copy would precede its reply


def test_silent_client_is_closed_by_the_server() -> None:
    """A WebSocket client that sends nothing for heartbeat_timeout is closed (1001)."""
    srv = Server("heartbeat_timeout=0.5")
    try:
        out = run_js(srv.url, "websocket", "silent")
    finally:
        srv.stop()
    assert out["close_code"] == 1001
    assert out["after_ms"] >= 400


def _presence_or_skip() -> None:
    pytest.importorskip("beamish.presence", reason="beamish.presence has not landed here yet")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_presence_state_and_diffs_with_phoenix_js_presence(server: Server, transport: str) -> None:
    """phoenix.js Presence: alice sees herself (presence_state), then bob (presence_diff);
    bob sees both; bob's leave reaches alice as a leave; metas carry phx_ref."""
    _presence_or_skip()
    out = run_js(server.url, transport, "presence")
    assert out["alice_alone"] == ["alice"]
    assert out["alice_sees"] == ["alice", "bob"]
    assert out["bob_sees"] == ["alice", "bob"]
    assert sorted(out["meta"], key=lambda m: m["key"]) == [
        {"key": "alice", "online": True, "ref": "string"},
        {"key": "bob", "online": True, "ref": "string"},
    ]
    assert out["after_leave"] == ["alice"]
    assert ["bob", 1] in out["joins"]
    assert ["bob", 0] in out["leaves"]
