"""The chat as one ASGI application, and the supervision tree it runs on.

    Chat (one_for_one)
    ├── presence   Presence: who is online in each room, replicated across the nodes
    ├── sessions   Sessions: one ChatSession per browser, snapshots in SQLite
    ├── rooms      Rooms: one Room per room name
    └── endpoint   channels.Endpoint: one process per connection and per joined channel

``build(...)`` returns the ASGI app: the ``lifespan`` starts a beamish node (distributed
when a cookie is given, so ``python -m beamish top`` and the other chat nodes can reach it)
with that tree as its application supervisor; HTTP serves the page, the phoenix client
from ``node_modules``, and the dashboard at ``/dashboard``; WebSockets go to the endpoint.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import beamish
from beamish import channels, observe, sessions
from beamish.supervision import child_spec

from .rooms import Rooms
from .sockets import PRESENCE, ChatSocket

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PHOENIX = HERE / "node_modules" / "phoenix" / "priv" / "static"
SESSION_COOKIE = "beamish_chat"
SESSION_HEADER = b"x-chat-session"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("chat")


def build(
    *,
    node: str = "chat@localhost",
    cookie: str | None = None,
    seeds: tuple[str, ...] = (),
    state_dir: Path = HERE / ".state",
    secret: bytes | None = None,
    show_state: bool = False,
    on_ready: Callable[[beamish.Node], None] | None = None,
) -> App:
    """The chat's ASGI app; ``on_ready(node)`` runs once the node and its tree are up.

    ``secret`` signs the session cookies (default: random, kept in ``state_dir``, so a
    restart keeps the sessions). ``show_state=True`` lets every browser read any process's
    state on the dashboard (session ids included): for a chat only you can reach.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    if secret is None:
        secret = _secret(state_dir / "cookie-secret")
    dashboard = observe.Dashboard(show_state=show_state)

    class Socket(ChatSocket):
        routes: ClassVar = [*ChatSocket.routes, (observe.DASHBOARD_TOPIC, dashboard.channel)]

    endpoint = channels.Endpoint(Socket, path="/socket")  # Origin must match Host
    snapshots = f"sqlite:{state_dir / ('sessions-' + node.partition('@')[0] + '.db')}"
    children = [
        PRESENCE.child_spec(),
        # a session is found by its id from any node (the registry spans the cluster)
        sessions.Sessions.child_spec(name="sessions", snapshots=snapshots, snapshot_every=1.0),
        child_spec(Rooms, id="rooms"),
        {**endpoint.child_spec(), "id": "endpoint"},
    ]
    pages = _pages(dashboard)
    web = sessions.SessionMiddleware(_route(endpoint, pages), secret=secret, cookie=SESSION_COOKIE)
    config: dict[str, Any] = {"name": node, "children": children}
    if cookie:
        config["cluster"] = {"cookie": cookie, "seeds": list(seeds)}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(scope, receive, send, config, on_ready)
        else:
            await web(scope, receive, send)

    return app


def _secret(path: Path) -> bytes:
    """The cookie secret kept in ``path``, made (random, owner-only) by the first node."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # another node is writing it: 32 bytes, at once
            secret = path.read_bytes()
            if len(secret) == 32:
                return secret
            time.sleep(0.01)
        raise RuntimeError(f"{path} does not hold a 32-byte secret") from None
    with os.fdopen(fd, "wb") as file:
        file.write(secrets.token_bytes(32))
    return path.read_bytes()


def _route(endpoint: App, pages: App) -> App:
    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/socket"):
            # the session id the middleware verified reaches Socket.connect as a header; one
            # the client sent under that name is dropped first
            headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != SESSION_HEADER]
            headers.append((SESSION_HEADER, scope["beamish.session_id"].encode()))
            await endpoint({**scope, "headers": headers}, receive, send)
        else:
            await pages(scope, receive, send)

    return route


async def _lifespan(
    scope: Scope,
    receive: Receive,
    send: Send,
    config: dict[str, Any],
    on_ready: Callable[[beamish.Node], None] | None,
) -> None:
    message = await receive()
    assert message["type"] == "lifespan.startup"
    started = False
    try:
        async with beamish.runtime.start(**config) as node:
            scope.setdefault("state", {})["node"] = node
            await send({"type": "lifespan.startup.complete"})
            started = True
            if on_ready is not None:
                on_ready(node)
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
    except Exception as exc:
        log.exception("the chat's node failed")
        failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
        await send({"type": failed, "message": repr(exc)})
        return
    await send({"type": "lifespan.shutdown.complete"})


def _pages(dashboard: App) -> App:
    files = {
        "/": STATIC / "index.html",
        "/static/chat.js": STATIC / "chat.js",
        "/static/chat.css": STATIC / "chat.css",
        "/static/phoenix.mjs": PHOENIX / "phoenix.mjs",
        "/favicon.ico": PHOENIX / "favicon.ico",
    }

    async def pages(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/dashboard" or path.startswith("/dashboard/"):
            await dashboard(scope, receive, send)
            return
        file = files.get(path)
        if file is None or not file.exists():
            missing = file is not None  # the phoenix client: `npm ci` was not run
            body = b"run `make demo` (it runs npm ci)\n" if missing else b"not found\n"
            await _respond(send, 404, "text/plain", body)
            return
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if file.suffix in (".js", ".mjs"):
            kind = "text/javascript"
        await _respond(send, 200, kind, file.read_bytes())

    return pages


async def _respond(send: Send, status: int, kind: str, body: bytes) -> None:
    headers = [
        (b"content-type", kind.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
