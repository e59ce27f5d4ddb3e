"""Each browser's session: a ``SessionProcess`` holding its nickname, the rooms it joined,
which room it views and its unread counts. Snapshots go to SQLite, so a session outlives a
restart of the server: the browser keeps its cookie and finds its state again.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import beamish
from beamish import sessions

from .rooms import ROOMS

NICK = re.compile(r"^[\w .-]{1,24}$")
RECENT = 200  # message ids remembered per session, so two tabs do not count a message twice


class ChatSession(sessions.SessionProcess):
    """Calls: ``"state"``, ``("nick", nick)``, ``("view", room)``, ``("join_room", room)``;
    cast ``("said", room, message_id)`` counts a message as unread unless its room is viewed.
    """

    def init_state(self, args: Any) -> dict[str, Any]:
        return {
            "user_id": secrets.token_hex(6),
            "nickname": f"guest-{secrets.randbelow(10_000):04d}",
            "rooms": ["lobby"],
            "viewing": "lobby",
            "unread": {},
            "recent": [],
        }

    def restore_state(self, saved: Any, args: Any) -> Any:
        return saved

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        state = self.state
        match request:
            case "state":
                return dict(state)
            case ("nick", str(nick)):
                nick = nick.strip()
                if not NICK.match(nick):
                    return ("error", "a nickname is 1-24 letters, digits, spaces, . or -")
                state["nickname"] = nick
                return ("ok", nick)
            case ("view", str(room)) if room in ROOMS:
                state["viewing"] = room
                state["unread"][room] = 0
                return ("ok", room)
            case ("join_room", str(room)) if room in ROOMS:
                if room not in state["rooms"]:
                    state["rooms"].append(room)
                return ("ok", state["rooms"])
        return ("error", f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        match request:
            case ("said", str(room), str(message_id)):
                state = self.state
                if message_id in state["recent"]:
                    return
                state["recent"] = [*state["recent"][-(RECENT - 1) :], message_id]
                if room != state["viewing"]:
                    state["unread"][room] = state["unread"].get(room, 0) + 1
