"""Topics on top of process groups (``beamish.cluster``'s pg), as Phoenix.PubSub does.

The contract is in ``beamish.pubsub``.
"""

from __future__ import annotations

import logging
from typing import Any

from ..actors import Actor, NameTaken, Pid, this_node
from ..actors import self as self_pid
from ..cluster import Cluster, FrameError, join, leave, local_members, member_nodes, members

_log = logging.getLogger("beamish.pubsub")

FANOUT = "beamish.pubsub.fanout"


def _group(topic: Any) -> tuple[str, Any]:
    return ("beamish.pubsub", topic)


class Fanout(Actor):
    """Delivers the broadcasts that other nodes send here to this node's subscribers."""

    def handle_info(self, message: Any) -> None:
        if isinstance(message, tuple) and len(message) == 3:
            topic, payload, exclude = message
            _deliver_local(topic, payload, exclude)
        else:
            _log.warning("%s dropped a malformed broadcast: %r", FANOUT, message)


async def _ensure_fanout() -> None:
    """Start this node's fanout process on the first subscribe (cluster never imports
    pubsub, so it cannot start it; a node with no subscriber does not need one)."""
    node = this_node()
    if node.whereis(FANOUT) is None:
        try:
            await Fanout.start(name=FANOUT)
        except NameTaken:  # another process of this node started it meanwhile
            pass


def _deliver_local(topic: Any, message: Any, exclude: Pid | None) -> None:
    send = this_node().send
    members = local_members(_group(topic))
    if exclude is not None and exclude in members:
        # the excluded pid's subscriptions (usually one) taken out by C-level scans of a
        # copy, rather than a comparison per subscriber in the loop below
        members = list(members)
        while exclude in members:
            members.remove(exclude)
    for pid in members:
        send(pid, message)


def _broadcast(topic: Any, message: Any, exclude: Pid | None) -> None:
    node = this_node()
    remote = node.remote
    if isinstance(remote, Cluster):
        connections = remote.connections
        conns = [
            conn
            for peer in member_nodes(_group(topic))
            if peer != node.name and (conn := connections.get(peer)) is not None
        ]
        if conns:
            payload = remote.codec.encode(("send_name", FANOUT, (topic, message, exclude)))
            if len(payload) > remote.max_frame:
                raise FrameError(f"broadcast of {len(payload)} bytes is over the frame limit")
            for conn in conns:
                conn.send_encoded(payload)
    _deliver_local(topic, message, exclude)


async def subscribe(topic: Any) -> None:
    """Subscribe the caller to ``topic`` (any value the wire can carry).

    >>> import beamish
    >>> from beamish import pubsub
    >>> async def main():
    ...     await pubsub.subscribe("t")
    ...     return pubsub.subscribers("t") == [beamish.self()]
    >>> beamish.run(main)
    True
    """
    await _ensure_fanout()
    await join(_group(topic))


async def unsubscribe(topic: Any) -> None:
    """Remove every subscription of the caller to ``topic`` (nothing if it had none).

    >>> import beamish
    >>> from beamish import pubsub
    >>> async def main():
    ...     await pubsub.subscribe("t")
    ...     await pubsub.unsubscribe("t")
    ...     pubsub.broadcast("t", "lost")
    ...     return await beamish.receive(timeout=0.1)
    >>> beamish.run(main)
    Traceback (most recent call last):
    ...
    TimeoutError: ...
    """
    me = self_pid()
    count = local_members(_group(topic)).count(me)
    if count:
        await leave(_group(topic), [me] * count)


def subscribers(topic: Any) -> list[Pid]:
    """The subscribers of ``topic`` this node knows of, on every node."""
    return members(_group(topic))


def broadcast(topic: Any, message: Any) -> None:
    """Send ``message`` to every subscriber of ``topic``, on every node (never blocks).

    >>> import beamish
    >>> from beamish import pubsub
    >>> async def main():
    ...     await pubsub.subscribe("t")
    ...     pubsub.broadcast("t", {"n": 1})
    ...     return await beamish.receive(timeout=1)
    >>> beamish.run(main)
    {'n': 1}
    """
    _broadcast(topic, message, None)


def broadcast_from(pid: Pid, topic: Any, message: Any) -> None:
    """Like :func:`broadcast`, but ``pid`` (usually the sender) does not get it.

    >>> import beamish
    >>> from beamish import pubsub
    >>> async def main():
    ...     await pubsub.subscribe("t")
    ...     pubsub.broadcast_from(beamish.self(), "t", "echo")
    ...     return await beamish.receive(timeout=0.1)
    >>> beamish.run(main)
    Traceback (most recent call last):
    ...
    TimeoutError: ...
    """
    _broadcast(topic, message, pid)


def local_broadcast(topic: Any, message: Any) -> None:
    """Send ``message`` to the subscribers of ``topic`` on this node only.

    >>> import beamish
    >>> from beamish import pubsub
    >>> async def main():
    ...     await pubsub.subscribe("t")
    ...     pubsub.local_broadcast("t", "here")
    ...     return await beamish.receive(timeout=1)
    >>> beamish.run(main)
    'here'
    """
    _deliver_local(topic, message, None)
