"""Where joined channels are registered, so they can be found: ``lookup(socket, topic)``.

>>> import beamish
>>> from beamish import channels
>>> async def main():
...     await channels._registry.ensure_registry()
...     return channels.lookup(beamish.self(), "room:a")
>>> beamish.run(main) is None
True

Each node runs one ``beamish.registry`` Registry, ``"beamish.channels"`` (duplicate keys,
started with the first endpoint), in which every channel process registers itself under
``(socket pid, topic)`` once its join succeeded; the entry goes with the process. A
duplicate join may briefly leave the stopped instance's entry beside the new one: lookup
answers the newest live one.

LongPoll sessions are in a second one, ``"beamish.channels.longpoll"`` (unique keys; cluster
scope when the node is distributed, so every node finds a session wherever its poll lands),
each session under the digest of its id (:func:`session_key`). These small functions are
the one seam to the registry.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import registry
from ..actors import NameTaken, Pid, is_alive, this_node
from ..cluster import Cluster
from ..registry import Registry

SESSION_PREFIX = "beamish.channels.lp."

REGISTRY = "beamish.channels"
SESSIONS = "beamish.channels.longpoll"


async def ensure_registry() -> None:
    """Start this node's channel and LongPoll session registries unless they run."""
    node = this_node()
    if node.whereis(REGISTRY) is None:
        try:
            await Registry.start(name=REGISTRY, keys="duplicate")
        except NameTaken:
            pass
    if node.whereis(SESSIONS) is None:
        distributed = isinstance(node.remote, Cluster)
        try:
            await Registry.start(
                name=SESSIONS, keys="unique", scope="cluster" if distributed else "local"
            )
        except NameTaken:
            pass


def session_key(session_id: str) -> str:
    """A LongPoll session's name and registry key: a digest of its id, because names and
    keys are shown (dashboards, ``beamish top``) and the id is the client's credential."""
    return SESSION_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()[:32]


def register_session(session_id: str) -> None:
    """Register the calling process as the LongPoll session ``session_id``."""
    registry.register(SESSIONS, session_key(session_id), None)


def session_pid(session_id: str) -> Pid | None:
    """The process of LongPoll session ``session_id`` on any node, as far as this node's
    copy of the registry knows (None: unknown, or not replicated here yet)."""
    if this_node().whereis(SESSIONS) is None:
        return None
    return registry.whereis(SESSIONS, session_key(session_id))


def register_channel(socket: Pid, topic: str) -> None:
    """Register the calling channel process under ``(socket, topic)``."""
    registry.register(REGISTRY, (socket, topic), None)


def lookup(socket: Pid, topic: str) -> Pid | None:
    """The channel process of ``topic`` on the connection ``socket`` (this node), or None."""
    entries: list[tuple[Pid, Any]] = registry.lookup(REGISTRY, (socket, topic))
    live = [pid for pid, _ in entries if is_alive(pid)]
    return max(live) if live else None
