"""The test endpoint that the phoenix.js scenarios and the hostile tests drive.

    python tests/channels/app.py PORT [NODE_NAME]     # uvicorn on 127.0.0.1:PORT

PORT 0 binds any free port. Once the node runs, one line goes to stdout:
``READY <http port> <cluster address or ->``; the socket listens before it is printed, so
a request made after it waits in the backlog until uvicorn serves (no free-port race).

Options after the node name: ``key=value`` endpoint options (``heartbeat_timeout=0.5``,
``outbox_limit=5``, ``max_frame_size=1000``, ``check_origin=https://a.example``,
``session_cookie=sid``) and ``cluster=127.0.0.1:PORT[,SEED...]`` to join a cluster.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anyio

import beamish
import beamish.channels._fastlane
import beamish.channels._longpoll
import beamish.channels._params
import beamish.channels._registry
from beamish import channels, cluster, pubsub, telemetry
from beamish.supervision import count_children


class Room(channels.Channel):
    """Everything a scenario needs, by event name."""

    intercept = ("filtered",)

    def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if payload.get("refuse"):
            return channels.Error({"reason": "unauthorized"})
        if payload.get("crash_join"):
            raise RuntimeError("join crashed on purpose")
        socket.assigns["joins"] = socket.assigns.get("joins", 0) + 1
        socket.push("welcome", {"topic": topic})  # held until the join reply is out
        return {"joined": topic, "user": socket.assigns.get("user")}

    async def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if event == "echo":
            return channels.ok(payload)
        if event == "refuse":
            return channels.error({"why": "asked"})
        if event == "push_me":
            socket.push("pushed", payload)
            return None
        if event == "shout":
            socket.broadcast("shout", payload)
            return channels.ok()
        if event == "shout_others":
            socket.broadcast_from("shout", payload)
            return channels.ok()
        if event == "filtered":
            socket.broadcast("filtered", payload)
            return channels.ok()
        if event == "binary_echo":
            return channels.ok(payload)  # bytes in, bytes out
        if event == "binary_push":
            socket.push("binary_pushed", bytes([4, 5]))
            return None
        if event == "binary_shout":
            socket.broadcast("binary_shout", bytes([6]))
            return channels.ok()
        if event == "crash":
            raise RuntimeError("crash on purpose")
        if event == "hold":  # a channel busy for a while: its client's pushes queue up
            await anyio.sleep(payload["seconds"])
            return channels.ok()
        if event == "stop":
            return beamish.Stop("normal", reply=channels.ok({"bye": True}))
        if event == "later":
            ref = socket.reply_ref()
            beamish.send(beamish.self(), ("later", ref, payload))
            return None
        if event == "disconnect_me":
            channels.disconnect(f"user:{socket.assigns.get('user')}")
            return None
        if event == "info":
            return channels.ok(
                {
                    k: socket.assigns.get(k)
                    for k in ("peer", "uri", "session", "ua", "token", "transport")
                }
            )
        if event == "lookup":
            found = channels.lookup(socket.socket_pid, socket.topic)
            return channels.ok({"found": found == socket.channel_pid})
        raise NotImplementedError(event)

    def handle_out(self, event: str, payload: Any, socket: channels.ChannelSocket) -> None:
        if not payload.get("drop"):
            socket.push(event, {**payload, "filtered_by": socket.assigns.get("user")})

    def handle_info(self, message: Any, socket: channels.ChannelSocket) -> None:
        if isinstance(message, tuple) and message[0] == "later":
            channels.reply(message[1], "ok", {"later": message[2]})


try:
    from beamish.presence import Presence
except ImportError:  # the presence helper's module has not landed on this branch yet
    PRESENCE: Any = None
else:
    # built defensively: a mismatch with the presence API fails the presence tests only
    try:
        PRESENCE = Presence(
            "channels-test-presence", on_diff=channels.presence_diff, broadcast_period=0.1
        )
    except Exception:
        logging.exception("cannot build the test Presence")
        PRESENCE = None


class Lobby(channels.Channel):
    """Presence: track on join, push the state to the joining client."""

    def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        beamish.send(beamish.self(), "after_join")
        return None

    async def handle_info(self, message: Any, socket: channels.ChannelSocket) -> None:
        if message == "after_join":
            await channels.track(PRESENCE, socket, socket.assigns["user"], {"online": True})
            channels.push_presence_state(PRESENCE, socket)


class UserSocket(channels.Socket):
    routes: ClassVar[list[tuple[str, type[Any]]]] = [("room:*", Room), ("presence:*", Lobby)]

    def connect(self, params: dict[str, Any], info: channels.ConnectInfo) -> Any:
        if params.get("reject"):
            return None
        if params.get("crash_connect"):
            raise RuntimeError("connect crashed on purpose")
        return {
            "user": params.get("user", "anon"),
            "token": info.auth_token,
            "peer": list(info.peer) if info.peer else None,
            "uri": info.uri,
            "session": info.session,
            "ua": info.headers.get("user-agent"),
            "transport": info.transport,
        }

    def id(self, assigns: dict[str, Any]) -> str | None:
        return f"user:{assigns['user']}"


COUNTS: dict[str, int] = {}


def count(
    event: tuple[str, ...], measurements: dict[str, Any], metadata: dict[str, Any], _: Any
) -> None:
    name = event[-1]
    COUNTS[name] = COUNTS.get(name, 0) + 1


async def control(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The test's window into the server: GET /stats, POST /broadcast (fallback app)."""
    if scope["type"] != "http":
        return
    params = beamish.channels._params.parse_params(scope.get("query_string", b""))
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    endpoint: channels.Endpoint = ENDPOINT[0]
    node = endpoint.node
    answer: dict[str, Any] = {}
    if node is not None and scope["path"] == "/stats":
        with node:
            answer = {
                "counts": COUNTS,
                "node": node.name,
                "nodes": sorted(cluster.nodes())
                if isinstance(node.remote, cluster.Cluster)
                else [],
                "connections": (await count_children(endpoint.supervisor)).active,
                "polls": beamish.channels._longpoll.live(endpoint).polls,
                "lp_sessions": len(beamish.channels._longpoll.live(endpoint).sessions),
                "processes": len(node.processes()),
                "names": node.registered(),  # what a dashboard or `beamish top` shows
                "outboxes": [
                    [len(sub.outbox), sub.outbox.closed]
                    for subs in beamish.channels._fastlane._table(node).values()
                    for sub in subs.values()
                ],
                "joined": sum(
                    len(subs) for subs in beamish.channels._fastlane._table(node).values()
                ),
            }
            if "socket_id" in params:
                answer["socket_subscribers"] = [
                    str(p)
                    for p in pubsub.subscribers(("beamish.channels.socket", params["socket_id"]))
                ]
            if "session" in params:
                known = beamish.channels._registry.session_pid(params["session"])
                answer["session_known"] = known is not None
            if "topic" in params:
                answer["local"] = len(channels.local_subscribers(params["topic"]))
                answer["subscribers"] = len(
                    pubsub.subscribers(("beamish.channels", params["topic"]))
                )
    elif node is not None and scope["path"] == "/kill":  # the connection processes of an id
        with node:
            pids = pubsub.subscribers(("beamish.channels.socket", params["id"]))
            for pid in pids:
                node.exit(node.system_pid, pid, "kill")
        answer = {"killed": len(pids)}
    elif node is not None and scope["path"] == "/disconnect":
        with node:
            channels.disconnect(params["id"])
        answer = {"ok": True}
    elif node is not None and scope["path"] == "/broadcast":
        with node:
            for i in range(int(params.get("n", "1"))):
                payload = json.loads(body or b"{}")
                payload["i"] = i
                if "pad" in params:
                    payload["pad"] = "z" * int(params["pad"])
                channels.broadcast(params["topic"], params.get("event", "shout"), payload)
        answer = {"ok": True}
    data = json.dumps(answer).encode()
    status = 200 if answer else 404
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": data})


ENDPOINT: list[channels.Endpoint] = []


def _origin_suffix(suffix: str) -> Any:
    """A ``check_origin`` callable: Origins ending in ``suffix``; raises for ``boom``."""

    def check(origin: str) -> bool:
        if origin == "boom":
            raise RuntimeError("check_origin callable failed on purpose")
        return origin.endswith(suffix)

    return check


def make_endpoint(**options: Any) -> channels.Endpoint:
    options.setdefault("check_origin", False)
    options.setdefault("path", "/socket")
    return channels.Endpoint(UserSocket, **options)


def main(argv: list[str]) -> None:
    import uvicorn

    port = int(argv[1])
    name = argv[2] if len(argv) > 2 else "chan@localhost"
    options: dict[str, Any] = {}
    node_options: dict[str, Any] = {"name": name}
    starlette = False
    for arg in argv[3:]:
        key, _, value = arg.partition("=")
        if key == "starlette":
            starlette = True
        elif key == "cluster":
            listen, *seeds = value.split(",")
            node_options["cluster"] = {
                "cookie": "channels-test",
                "listen": listen,
                "seeds": seeds,
                "discovery": False,
            }
        elif key == "check_origin" and value.startswith("callable:"):
            options[key] = _origin_suffix(value.partition(":")[2])
        elif key == "check_origin":
            options[key] = value.split(",") if value not in ("true", "false") else value == "true"
        elif key == "session_cookie":
            options[key] = value
        else:
            options[key] = float(value) if "." in value else int(value)
    for event in (
        channels.BAD_INPUT,
        channels.OVERFLOW,
        channels.CONNECT,
        channels.DISCONNECT,
        channels.LONGPOLL_LIMIT,
    ):
        telemetry.attach(f"test-{event[-1]}", event, count)

    @contextlib.asynccontextmanager
    async def start_node() -> AsyncIterator[beamish.Node]:
        async with beamish.runtime.start(**node_options) as node:
            if PRESENCE is not None:
                with node:
                    try:
                        await PRESENCE.start_link()
                    except Exception:
                        logging.exception("cannot start the test Presence")
            address = node.remote.address if isinstance(node.remote, cluster.Cluster) else None
            print(f"READY {sock.getsockname()[1]} {address or '-'}", flush=True)
            yield node

    app: Any
    if starlette:  # mounted in a Starlette app, which owns the lifespan and the other routes
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Mount, Route

        async def hello(request: Any) -> JSONResponse:
            return JSONResponse({"hello": "from starlette"})

        endpoint = make_endpoint(path="", start_node=start_node, **options)
        app = Starlette(
            routes=[
                Route("/hello", hello),
                Mount("/socket", app=endpoint),
                Mount("/", app=control),
            ],
            lifespan=endpoint.lifespan,
        )
    else:
        endpoint = app = make_endpoint(start_node=start_node, fallback=control, **options)
    ENDPOINT.append(endpoint)
    # A LongPoll GET of a client that is still there waits up to its window (10 s): uvicorn
    # would wait for it on SIGTERM. Bounded, as the tests stop a server by SIGTERM.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    sock = config.bind_socket()
    sock.listen(config.backlog)  # connections wait in the backlog while the lifespan starts
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv)
