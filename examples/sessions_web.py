"""Browser sessions as processes: a signed cookie names each visitor's SessionProcess.

    python examples/sessions_web.py [PORT] [SNAPSHOT_DB]   # uvicorn on 127.0.0.1:PORT
    curl -c jar -b jar http://127.0.0.1:8000/visit          # {"id": "...", "visits": 1}, 2...

The lifespan starts a node with a ``Sessions`` subtree (ttl 30 minutes; snapshots to
SNAPSHOT_DB when given, so visits survive a restart). ``SessionMiddleware`` gives every
browser a signed session id in a cookie and starts its session; ``/visit`` calls it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import beamish
from beamish import sessions
from beamish.supervision import Supervisor

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SECRET = os.environ.get("SESSION_SECRET", "change me: 32 random bytes in production")
SNAPSHOTS = sys.argv[2] if len(sys.argv) > 2 else None


class Visitor(sessions.SessionProcess):
    """One browser: counts its visits."""

    def init_state(self, args: Any) -> dict[str, int]:
        return {"visits": 0}

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        if request == "visit":
            self.state["visits"] += 1
        return self.state["visits"]


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "lifespan.startup"
    async with beamish.runtime.start(name="web@localhost") as node:
        spec = sessions.Sessions.child_spec(
            session=Visitor,
            ttl=1800,
            snapshots=None if SNAPSHOTS is None else f"sqlite:{SNAPSHOTS}",
        )
        sup = await Supervisor.start([spec])
        scope["state"]["node"] = node
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        await beamish.stop(sup)  # sessions stop in order; with snapshots, each is saved
    await send({"type": "lifespan.shutdown.complete"})


async def respond(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    session_id = scope["beamish.session_id"]  # put there by SessionMiddleware
    if scope["path"] != "/visit":
        await respond(send, 404, {"error": "not found"})
        return
    with scope["state"]["node"]:  # request tasks run outside the node: enter it
        visits = await sessions.call(session_id, "visit")
    await respond(send, 200, {"id": session_id, "visits": visits})


async def routes(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
    else:
        await http(scope, receive, send)


app = sessions.SessionMiddleware(routes, secret=SECRET, sessions="sessions")


def main(argv: list[str]) -> None:
    import uvicorn

    port = int(argv[1]) if len(argv) > 1 else 8000
    logging.basicConfig(level=logging.INFO)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)  # exit 0 after uvicorn's graceful shutdown
    uvicorn.run(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")


if __name__ == "__main__":
    main(sys.argv)
