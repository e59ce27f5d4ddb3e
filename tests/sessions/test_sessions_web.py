"""SessionMiddleware under a real uvicorn (examples/sessions_web.py), over real HTTP: a
missing, a valid, a forged and a malformed cookie; and in-process for https and
WebSocket scopes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from beamish import sessions
from beamish.sessions._middleware import SCOPE_KEY, CookieSigner

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sessions_web.py"
SECRET = "change me: 32 random bytes in production"
COOKIE = "beamish_session"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def visit(base, cookie=None):
    request = urllib.request.Request(base + "/visit")
    if cookie is not None:
        request.add_header("Cookie", cookie)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read()), response.headers.get_all("Set-Cookie") or []


def cookie_value(set_cookies):
    (header,) = set_cookies
    first, *attributes = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    assert name == COOKIE
    return value, attributes


def serve(port, *args):
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(400):  # bounded: retry only while the port refuses connections
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.communicate()[0]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return proc, base
        except ConnectionRefusedError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server never listened")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    return output


@pytest.fixture
def server():
    proc, base = serve(free_port())
    try:
        yield base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_missing_cookie_gets_a_fresh_signed_id(server):
    """No cookie: a new id, a Set-Cookie HttpOnly, SameSite=Lax, Path=/, not Secure over
    http; the session behind it counts the visit."""
    body, set_cookies = visit(server)
    value, attributes = cookie_value(set_cookies)
    assert CookieSigner(SECRET).verify(value) == body["id"]
    assert sessions.is_valid_id(body["id"])
    assert len(body["id"]) == 32
    assert body["visits"] == 1
    assert set(attributes) == {"Path=/", "HttpOnly", "SameSite=Lax"}


def test_valid_cookie_keeps_its_session(server):
    """The cookie sent back: the same id, no new Set-Cookie, the same process counting."""
    first, set_cookies = visit(server)
    value, _ = cookie_value(set_cookies)
    again, set_again = visit(server, f"{COOKIE}={value}")
    assert again == {"id": first["id"], "visits": 2}
    assert set_again == []
    third, _ = visit(server, f"other=1; {COOKIE}={value}; more=2")
    assert third == {"id": first["id"], "visits": 3}


@pytest.mark.parametrize(
    "forged",
    [
        "attacker.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # a made-up signature
        CookieSigner("another secret, 32 bytes long!!!").sign("victim"),  # another key
        "victim",  # no signature
        "bad id!.sig",
        "x" * 4000,  # oversized
        "\u00ff\u00fe.\u00e9",  # not ascii
        "",
    ],
)
def test_forged_or_malformed_cookie_gets_a_fresh_id(server, forged):
    """A forged, foreign, unsigned or malformed cookie is never trusted and never an error
    page: 200, a fresh id, a new Set-Cookie; the victim's session is not reached."""
    victim, _ = visit(server)
    body, set_again = visit(server, f"{COOKIE}={forged}")
    assert body["visits"] == 1
    assert body["id"] != victim["id"]
    assert body["id"] != "victim"
    value, _ = cookie_value(set_again)
    assert CookieSigner(SECRET).verify(value) == body["id"]


def test_a_tampered_valid_cookie_is_refused(server):
    """A valid cookie with its id changed (signature kept) gets a fresh id."""
    body, set_cookies = visit(server)
    value, _ = cookie_value(set_cookies)
    session_id, _, signature = value.rpartition(".")
    tampered = ("B" if session_id[0] != "B" else "C") + session_id[1:]
    other, set_again = visit(server, f"{COOKIE}={tampered}.{signature}")
    assert other["id"] not in (body["id"], tampered)
    assert set_again


def test_sessions_survive_a_restart_with_snapshots(tmp_path):
    """With snapshots, a stopped server's sessions come back on the next one: the same
    cookie, the visit count goes on."""
    db = str(tmp_path / "web.db")
    proc, base = serve(free_port(), db)
    try:
        body, set_cookies = visit(base)
        value, _ = cookie_value(set_cookies)
        visit(base, f"{COOKIE}={value}")
    finally:
        stop(proc)
    proc, base = serve(free_port(), db)
    try:
        again, _ = visit(base, f"{COOKIE}={value}")
    finally:
        stop(proc)
    assert again == {"id": body["id"], "visits": 3}


async def _asgi(scope):
    sent = []

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        sent.append(message)

    seen = {}

    async def app(scope, receive, send):
        seen["id"] = scope.get(SCOPE_KEY)
        start = "http.response.start" if scope["type"] == "http" else "websocket.accept"
        await send({"type": start, "headers": []})

    await sessions.SessionMiddleware(app, secret=SECRET)(scope, receive, send)
    return seen["id"], sent


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "scheme", "secure"),
    [("http", "https", True), ("http", "http", False), ("websocket", "wss", True)],
)
async def test_secure_over_https_and_websocket_scopes(kind, scheme, secure):
    """Secure is set over https and wss only; a WebSocket scope gets the id too, and its
    accept carries the cookie."""
    scope = {"type": kind, "scheme": scheme, "headers": [], "path": "/"}
    session_id, sent = await _asgi(scope)
    assert sessions.is_valid_id(session_id)
    (header,) = [v for k, v in sent[0]["headers"] if k == b"set-cookie"]
    assert (b"; Secure" in header) is secure
    assert CookieSigner(SECRET).verify(header.split(b";")[0].split(b"=", 1)[1].decode()) == (
        session_id
    )


@pytest.mark.anyio
async def test_other_scopes_pass_through():
    """A lifespan scope reaches the app untouched, without an id."""
    seen = []

    async def app(scope, receive, send):
        seen.append(dict(scope))

    await sessions.SessionMiddleware(app, secret=SECRET)({"type": "lifespan"}, None, None)
    assert seen == [{"type": "lifespan"}]
