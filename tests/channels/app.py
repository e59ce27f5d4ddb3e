"""The test endpoint that the phoenix.js scenarios and the hostile tests drive.

    python tests/channels/app.py PORT [NODE_NAME]     # uvicorn on 127.0.0.1:PORT

Prints ``serving <port>`` once uvicorn listens.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import beamish
from beamish import channels


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
        if event == "stop":
            return beamish.Stop("normal", reply=channels.ok({"bye": True}))
        if event == "later":
            ref = socket.reply_ref()
            beamish.send(beamish.self(), ("later", ref, payload))
            return None
        if event == "disconnect_me":
            channels.disconnect(f"user:{socket.assigns.get('user')}")
            return None
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


class UserSocket(channels.Socket):
    routes: ClassVar[list[tuple[str, type[Any]]]] = [("room:*", Room)]

    def connect(self, params: dict[str, Any], info: channels.ConnectInfo) -> Any:
        if params.get("reject"):
            return None
        return {"user": params.get("user", "anon"), "token": info.auth_token}

    def id(self, assigns: dict[str, Any]) -> str | None:
        return f"user:{assigns['user']}"


def make_endpoint(**options: Any) -> channels.Endpoint:
    options.setdefault("check_origin", False)
    return channels.Endpoint(UserSocket, path="/socket", **options)


def main(argv: list[str]) -> None:
    import functools

    import uvicorn

    port = int(argv[1])
    name = argv[2] if len(argv) > 2 else "chan@localhost"
    options: dict[str, Any] = {}
    for arg in argv[3:]:
        key, _, value = arg.partition("=")
        options[key] = float(value) if "." in value else int(value)
    endpoint = make_endpoint(
        start_node=functools.partial(beamish.runtime.start, name=name), **options
    )
    config = uvicorn.Config(
        endpoint, host="127.0.0.1", port=port, lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    print(f"serving {port}", flush=True)
    server.run()


if __name__ == "__main__":
    main(sys.argv)
