"""Channels across two and three nodes, each an OS process running the test endpoint under
uvicorn, joined in a beamish cluster over TCP."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from .chankit import JS, Server, node_modules, stats, until


@pytest.fixture(scope="module")
def trio_of_nodes() -> Iterator[list[Server]]:
    """Nodes a, b, c: b and c seed from a; waits until the mesh is full."""
    servers: list[Server] = []
    try:
        servers.append(Server("cluster=127.0.0.1:0", name="a@127.0.0.1"))
        seed = servers[0].cluster
        for name in ("b@127.0.0.1", "c@127.0.0.1"):
            servers.append(Server(f"cluster=127.0.0.1:0,{seed}", name=name))
        for srv in servers:
            until(lambda srv=srv: len(stats(srv)["nodes"]) == 2, f"{srv.http} sees both peers")
        yield servers
    finally:
        for srv in servers:
            srv.stop()


def post(server: Server, path: str, body: dict[str, Any] | None = None) -> None:
    request = urllib.request.Request(
        f"{server.http}{path}", data=json.dumps(body or {}).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=5).read()


class Listener:
    """A phoenix.js client joined to ``topic``, collecting "shout"s until one has "last"."""

    def __init__(self, server: Server, transport: str, topic: str, user: str) -> None:
        node_modules()
        self.proc = subprocess.Popen(
            ["node", str(JS / "scenarios.mjs"), server.url, transport, "listen", topic, user],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert json.loads(first) == {"ready": True}, first + self.proc.stderr.read()

    def result(self) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=30)
        result: dict[str, Any] = json.loads(out.splitlines()[-1])
        assert result["ok"], result.get("error", err)
        return result


@pytest.mark.parametrize("transport", ["websocket", "longpoll"])
def test_a_broadcast_from_one_node_reaches_clients_on_the_others(
    trio_of_nodes: list[Server], transport: str
) -> None:
    """Clients on a and c; an endpoint broadcast on b reaches both, in order, once each."""
    a, b, c = trio_of_nodes
    topic = f"room:x-{transport}"
    listeners = [Listener(a, transport, topic, "on-a"), Listener(c, transport, topic, "on-c")]
    until(lambda: stats(b, topic=topic)["subscribers"] == 2, "b knows both nodes subscribe")
    post(b, f"/broadcast?topic={topic}&n=5", {"from": "b"})
    post(b, f"/broadcast?topic={topic}", {"last": True})
    for listener in listeners:
        got = listener.result()["got"]
        assert got == [{"from": "b", "i": i} for i in range(5)] + [{"last": True, "i": 0}]


def test_disconnect_by_id_reaches_sockets_on_other_nodes(trio_of_nodes: list[Server]) -> None:
    """channels.disconnect(id) on b closes the socket of that user on a (it reconnects)."""
    a, b, _ = trio_of_nodes
    listener = Listener(a, "websocket", "room:dis-x", "victim")
    until(lambda: len(_pubsub_members(b, "user:victim")) == 1, "b knows the socket id subscription")
    connects = stats(a)["counts"]["connect"]
    post(b, "/disconnect?id=user:victim")
    until(lambda: stats(a)["counts"].get("disconnect", 0) >= 1, "a closed the socket")
    until(lambda: stats(a)["counts"]["connect"] == connects + 1, "the client reconnected")
    until(lambda: stats(a, topic="room:dis-x")["local"] == 1, "the client rejoined")
    post(a, "/broadcast?topic=room:dis-x", {"last": True})
    listener.result()


def _pubsub_members(server: Server, socket_id: str) -> list[Any]:
    with urllib.request.urlopen(f"{server.http}/stats?socket_id={socket_id}", timeout=5) as r:
        members: list[Any] = json.loads(r.read()).get("socket_subscribers", [])
        return members


def test_a_longpoll_session_is_served_by_another_node(trio_of_nodes: list[Server]) -> None:
    """A session created on a: POSTs and GETs that land on b and c are served by it."""
    a, b, c = trio_of_nodes
    token = _lp(a, "GET", "vsn=2.0.0&user=roamer&")["token"]
    body = b'["1","1","room:lb","phx_join",{}]\n["1","2","room:lb","echo",{"via":"b"}]'
    assert _lp(b, "POST", f"vsn=2.0.0&token={token}", body) == {"status": 200}
    messages: list[Any] = []
    while len(messages) < 3:
        answer = _lp(c, "GET", f"vsn=2.0.0&token={token}")
        assert (answer["status"], answer["token"]) == (200, token)
        messages += [json.loads(m) for m in answer["messages"]]
    assert messages[0][4] == {"status": "ok", "response": {"joined": "room:lb", "user": "roamer"}}
    assert messages[2] == [
        "1",
        "2",
        "room:lb",
        "phx_reply",
        {"status": "ok", "response": {"via": "b"}},
    ]
    assert stats(b)["connections"] == 0  # no session was created on b


def test_a_longpoll_session_is_found_through_the_registry(trio_of_nodes: list[Server]) -> None:
    """The token's node hint names no node of the cluster: b and c find the session made on
    a through the session registry (cluster scope) and serve it."""
    a, b, c = trio_of_nodes
    token = _lp(a, "GET", "vsn=2.0.0&user=nomad&")["token"]
    session_id = token.partition(".")[0]
    hint = base64.urlsafe_b64encode(b"nowhere@10.255.255.1").decode().rstrip("=")
    blind = f"{session_id}.{hint}"
    for srv in (b, c):
        until(lambda srv=srv: stats(srv, session=session_id)["session_known"], "replicated")
    connects = [stats(srv)["counts"].get("connect", 0) for srv in (b, c)]
    body = b'["1","1","room:nomad","phx_join",{}]'
    assert _lp(b, "POST", f"vsn=2.0.0&token={blind}", body) == {"status": 200}
    answer = _lp(c, "GET", f"vsn=2.0.0&token={blind}")
    assert (answer["status"], answer["token"]) == (200, blind)
    reply = json.loads(answer["messages"][0])
    assert reply[4] == {"status": "ok", "response": {"joined": "room:nomad", "user": "nomad"}}
    assert [stats(srv)["counts"].get("connect", 0) for srv in (b, c)] == connects  # none new


def _lp(server: Server, method: str, query: str, body: bytes | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.http}/socket/longpoll?{query}", data=body, method=method
    )
    if body is not None:
        request.add_header("Content-Type", "application/x-ndjson")
    with urllib.request.urlopen(request, timeout=15) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def test_presence_across_nodes(trio_of_nodes: list[Server]) -> None:
    """alice on a, bob on c: each phoenix.js Presence lists both; bob's leave reaches a."""
    pytest.importorskip("beamish.presence", reason="beamish.presence has not landed here yet")
    from .chankit import run_js

    a, _, c = trio_of_nodes
    out = run_js(a.url, "websocket", "presence", c.url)
    assert out["alice_sees"] == ["alice", "bob"]
    assert out["bob_sees"] == ["alice", "bob"]
    assert out["after_leave"] == ["alice"]
