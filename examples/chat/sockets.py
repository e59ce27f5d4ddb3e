"""The socket and its channels: what a browser talks to.

- ``ChatSocket``: one process per connection. It finds the browser's session (its id comes
  from the signed cookie, through the session middleware) and routes ``session:me`` to
  ``SessionChannel`` and ``room:*`` to ``RoomChannel`` (``app.build`` adds the
  dashboard's topic).
- ``RoomChannel``: one process per browser per joined room. It watches the room's process
  (a ``monitor``): when the room crashes, the channel stops too, the browser gets
  ``phx_error`` and the phoenix client rejoins by itself, finding the restarted room.
  It tracks the user in Presence (typing is a meta update) and counts unread messages in
  the session.
"""

from __future__ import annotations

from typing import Any, ClassVar

import beamish
from beamish import channels, presence, sessions

from .rooms import ROOMS, room_name
from .session import ChatSession

# Who is online, per room: one tracker per node, replicated across the cluster; each node
# sends the diffs it sees to its own browsers (channels.presence_diff). A node that stops
# answering for DOWN_PERIOD seconds is down: its users leave the other nodes' lists.
DOWN_PERIOD = 10.0
PRESENCE = presence.Presence(
    "chat.presence", on_diff=channels.presence_diff, broadcast_period=1.0, down_period=DOWN_PERIOD
)


class RoomChannel(channels.Channel):
    intercept = ("message",)

    async def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        room = topic.removeprefix("room:")
        if room not in ROOMS:
            return channels.Error({"reason": f"no room {room!r}"})
        pid = beamish.whereis(room_name(room))
        if pid is None:  # between its crash and its restart: the client retries the join
            return channels.Error({"reason": "the room is restarting"})
        self.room = room
        self.room_pid = pid
        self.room_ref = beamish.monitor(pid)
        state = await sessions.call(socket.assigns["session_id"], "state")
        socket.assigns["user_id"] = state["user_id"]
        socket.assigns["nick"] = state["nickname"]
        beamish.send(beamish.self(), "after_join")
        return {
            "history": await beamish.call(pid, "history"),
            "room": str(pid),
            "node": beamish.this_node().name,
        }

    async def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if not isinstance(payload, dict):
            return channels.error({"reason": "expected a JSON object"})
        match event:
            case "say":
                body = str(payload.get("body", "")).strip()[:500]
                if body:
                    beamish.cast(self.room_pid, ("say", socket.assigns["nick"], body))
                return None
            case "typing":
                typing = bool(payload.get("typing"))
                meta = self._meta(socket, typing)
                await channels.update(PRESENCE, socket, socket.assigns["user_id"], meta)
                return None
            case "nick":
                state = await sessions.call(socket.assigns["session_id"], "state")
                socket.assigns["nick"] = state["nickname"]
                meta = self._meta(socket)
                await channels.update(PRESENCE, socket, socket.assigns["user_id"], meta)
                return None
            case "crash":
                beamish.cast(self.room_pid, ("crash", socket.assigns["nick"]))
                return None
        return channels.error({"reason": f"unknown event {event!r}"})

    async def handle_out(self, event: str, payload: Any, socket: channels.ChannelSocket) -> None:
        socket.push(event, payload)
        if event == "message":
            await sessions.cast(socket.assigns["session_id"], ("said", self.room, payload["id"]))

    async def handle_info(self, message: Any, socket: channels.ChannelSocket) -> Any:
        if message == "after_join":
            await channels.track(PRESENCE, socket, socket.assigns["user_id"], self._meta(socket))
            channels.push_presence_state(PRESENCE, socket)
        elif isinstance(message, beamish.Down) and message.ref == self.room_ref:
            # an abnormal stop: the browser gets phx_error and rejoins the restarted room
            return beamish.Stop(("room_down", self.room))
        return None

    def _meta(self, socket: channels.ChannelSocket, typing: bool = False) -> dict[str, Any]:
        return {
            "nick": socket.assigns["nick"],
            "typing": typing,
            "node": beamish.this_node().name,
        }


class SessionChannel(channels.Channel):
    """``session:me``: the browser's own session (nickname, rooms, unread counts)."""

    async def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        state = await sessions.call(socket.assigns["session_id"], "state")
        return {
            "nickname": state["nickname"],
            "rooms": state["rooms"],
            "viewing": state["viewing"],
            "unread": state["unread"],
            "available": list(ROOMS),
            "node": beamish.this_node().name,
        }

    async def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if not isinstance(payload, dict) or event not in ("nick", "view", "join_room"):
            return channels.error({"reason": "unknown event"})
        argument = payload.get("room" if event != "nick" else "nick")
        status, value = await sessions.call(socket.assigns["session_id"], (event, argument))
        if status != "ok":
            return channels.error({"reason": value})
        return channels.ok({"nick": value} if event == "nick" else {})


class ChatSocket(channels.Socket):
    routes: ClassVar = [
        ("session:me", SessionChannel),
        ("room:*", RoomChannel),
    ]

    async def connect(self, params: dict[str, Any], connect_info: channels.ConnectInfo) -> Any:
        session_id = connect_info.headers.get("x-chat-session")  # set by app._route
        if not session_id:
            return None  # no session cookie: refused (the page sets one)
        await sessions.start(session_id, ChatSession, exist_ok=True)
        return {"session_id": session_id}
