"""A small app for the dashboard's browser test: ``python -m tests.browser.dashapp PORT``.

Serves the dashboard at ``/dashboard`` and the phoenix client at ``/phoenix.mjs`` on one
node (``dash@localhost``) whose tree is ``workers``, a DynamicSupervisor, and the
channels endpoint. ``POST /spawn`` starts one more ``Worker`` under ``workers`` and answers
its pid. Prints ``READY <url>`` once it serves.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, ClassVar

import uvicorn

import beamish
from beamish import channels, observe
from beamish.supervision import DynamicSupervisor, child_spec, start_child

from .browserkit import PHOENIX_JS

board = observe.Dashboard(phoenix_js="/phoenix.mjs", show_state=True, interval=0.3)


class Worker(beamish.Actor):
    def init(self, secret: str = "s3cret") -> None:
        self.secret = secret

    def format_status(self, state: dict[str, Any]) -> Any:
        return {**state, "secret": "***"}


class DashSocket(channels.Socket):
    routes: ClassVar = [(observe.DASHBOARD_TOPIC, board.channel)]

    def connect(self, params: dict[str, Any], connect_info: channels.ConnectInfo) -> Any:
        return {}


endpoint = channels.Endpoint(DashSocket, path="/socket", check_origin=False)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        children = [
            child_spec(DynamicSupervisor, id="workers", name="workers"),
            {**endpoint.child_spec(), "id": "endpoint"},
        ]
        async with beamish.runtime.start(name="dash@localhost", children=children):
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path.startswith("/socket"):
        await endpoint(scope, receive, send)
    elif path == "/dashboard":
        await board(scope, receive, send)
    elif path == "/phoenix.mjs":
        await respond(send, "text/javascript", (PHOENIX_JS / "phoenix.mjs").read_bytes())
    elif path == "/spawn" and scope["method"] == "POST":
        assert endpoint.node is not None
        with endpoint.node:
            pid = await start_child("workers", child_spec(Worker, id="worker"))
        await respond(send, "text/plain", str(pid).encode())
    else:
        await respond(send, "text/plain", b"not found", 404)


async def respond(send: Any, kind: str, body: bytes, status: int = 200) -> None:
    headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def main() -> None:
    server = uvicorn.Server(
        uvicorn.Config(app, port=0, log_level="warning", lifespan="on", ws="websockets-sansio")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn: no hook)
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{port}/", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
