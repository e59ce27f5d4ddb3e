"""A supervision tree inside an existing ASGI service, with no web framework.

    python examples/asgi_lifespan.py [PORT]      # uvicorn on 127.0.0.1:PORT (default 8000)
    curl http://127.0.0.1:8000/count             # {"count": 1}, then 2, 3, ...

The ASGI ``lifespan`` protocol runs in one task for the whole life of the server: it gets
``lifespan.startup``, answers, waits for ``lifespan.shutdown`` and answers again. That task
holds ``async with beamish.runtime.start() as node:`` open across the wait, so the node (and
the supervisor and counter started in it) lives exactly as long as the server. On shutdown
(Ctrl-C or SIGTERM) it stops the supervisor first, which stops its children in reverse
order, each running ``terminate``; then the ``async with`` stops the node, and the
process exits with status 0.

Request handlers run in tasks that uvicorn creates, outside any beamish process and outside
the lifespan task's context, so they do not see the node that ``beamish.call`` looks for.
The lifespan puts the node in the ASGI lifespan ``state``, which the server copies into
every request's ``scope``, and each handler makes it the current node for its own task
(``with node:``) before it calls.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import beamish
from beamish.supervision import Supervisor, which_children

log = logging.getLogger("asgi_lifespan")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Counter(beamish.Actor):
    """Counts requests: the call ``"increment"`` adds one and answers the new count."""

    def init(self) -> None:
        beamish.trap_exits(True)  # stop gracefully (terminate runs) when the tree stops
        self.count = 0
        log.info("counter %s: started", beamish.self())

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        if request == "increment":
            self.count += 1
        return self.count

    def terminate(self, reason: Any) -> None:
        log.info("counter %s: terminate(%r) at count %d", beamish.self(), reason, self.count)


class Greeter(beamish.Actor):
    """A second child, started after the counter, so the shutdown order shows."""

    def init(self) -> None:
        beamish.trap_exits(True)
        log.info("greeter %s: started", beamish.self())

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        return f"hello, {request}"

    def terminate(self, reason: Any) -> None:
        log.info("greeter %s: terminate(%r)", beamish.self(), reason)


CHILDREN = [
    # registered names, so request handlers can call "counter" and "greeter"
    {"id": "counter", "start": (functools.partial(Counter.start_link, name="counter"), ())},
    {"id": "greeter", "start": (functools.partial(Greeter.start_link, name="greeter"), ())},
]


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Start the node and the tree on startup; stop them, in order, on shutdown."""
    message = await receive()
    assert message["type"] == "lifespan.startup"
    started = False
    try:
        async with beamish.runtime.start(name="web@localhost") as node:
            sup = await Supervisor.start(CHILDREN, strategy="one_for_one", name="web_sup")
            tree = [(child.id, child.pid) for child in await which_children(sup)]
            log.info("lifespan: node %s up; supervisor %s with %s", node.name, sup, tree)
            scope["state"]["node"] = node
            await send({"type": "lifespan.startup.complete"})
            started = True

            message = await receive()  # the server runs until this arrives
            assert message["type"] == "lifespan.shutdown"
            log.info("lifespan: shutdown: stopping the supervision tree")
            await beamish.stop(sup)
            log.info("lifespan: supervision tree stopped")
        log.info("lifespan: node stopped")
    except Exception as exc:
        log.exception("lifespan failed")
        failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
        await send({"type": failed, "message": repr(exc)})
        return
    await send({"type": "lifespan.shutdown.complete"})


async def respond(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /count`` increments the counter; ``GET /hello?name`` asks the greeter."""
    node = scope.get("state", {}).get("node")
    if node is None:
        await respond(send, 503, {"error": "the node is not running"})
        return
    with node:  # request tasks run outside the node's context: enter it (safe concurrently)
        if scope["method"] == "GET" and scope["path"] == "/count":
            count = await beamish.call("counter", "increment", timeout=2.0)
            await respond(send, 200, {"count": count})
        elif scope["method"] == "GET" and scope["path"] == "/hello":
            name = scope["query_string"].decode() or "world"
            await respond(send, 200, {"greeting": await beamish.call("greeter", name)})
        else:
            await respond(send, 404, {"error": "not found"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application: lifespan and HTTP."""
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)


def main(argv: list[str]) -> None:
    import uvicorn

    port = int(argv[1]) if len(argv) > 1 else 8000
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)-18s %(levelname)-5s %(message)s"
    )
    # uvicorn (>= 0.29) shuts down gracefully on SIGINT/SIGTERM, then raises the signal
    # again under the handler that was there before it started. Here that is this one, so
    # a stop asked for by a signal ends the process with exit status 0, not -15.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stopped_by_signal)
    uvicorn.run(app, host="127.0.0.1", port=port, lifespan="on", log_level="info")


def stopped_by_signal(signum: int, frame: object) -> None:
    log.info("stopped by %s after a graceful shutdown", signal.Signals(signum).name)


if __name__ == "__main__":
    main(sys.argv)
