"""Presence on channels: ``beamish.presence`` tracks, channels carry the payloads to phoenix.js.

>>> from beamish import channels
>>> channels.presence_diff.__name__
'presence_diff'

Give :func:`presence_diff` to your ``beamish.presence.Presence`` as its ``on_diff``; in a
channel, :func:`track` the channel process and :func:`push_presence_state` to the joining
client::

    presence = Presence("presence", on_diff=channels.presence_diff)   # started on every node

    class Lobby(channels.Channel):
        def join(self, topic, payload, socket):
            beamish.send(beamish.self(), "after_join")
        async def handle_info(self, message, socket):
            if message == "after_join":
                await channels.track(presence, socket, socket.assigns["user"], {"online": True})
                channels.push_presence_state(presence, socket)

Semantics (Phoenix.Presence's): ``presence_state`` is pushed to the joining client only;
every change is a ``presence_diff`` (``{"joins": ..., "leaves": ...}``) that each node
broadcasts to its own clients of the topic (the presence tracker reports remote changes on
every node, so each client gets each diff once). A channel's presences leave when its
process exits (leave, crash, closed connection). phoenix.js ``Presence`` buffers diffs until
its state arrived, so their relative order does not matter.
"""

from __future__ import annotations

from typing import Any

from ._channel import ChannelSocket
from ._fastlane import local_broadcast


def presence_diff(topic: str, payload: dict[str, Any]) -> None:
    """The ``on_diff`` hook of a ``beamish.presence.Presence``: send ``presence_diff`` to
    this node's clients of ``topic``."""
    local_broadcast(topic, "presence_diff", payload)


async def track(presence: Any, socket: ChannelSocket, key: Any, meta: dict[str, Any]) -> str:
    """Track the channel of ``socket`` on its topic under ``key`` (stringified, as Phoenix
    does) with ``meta``; returns the ``phx_ref``."""
    ref: str = await presence.track(socket.channel_pid, socket.topic, str(key), meta)
    return ref


async def update(presence: Any, socket: ChannelSocket, key: Any, meta: Any) -> str:
    """Replace the meta of this channel's presence ``key`` (a dict, or a function of the old
    meta); the diff lists the key in ``leaves`` and ``joins``."""
    ref: str = await presence.update(socket.channel_pid, socket.topic, str(key), meta)
    return ref


async def untrack(presence: Any, socket: ChannelSocket, key: Any) -> None:
    """Stop tracking this channel's presence ``key``."""
    await presence.untrack(socket.channel_pid, socket.topic, str(key))


def push_presence_state(presence: Any, socket: ChannelSocket) -> None:
    """Push ``presence_state`` (every presence of the topic) to this client."""
    socket.push("presence_state", presence.list(socket.topic))
