"""The ``Channel`` behaviour: one process per joined topic, linked to its connection.

>>> from beamish import channels
>>> class Room(channels.Channel):
...     def join(self, topic, payload, socket):
...         return {"hello": topic}
...     def handle_in(self, event, payload, socket):
...         return channels.ok(payload)
>>> Room.intercept
()

The contract is on :class:`Channel`; the process that runs it is :class:`ChannelServer`, an
``Actor`` on the kernel's generic loop.
"""

from __future__ import annotations

import inspect
import logging
from inspect import isawaitable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ..actors import Actor, Caller, Exit, Ignore, Pid, Stop, lowlevel, this_node, trap_exits
from . import _fastlane, _registry
from ._fastlane import Outgoing, Subscription

if TYPE_CHECKING:
    from ._outbox import Outbox
    from ._serializer import Serializer

_log = logging.getLogger("beamish.channels")


class Reply(NamedTuple):
    """A reply to a client's push: ``status`` (``"ok"``, ``"error"`` or any word) and a
    ``response`` (a dict, or ``bytes`` for a binary reply over WebSocket V2)."""

    status: str = "ok"
    response: Any = {}  # noqa: RUF012 - never mutated: each reply is encoded as it is


def ok(response: Any = None) -> Reply:
    """``Reply("ok", response)`` (``{}`` if None)."""
    return Reply("ok", {} if response is None else response)


def error(response: Any = None) -> Reply:
    """``Reply("error", response)`` (``{}`` if None)."""
    return Reply("error", {} if response is None else response)


class Error(NamedTuple):
    """From ``join``: refuse it; the client gets an error reply with ``response``."""

    response: Any = {}  # noqa: RUF012


class ReplyRef(NamedTuple):
    """Where a deferred reply goes (Phoenix's ``socket_ref``): give it to :func:`reply`."""

    channel: Pid
    ref: str | int | None


_DEFERRED = "beamish.channels.reply"


class ChannelIn(NamedTuple):
    """A client's message for a joined channel, from its connection process."""

    ref: str | int | None
    event: str
    payload: Any
    size: int = 0  # its frame's bytes, counted in the outbox's ``inbound`` until handled


def reply(ref: ReplyRef | tuple[Pid, Any], status: str, response: Any = None) -> None:
    """Answer a push later, from any process on any node (``socket.reply_ref()`` in
    ``handle_in``, which then returns None). The message is plain data, so a ``ReplyRef``
    that crossed to another node (as a tuple) works too.

    >>> import beamish
    >>> from beamish import channels
    >>> async def main():
    ...     channels.reply(channels.ReplyRef(beamish.self(), "7"), "ok", {"x": 1})
    ...     return await beamish.receive(timeout=1)
    >>> beamish.run(main)
    ('beamish.channels.reply', '7', 'ok', {'x': 1})
    """
    channel, request_ref = ref
    message = (_DEFERRED, request_ref, status, {} if response is None else response)
    this_node().send(channel, message)


class ChannelSocket:
    """What a channel's callbacks get as ``socket``: its topic, assigns and the ways to talk
    to its client (see :class:`Channel`)."""

    __slots__ = (
        "assigns",
        "channel_pid",
        "current_ref",
        "endpoint",
        "held_frames",
        "join_ref",
        "outbox",
        "serializer",
        "socket_id",
        "socket_pid",
        "topic",
        "transport",
    )

    def __init__(
        self,
        topic: str,
        join_ref: Any,
        assigns: dict[str, Any],
        socket_pid: Pid,
        socket_id: str | None,
        transport: str,
        outbox: Outbox,
        serializer: Serializer,
        endpoint: Any,
    ) -> None:
        self.topic = topic
        self.join_ref = join_ref
        self.assigns = assigns
        self.socket_pid = socket_pid
        self.socket_id = socket_id
        self.transport = transport
        self.endpoint = endpoint
        self.channel_pid: Pid = socket_pid  # set by the channel process
        self.outbox = outbox
        self.serializer = serializer
        self.held_frames: list[str | bytes] | None = []  # frames held until the join reply is out
        self.current_ref: Any = None

    def __repr__(self) -> str:
        return f"<ChannelSocket {self.topic!r} join_ref={self.join_ref!r}>"

    def write(self, frame: str | bytes) -> None:
        if self.held_frames is not None:
            self.held_frames.append(frame)
        else:
            self.outbox.put(frame)

    def _check_binary(self, payload: Any) -> None:
        if type(payload) is bytes and (not self.serializer.binary or self.transport != "websocket"):
            raise ValueError(
                f"binary payloads travel only to V2 WebSocket clients, not {self.transport} "
                f"vsn {self.serializer.vsn}"
            )

    def push(self, event: str, payload: Any) -> None:
        """Send ``event`` to this client only (a dict, or bytes: a binary frame, for V2
        WebSocket clients only: ``ValueError`` otherwise)."""
        self._check_binary(payload)
        self.write(self.serializer.encode_push(self.join_ref, self.topic, event, payload))

    def broadcast(self, event: str, payload: Any) -> None:
        """Send ``event`` to every client of this topic, on every node, this one included."""
        _fastlane.broadcast(self.topic, event, payload)

    def broadcast_from(self, event: str, payload: Any) -> None:
        """As :meth:`broadcast`, except this channel's own client."""
        _fastlane.broadcast_from(self.channel_pid, self.topic, event, payload)

    def reply_ref(self) -> ReplyRef:
        """In ``handle_in``: a reference to answer this push later with :func:`reply`."""
        return ReplyRef(self.channel_pid, self.current_ref)

    def write_reply(self, ref: Any, status: str, response: Any) -> None:
        self._check_binary(response)
        self.write(self.serializer.encode_reply(self.join_ref, ref, self.topic, status, response))


class Channel:
    """A Phoenix channel: subclass it, route topics to it from a :class:`Socket`.

    One instance per joined topic and client, in its own process, linked to the client's
    connection process. Attributes you set on ``self`` are the channel's state; per-client
    values that the socket gave (``connect``'s assigns) are in ``socket.assigns``.

        your subclass                               the channel process
        -----------------------------------------   -------------------------------------------
        join(topic, payload, socket)                 the client's phx_join
            -> None | dict                           ... reply ok (with that dict, or {})
            -> Error(response)                       ... reply error; the process ends
        handle_in(event, payload, socket)            a push from the client
            -> None                                  ... no reply (or reply later: reply_ref)
            -> Reply(status, response) / ok / error  ... that reply
            -> Stop(reason, reply=Reply(...))        ... reply, stop; the client gets phx_close
        handle_out(event, payload, socket)           a broadcast of an event in ``intercept``
                                                     (push it yourself, or drop it)
        handle_info(message, socket)                 any other message
        handle_call(request, caller, socket)         a beamish.call to the channel process
        terminate(reason, socket)                    leaving, closing, stopping or crashing

    Every callback may be ``def`` or ``async def``.

    Semantics (Phoenix's):
    - The join reply reaches the client before anything the channel pushes afterwards,
      pushes made inside ``join`` included.
    - A crash in any callback ends this channel only: its client gets ``phx_error`` and
      rejoins; the connection and its other channels go on. ``join`` crashing gives the
      client the error reply ``{"reason": "join crashed"}``.
    - ``phx_leave`` replies ok and stops the channel with ``("shutdown", "left")``; the
      connection closing stops it with ``("shutdown", "closed")``; a second join of the
      same topic on the same connection stops it with ``("shutdown", "duplicate_join")``.
      In each case ``terminate`` runs (the process traps exits) unless it is killed.
    - Broadcasts of the topic reach the client straight from the broadcaster (fastlane);
      only the events named in ``intercept`` go through ``handle_out``.
    """

    intercept: ClassVar[tuple[str, ...]] = ()

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        """Accept or refuse the join (see the class docstring). Default: refuse."""
        return Error({"reason": "join not implemented"})

    def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        """Handle a push from the client. Default: crash (an unknown event), as Phoenix."""
        raise NotImplementedError(f"{type(self).__name__} has no handle_in for {event!r}")

    def handle_out(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        """Handle an intercepted broadcast. Default: push it on."""
        socket.push(event, payload)

    def handle_info(self, message: Any, socket: ChannelSocket) -> Any:
        """Handle any other message. Default: log and drop it."""
        _log.warning("%s on %r dropped a message: %r", type(self).__name__, socket.topic, message)

    def handle_call(self, request: Any, caller: Caller, socket: ChannelSocket) -> Any:
        """Answer a ``beamish.call`` to the channel process. Default: crash."""
        raise NotImplementedError(f"{type(self).__name__} got an unexpected call: {request!r}")

    def terminate(self, reason: Any, socket: ChannelSocket) -> Any:
        """Clean up before the channel process exits."""
        return None


async def _run(result: Any) -> Any:
    if inspect.isawaitable(result):
        return await result
    return result


def _plain(result: Any) -> bool:
    """A callback's result that is surely not awaitable (cheaper than ``isawaitable``)."""
    return result is None or type(result) is Reply or type(result) is dict


class ChannelServer(Actor):
    """The process of one joined channel (the generic loop runs it)."""

    mailbox_limit = 10_000
    overflow = "exit"

    async def init(  # type: ignore[override]
        self, channel_cls: type[Channel], payload: Any, socket: ChannelSocket, ref: Any
    ) -> Any:
        trap_exits(True)
        self.channel = channel = channel_cls()
        self.socket = socket
        socket.channel_pid = self.pid
        try:
            result = await _run(channel.join(socket.topic, payload, socket))
        except Exception:
            _log.exception("%s.join crashed on %r", channel_cls.__name__, socket.topic)
            socket.held_frames = None
            socket.write_reply(ref, "error", {"reason": "join crashed"})
            return Ignore()
        held, socket.held_frames = socket.held_frames or [], None
        if type(result) is Error:
            socket.write_reply(ref, "error", result.response)
            return Ignore()
        if result is not None and type(result) is not dict and type(result) is not bytes:
            _log.error("%s.join returned %r: expected None, a dict or Error", channel_cls, result)
            socket.write_reply(ref, "error", {"reason": "join crashed"})
            return Ignore()
        node = this_node()
        _fastlane.subscribe(
            node,
            socket.topic,
            self.pid,
            Subscription(
                socket.outbox,
                socket.serializer,
                frozenset(channel_cls.intercept),
                socket.serializer.binary and socket.transport == "websocket",
            ),
        )
        _registry.register_channel(socket.socket_pid, socket.topic)
        socket.write_reply(ref, "ok", {} if result is None else result)
        for frame in held:
            socket.outbox.put(frame)
        return None

    async def handle_info(self, message: Any) -> Any:
        kind = type(message)
        socket = self.socket
        if kind is ChannelIn:
            socket.outbox.inbound -= message.size
            if message.event == "phx_leave":
                _fastlane.unsubscribe(this_node(), socket.topic, self.pid)
                socket.write_reply(message.ref, "ok", {})
                return Stop(("shutdown", "left"))
            socket.current_ref = message.ref
            result = self.channel.handle_in(message.event, message.payload, socket)
            if type(result) is CoroutineType or (not _plain(result) and isawaitable(result)):
                result = await result
            socket.current_ref = None
            return self._answer(message.ref, result)
        if kind is Outgoing:
            return _loop_result(
                await _run(self.channel.handle_out(message.event, message.payload, socket))
            )
        if kind is tuple and len(message) == 4 and message[0] == _DEFERRED:
            socket.write_reply(message[1], message[2], message[3])
            return None
        if kind is Exit and message.pid == socket.socket_pid:
            return Stop(message.reason)
        return _loop_result(await _run(self.channel.handle_info(message, socket)))

    async def handle_call(self, request: Any, caller: Caller) -> Any:
        return await _run(self.channel.handle_call(request, caller, self.socket))

    def format_status(self, state: dict[str, Any]) -> Any:
        """A summary for crash reports: the channel's own attributes, not the assigns."""
        socket = state.get("socket")
        channel = state.get("channel")
        return {
            "channel": type(channel).__name__,
            "topic": getattr(socket, "topic", None),
            "join_ref": getattr(socket, "join_ref", None),
            "state": dict(vars(channel)) if channel is not None else None,
        }

    def _answer(self, ref: Any, result: Any) -> Any:
        kind = type(result)
        if result is None:
            return None
        if kind is Reply:
            self.socket.write_reply(ref, result.status, result.response)
            return None
        if kind is Stop:
            if isinstance(result.reply, Reply):
                self.socket.write_reply(ref, result.reply.status, result.reply.response)
            return Stop(result.reason)
        raise TypeError(f"handle_in returned {result!r}: expected None, a Reply or Stop")

    async def terminate(self, reason: Any) -> None:
        node = this_node()
        for message in lowlevel.mailbox_messages(node, self.pid):  # frames it never handles
            if type(message) is ChannelIn:
                self.socket.outbox.inbound -= message.size
        _fastlane.unsubscribe(node, self.socket.topic, self.pid)
        await _run(self.channel.terminate(reason, self.socket))


def _loop_result(result: Any) -> Any:
    return result if type(result) is Stop else None
