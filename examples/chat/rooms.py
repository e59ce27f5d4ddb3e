"""The rooms: one supervised process per room holding its recent messages.

Each node runs a ``Rooms`` supervisor with one ``Room`` per name in ``ROOMS``, registered
as ``chat.room.<name>``. A message said in a room goes through the room process of the
node the speaker is connected to: it keeps the message, sends it to every browser in the
room (a channel broadcast, on every node) and to the room processes of the other nodes
(pub/sub), which keep it too. A room that crashes (the "crash this room" button) is
restarted by its supervisor with an empty history; the channels of the room watch it
(``monitor``), so they crash with it and the browsers rejoin by themselves.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from typing import Any

import beamish
from beamish import channels, pubsub
from beamish.supervision import Supervisor, child_spec

ROOMS = ("lobby", "python", "erlang")
HISTORY = 100


def room_name(room: str) -> str:
    """The local name of a room's process."""
    return f"chat.room.{room}"


def history_topic(room: str) -> str:
    return f"chat.history.{room}"


class RoomCrashed(RuntimeError):
    """Raised in a room process by the "crash this room" button."""


class Room(beamish.Actor):
    """One room: its last ``HISTORY`` messages; says messages; crashes on request."""

    async def init(self, room: str) -> None:
        self.room = room
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        await pubsub.subscribe(history_topic(room))

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        if request == "history":
            return list(self.history)
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        match request:
            case ("say", str(sender), str(body)):
                message = {
                    "id": uuid.uuid4().hex,
                    "from": sender,
                    "body": body,
                    "at": time.time(),
                    "node": beamish.this_node().name,
                }
                self.history.append(message)
                channels.broadcast(f"room:{self.room}", "message", message)
                pubsub.broadcast_from(beamish.self(), history_topic(self.room), message)
            case ("crash", str(who)):
                raise RoomCrashed(f"{who} pressed 'crash this room' in #{self.room}")

    def handle_info(self, message: Any) -> None:
        if isinstance(message, dict) and "id" in message:  # said in this room on another node
            self.history.append(message)


class Rooms(Supervisor):
    """One ``Room`` per name, restarted alone when it crashes (``one_for_one``)."""

    strategy = "one_for_one"
    max_restarts = 20  # the crash button may be pressed often; the demo should not give up
    max_seconds = 10

    def children(self) -> list[Any]:
        return [child_spec((Room, room), id=room, name=room_name(room)) for room in ROOMS]
