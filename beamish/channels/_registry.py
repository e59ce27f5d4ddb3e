"""Where joined channels are registered, so they can be found: ``lookup(socket, topic)``.

>>> import beamish
>>> from beamish import channels
>>> async def main():
...     return channels.lookup(beamish.self(), "room:a")
>>> beamish.run(main) is None
True

Behind these small functions so that the store can move to ``beamish.registry`` (a
cluster-wide one) without touching the socket; today it is a table per node, written by
the connection process when a join succeeds and when its channel exits.
"""

from __future__ import annotations

import weakref

from ..actors import Node, Pid, this_node

_tables: weakref.WeakKeyDictionary[Node, dict[tuple[Pid, str], Pid]] = weakref.WeakKeyDictionary()


def _table(node: Node) -> dict[tuple[Pid, str], Pid]:
    table = _tables.get(node)
    if table is None:
        table = _tables[node] = {}
    return table


def register_channel(node: Node, socket: Pid, topic: str, channel: Pid) -> None:
    _table(node)[(socket, topic)] = channel


def unregister_channel(node: Node, socket: Pid, topic: str, channel: Pid) -> None:
    table = _table(node)
    if table.get((socket, topic)) == channel:
        del table[(socket, topic)]


def lookup(socket: Pid, topic: str) -> Pid | None:
    """The channel process of ``topic`` on the connection ``socket`` (this node), or None."""
    return _table(this_node()).get((socket, topic))
