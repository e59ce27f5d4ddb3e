"""Broadcasts: encoded once per serializer and written straight into every subscribed
connection's outbox, without a hop through each channel process (Phoenix's fastlane).

>>> import beamish
>>> from beamish import channels
>>> async def main():
...     channels.broadcast("room:a", "shout", {"n": 1})  # nobody subscribed: a no-op
>>> beamish.run(main)

Semantics
---------
- Each node keeps a table ``topic -> {channel pid: Subscription}`` (the channels of its
  connections that joined the topic). ``broadcast`` walks the local table: for each
  serializer in use it encodes the frame once and puts the same object into each
  subscriber's outbox; a channel that ``intercept``-s the event gets an :class:`Outgoing`
  message instead and decides in ``handle_out``.
- Other nodes are reached through ``beamish.pubsub``: each node that has subscribers runs
  one dispatcher process (``"beamish.channels.dispatcher"``) subscribed to the pubsub topic
  ``("beamish.channels", topic)``; a broadcast crosses to each such node once, and that
  node's dispatcher does the same local fan-out.
- ``broadcast_from(pid, ...)`` skips the channel ``pid``. Payloads are JSON objects (dicts)
  or ``bytes`` (binary frames, sent only to V2 WebSocket clients; LongPoll and V1 clients
  cannot receive them and are skipped).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any, NamedTuple

from .. import pubsub, telemetry
from ..actors import Actor, NameTaken, Node, Pid, this_node
from ._outbox import Outbox
from ._serializer import V2_SERIALIZER, Serializer

_log = logging.getLogger("beamish.channels")

DISPATCHER = "beamish.channels.dispatcher"
BAD_BROADCAST = ("beamish", "channels", "bad_broadcast")


class Outgoing(NamedTuple):
    """An intercepted broadcast, delivered to a channel process for ``handle_out``."""

    topic: str
    event: str
    payload: Any


@dataclass(slots=True)
class Subscription:
    """One joined channel's place in the fan-out."""

    outbox: Outbox
    serializer: Serializer
    intercepts: frozenset[str]
    binary: bool  # the transport can carry binary frames


_tables: weakref.WeakKeyDictionary[Node, dict[str, dict[Pid, Subscription]]] = (
    weakref.WeakKeyDictionary()
)


def _table(node: Node) -> dict[str, dict[Pid, Subscription]]:
    table = _tables.get(node)
    if table is None:
        table = _tables[node] = {}
    return table


def _pubsub_topic(topic: str) -> tuple[str, str]:
    return ("beamish.channels", topic)


def subscribe(node: Node, topic: str, channel: Pid, sub: Subscription) -> None:
    """Add a joined channel to the local fan-out of ``topic``."""
    subs = _table(node).setdefault(topic, {})
    first = not subs
    subs[channel] = sub
    if first:
        _sync(node, topic)


def unsubscribe(node: Node, topic: str, channel: Pid) -> None:
    """Remove a channel from the fan-out (nothing if it was not there)."""
    table = _table(node)
    subs = table.get(topic)
    if subs is not None and subs.pop(channel, None) is not None and not subs:
        del table[topic]
        _sync(node, topic)


def local_subscribers(topic: str) -> list[Pid]:
    """The channel processes of this node subscribed to ``topic``."""
    return list(_table(this_node()).get(topic, ()))


def _sync(node: Node, topic: str) -> None:
    dispatcher = node.whereis(DISPATCHER)
    if dispatcher is not None:
        node.send(dispatcher, ("sync", topic))


def fan_out(
    node: Node,
    topic: str,
    event: str,
    payload: Any,
    exclude: Pid | None,
    encoded: dict[int, Any] | None = None,
) -> int:
    """Deliver a broadcast to this node's subscribers of ``topic``; how many got it.
    ``encoded`` maps ``id(serializer)`` to frames encoded already."""
    subs = _table(node).get(topic)
    if not subs:
        return 0
    encoded = {} if encoded is None else encoded
    delivered = 0
    binary = type(payload) is bytes
    for pid, sub in list(subs.items()):
        if pid == exclude:
            continue
        if event in sub.intercepts:
            node.send(pid, Outgoing(topic, event, payload))
            delivered += 1
            continue
        if binary and not sub.binary:
            continue
        key = id(sub.serializer)
        frame = encoded.get(key)
        if frame is None:
            frame = encoded[key] = sub.serializer.encode_broadcast(topic, event, payload)
        if sub.outbox.put(frame):
            delivered += 1
    return delivered


def _check(topic: Any, event: Any, payload: Any) -> None:
    if type(topic) is not str or type(event) is not str:
        raise TypeError("topic and event must be strings")
    if type(payload) is not dict and type(payload) is not bytes:
        raise TypeError(f"a broadcast payload is a dict or bytes, not {type(payload).__name__}")


def _broadcast(topic: str, event: str, payload: Any, exclude: Pid | None) -> None:
    _check(topic, event, payload)
    # encoded here first: a payload that is not JSON fails in the broadcaster, before anyone
    # (on any node) gets it, and the V2 clients of this node share this very frame
    encoded = {id(V2_SERIALIZER): V2_SERIALIZER.encode_broadcast(topic, event, payload)}
    node = this_node()
    dispatcher = node.whereis(DISPATCHER)
    message = ("broadcast", topic, event, payload, exclude)
    if dispatcher is None:
        pubsub.broadcast(_pubsub_topic(topic), message)
    else:
        pubsub.broadcast_from(dispatcher, _pubsub_topic(topic), message)
        fan_out(node, topic, event, payload, exclude, encoded)


def broadcast(topic: str, event: str, payload: Any) -> None:
    """Send ``event`` with ``payload`` to every client joined to ``topic``, on every node.

    Callable from any process or from code inside a node (``with node:``); never blocks.

    Args:
        topic: the channel topic, e.g. ``"room:lobby"``.
        event: the event name the clients listen for.
        payload: a JSON object (dict), or ``bytes`` for a binary frame.

    Raises:
        TypeError: the topic or event is not a string, or the payload not a dict or bytes.
        ValueError: the payload is not JSON-able (raised before anyone gets it).
    """
    _broadcast(topic, event, payload, None)


def broadcast_from(pid: Pid, topic: str, event: str, payload: Any) -> None:
    """As :func:`broadcast`, except the channel process ``pid`` (usually the sender)."""
    _broadcast(topic, event, payload, pid)


def local_broadcast(topic: str, event: str, payload: Any) -> None:
    """As :func:`broadcast`, to the clients connected to this node only."""
    _check(topic, event, payload)
    fan_out(this_node(), topic, event, payload, None)


class Dispatcher(Actor):
    """One per node: subscribed through pubsub to every topic with local subscribers, it
    fans out the broadcasts other nodes send here."""

    def init(self) -> None:
        self.node = this_node()
        self.subscribed: set[str] = set()

    async def handle_info(self, message: Any) -> None:
        kind = message[0] if type(message) is tuple and message else None
        if kind == "broadcast" and len(message) == 5:
            _, topic, event, payload, exclude = message
            try:
                _check(topic, event, payload)
                fan_out(self.node, topic, event, payload, exclude)
            except (TypeError, ValueError) as exc:
                telemetry.execute(BAD_BROADCAST, {"count": 1}, {"error": repr(exc)})
                _log.warning("dropped a broadcast that cannot be sent to clients: %r", exc)
        elif kind == "sync":
            topic = message[1]
            wanted = bool(_table(self.node).get(topic))
            if wanted and topic not in self.subscribed:
                self.subscribed.add(topic)
                await pubsub.subscribe(_pubsub_topic(topic))
            elif not wanted and topic in self.subscribed:
                self.subscribed.discard(topic)
                await pubsub.unsubscribe(_pubsub_topic(topic))
        else:
            _log.warning("%s dropped an unexpected message: %r", DISPATCHER, message)


async def ensure_dispatcher() -> Pid:
    """This node's dispatcher, started on first use (it outlives the endpoint that started it,
    like pubsub's fanout process)."""
    node = this_node()
    pid = node.whereis(DISPATCHER)
    if pid is None:
        try:
            pid = await Dispatcher.start(name=DISPATCHER)
        except NameTaken:
            pid = node.whereis(DISPATCHER)
            assert pid is not None
    # topics subscribed before the dispatcher ran
    for topic in list(_table(node)):
        node.send(pid, ("sync", topic))
    return pid
