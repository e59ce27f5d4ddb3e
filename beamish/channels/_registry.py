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
answers the newest live one. These small functions are the one seam to the registry.
"""

from __future__ import annotations

from typing import Any

from .. import registry
from ..actors import NameTaken, Pid, is_alive, this_node
from ..registry import Registry

REGISTRY = "beamish.channels"


async def ensure_registry() -> None:
    """Start this node's channel registry unless it runs."""
    if this_node().whereis(REGISTRY) is None:
        try:
            await Registry.start(name=REGISTRY, keys="duplicate")
        except NameTaken:
            pass


def register_channel(socket: Pid, topic: str) -> None:
    """Register the calling channel process under ``(socket, topic)``."""
    registry.register(REGISTRY, (socket, topic), None)


def lookup(socket: Pid, topic: str) -> Pid | None:
    """The channel process of ``topic`` on the connection ``socket`` (this node), or None."""
    entries: list[tuple[Pid, Any]] = registry.lookup(REGISTRY, (socket, topic))
    live = [pid for pid, _ in entries if is_alive(pid)]
    return max(live) if live else None
