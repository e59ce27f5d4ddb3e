"""The ``Socket`` behaviour: one process per client connection, which routes topics to
channels (the contract is on :class:`Socket`; the process is :class:`SocketServer`).

>>> from beamish import channels
>>> class Room(channels.Channel): ...
>>> class UserSocket(channels.Socket):
...     routes = [("room:*", Room)]
...     def connect(self, params, connect_info):
...         return {"user": params.get("user")}
>>> UserSocket().id({"user": "ann"}) is None
True
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from .. import pubsub, telemetry
from ..actors import (
    Actor,
    Caller,
    Exit,
    Ignore,
    NoReply,
    Pid,
    StartError,
    Stop,
    is_normal,
    is_shutdown,
    reply,
    send_after,
    stop,
    this_node,
    trap_exits,
)
from . import _fastlane, _registry
from ._channel import ChannelIn, ChannelServer, ChannelSocket
from ._errors import ProtocolError
from ._router import Routes, compile_routes, route

if TYPE_CHECKING:
    from ._outbox import Outbox
    from ._serializer import Serializer

_log = logging.getLogger("beamish.channels")

CONNECT = ("beamish", "channels", "connect")
BAD_INPUT = ("beamish", "channels", "bad_input")
OVERFLOW = ("beamish", "channels", "outbox_overflow")
DISCONNECT = ("beamish", "channels", "disconnect")

MAX_CHANNELS = 100
JOIN_TIMEOUT = 15.0  # seconds a join may take (the client gives up after 10)


# close codes (RFC 6455) by the reason a connection process stops
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL = 1008
CLOSE_TOO_BIG = 1009
CLOSE_CRASH = 1011


@dataclass(frozen=True, slots=True)
class ConnectInfo:
    """What the transport knows about the client when it connects.

    Its ``repr`` (in crash reports and logs) leaves out what carries credentials: the
    uri's query, headers (cookies, authorization), params (phoenix.js's ``token``), the
    session cookie and the auth token.
    """

    transport: str
    uri: str = field(repr=False)
    peer: tuple[str, int] | None
    headers: dict[str, str] = field(repr=False)
    params: dict[str, Any] = field(repr=False)
    session: str | None = field(default=None, repr=False)
    auth_token: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)


class Socket:
    """A Phoenix socket: authenticates a connection and routes its topics to channels.

    Subclass it, set ``routes`` and override ``connect`` (and ``id`` to name all the
    sockets of one user). Both may be ``def`` or ``async def``.

    - ``routes``: ``[(pattern, ChannelClass), ...]``; ``"room:*"`` matches every topic that
      starts with ``"room:"``; the first match wins. A join of a topic with no route gets
      the error reply ``{"reason": "unmatched topic"}``.
    - ``connect(params, connect_info)`` returns the socket's assigns (a dict) to accept the
      connection, or None/False to refuse it (HTTP 403 over WebSocket, ``{"status": 403}``
      over LongPoll).
    - ``id(assigns)`` returns a string naming this user's sockets, or None (default).
      ``channels.disconnect(id)`` closes every socket with that id, on every node.

    Each connection runs in a :class:`SocketServer` process under the endpoint's supervisor;
    its channels are processes linked to it.
    """

    routes: ClassVar[list[tuple[str, type[Any]]]] = []

    def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> Any:
        """Accept (return the assigns, a dict) or refuse (None/False). Default: accept."""
        return {}

    def id(self, assigns: dict[str, Any]) -> str | None:
        """The id of this socket (all sockets of one user share it), or None."""
        return None


_compiled: dict[type[Socket], Routes] = {}


def routes_of(socket_cls: type[Socket]) -> Routes:
    routes = _compiled.get(socket_cls)
    if routes is None:
        routes = _compiled[socket_cls] = compile_routes(socket_cls.routes)
    return routes


class InFrame(NamedTuple):
    """A frame from the client, from the transport to the connection process."""

    data: str | bytes


class ClientGone(NamedTuple):
    """From the transport: the client went away (``"closed"``) or broke a transport limit."""

    reason: str = "closed"


DISCONNECT_MESSAGE = ("beamish.channels", "disconnect")  # plain data: it crosses nodes
POLL_GONE = "beamish.channels.poll_gone"  # (POLL_GONE, poll id): that poll's client went away


class _IdleCheck(NamedTuple):
    pass


class _Overflowed(NamedTuple):
    pass


class _Flush(NamedTuple):
    pass


class _PollExpired(NamedTuple):
    serial: int


def id_topic(socket_id: str) -> tuple[str, str]:
    return ("beamish.channels.socket", socket_id)


def disconnect(socket_id: str) -> None:
    """Close every socket whose ``Socket.id`` is ``socket_id``, on every node (WebSocket
    close code 1001, so phoenix.js reconnects and ``connect`` runs again)."""
    pubsub.broadcast(id_topic(socket_id), DISCONNECT_MESSAGE)


@dataclass(slots=True)
class SocketOptions:
    """The endpoint's settings a connection process needs."""

    socket_cls: type[Socket]
    endpoint: Any
    idle_timeout: float  # seconds without a frame (WebSocket) or a poll (LongPoll)
    max_channels: int = MAX_CHANNELS


def _close_code(reason: Any) -> int:
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown":
        return {
            "protocol_error": CLOSE_PROTOCOL,
            "frame_too_big": CLOSE_TOO_BIG,
            "inbox_overflow": CLOSE_PROTOCOL,
            "overflow": 1013,
        }.get(reason[1], CLOSE_GOING_AWAY)
    if is_normal(reason) or is_shutdown(reason):
        return CLOSE_GOING_AWAY
    return CLOSE_CRASH


class SocketServer(Actor):
    """The process of one client connection (the generic loop runs it).

    It owns its transport's outbox: on exit it closes it with a WebSocket close code, and
    the transport closes the connection.
    """

    mailbox_limit = 10_000
    overflow = "exit"

    async def init(  # type: ignore[override]
        self,
        options: SocketOptions,
        connect_info: ConnectInfo,
        serializer: Serializer,
        outbox: Outbox,
        session: str | None = None,
    ) -> Any:
        trap_exits(True)
        self.options = options
        self.serializer = serializer
        self.outbox = outbox
        self.transport = connect_info.transport
        self.session = session
        self.node = node = this_node()
        self.clock = node.clock
        self.user = user = options.socket_cls()
        assigns = await _run(user.connect(connect_info.params, connect_info))
        if assigns is None or assigns is False:
            return Ignore()
        if assigns is True:
            assigns = {}
        if not isinstance(assigns, dict):
            raise TypeError(f"{type(user).__name__}.connect returned {assigns!r}, not a dict")
        self.assigns: dict[str, Any] = assigns
        self.socket_id = await _run(user.id(assigns))
        if self.socket_id is not None:
            await pubsub.subscribe(id_topic(self.socket_id))
        self.routes = routes_of(options.socket_cls)
        self.channels: dict[str, tuple[Pid, Any]] = {}  # topic -> (pid, join_ref)
        self.by_pid: dict[Pid, tuple[str, Any]] = {}
        self.last_seen = self.clock.now()
        self.queued = 0  # frames given to this process by frame_in and not handled yet
        self.flooded = False  # over inbox_bytes: the transport's frames are dropped
        self.poll_waiter: Caller | None = None
        self.poll_serial = 0
        self.poll_id: Any = None
        me = self.pid
        outbox.on_overflow = lambda _box: node.send(me, _Overflowed())
        if session is not None:
            node.register(_registry.session_key(session), me)  # for a poll sent by node hint
            _registry.register_session(session)
            outbox.on_ready = self._wake_poller
        send_after(me, _IdleCheck(), options.idle_timeout / 2)
        telemetry.execute(CONNECT, {"count": 1}, {"transport": self.transport})
        return None

    def format_status(self, state: dict[str, Any]) -> Any:
        """A summary for crash reports and ``get_state``: assigns stay out (they often hold
        credentials), as do the outbox's frames."""
        return {
            "socket": type(state.get("user")).__name__,
            "transport": state.get("transport"),
            "socket_id": state.get("socket_id"),
            "channels": sorted(state.get("channels", {})),
            "outbox": len(state["outbox"]) if "outbox" in state else None,
        }

    # -- frames from the client --

    async def handle_info(self, message: Any) -> Any:
        kind = type(message)
        if kind is InFrame:
            self.outbox.inbound -= len(message.data)  # in this process's hands now
            self.last_seen = self.clock.now()
            try:
                return await self._frame(message.data)
            finally:
                if self.queued:
                    self.queued -= 1
        if kind is Exit:
            return self._channel_exit(message.pid, message.reason)
        if kind is ClientGone:
            if message.reason == "closed":
                return Stop(("shutdown", "closed"))
            return self.bad_input(message.reason.replace("_", " "), message.reason)
        if kind is _IdleCheck:
            idle = self.clock.now() - self.last_seen
            if idle >= self.options.idle_timeout and self.poll_waiter is None:
                telemetry.execute(DISCONNECT, {"count": 1}, {"reason": "timeout"})
                return Stop(("shutdown", "timeout"))
            send_after(self.pid, _IdleCheck(), self.options.idle_timeout / 2)
            return None
        if kind is tuple and len(message) == 2 and message[0] == POLL_GONE:
            if self.poll_waiter is not None and message[1] == self.poll_id:
                self.poll_waiter = None  # its frames stay for the next poll
            return None
        if message == DISCONNECT_MESSAGE:
            telemetry.execute(DISCONNECT, {"count": 1}, {"reason": "disconnect"})
            return Stop(("shutdown", "disconnected"))
        if kind is _Overflowed:
            telemetry.execute(OVERFLOW, {"count": 1}, {"transport": self.transport})
            _log.warning("connection %r disconnected: its client does not read", self.pid)
            return Stop(("shutdown", "overflow"))
        if kind is _Flush:
            if self.poll_waiter is not None and (len(self.outbox) or self.outbox.closed):
                waiter, self.poll_waiter = self.poll_waiter, None
                self.last_seen = self.clock.now()
                reply(waiter, self._poll_answer())
            return None
        if kind is _PollExpired:
            if message.serial == self.poll_serial and self.poll_waiter is not None:
                waiter, self.poll_waiter = self.poll_waiter, None
                self.last_seen = self.clock.now()
                reply(waiter, (204, []))
            return None
        _log.warning("connection %r dropped an unexpected message: %r", self.pid, message)
        return None

    def bad_input(self, why: str, reason: str = "protocol_error") -> Stop:
        telemetry.execute(BAD_INPUT, {"count": 1}, {"transport": self.transport, "why": why})
        _log.info("closing connection %r: %s", self.pid, why)
        return Stop(("shutdown", reason))

    async def _frame(self, data: str | bytes) -> Any:
        try:
            msg = self.serializer.decode(data)
        except ProtocolError as exc:
            return self.bad_input(str(exc))
        topic, event = msg.topic, msg.event
        if topic == "phoenix" and event == "heartbeat":
            self._reply(None, msg.ref, topic, "ok", {})
            return None
        if event == "phx_join":
            return await self._join(msg.join_ref, msg.ref, topic, msg.payload)
        joined = self.channels.get(topic)
        if joined is None:
            if event == "phx_leave":
                self._reply(msg.join_ref, msg.ref, topic, "ok", {})
            else:
                self._reply(None, msg.ref, topic, "error", {"reason": "unmatched topic"})
            return None
        pid, join_ref = joined
        if msg.join_ref is None or msg.join_ref == join_ref:
            size = len(data)
            if self.outbox.inbound + size > self.options.endpoint.inbox_bytes:
                return self.bad_input("inbox overflow", "inbox_overflow")
            self._to_channel(pid, msg, size)
        return None  # a stale join_ref: dropped silently, as Phoenix does

    def frame_in(self, data: str | bytes) -> None:
        """A frame from the client, called by the WebSocket transport's task (not in this
        process). A push to a joined channel, and a heartbeat, are routed right here, straight
        into the channel's mailbox, as Phoenix's transport process does (one hop, not two).
        Everything else (joins, unmatched topics, bad frames), and every frame while
        an earlier one still waits for this process, goes to the process as an ``InFrame``:
        frames are handled in the order they came, and only the process changes
        ``channels``. Over ``Endpoint.inbox_bytes`` of frames not yet handled, the client
        is disconnected and the rest of its frames dropped.
        """
        outbox = self.outbox
        size = len(data)
        if outbox.inbound + size > self.options.endpoint.inbox_bytes:
            if not self.flooded:
                self.flooded = True
                self.node.send(self.pid, ClientGone("inbox_overflow"))  # counted there
            return
        if not self.queued:
            try:
                msg = self.serializer.decode(data)
            except Exception:  # the process decodes it again and reports it
                msg = None
            if msg is not None and msg.event != "phx_join":
                topic = msg.topic
                joined = self.channels.get(topic)
                if joined is not None:
                    self.last_seen = self.clock.now()
                    pid, join_ref = joined
                    if msg.join_ref is None or msg.join_ref == join_ref:
                        self._to_channel(pid, msg, size)
                    return  # a stale join_ref: dropped silently, as in _frame
                if topic == "phoenix" and msg.event == "heartbeat":
                    self.last_seen = self.clock.now()
                    self._reply(None, msg.ref, topic, "ok", {})
                    return
        self.queued += 1
        outbox.inbound += size
        self.node.send(self.pid, InFrame(data))

    def _to_channel(self, pid: Pid, msg: Any, size: int) -> None:
        """Hand a client's push to its channel; its bytes count in ``inbound`` until the
        channel handled it."""
        self.outbox.inbound += size
        self.node.send(pid, ChannelIn(msg.ref, msg.event, msg.payload, size))

    def _reply(self, join_ref: Any, ref: Any, topic: str, status: str, response: Any) -> None:
        self.outbox.put(self.serializer.encode_reply(join_ref, ref, topic, status, response))

    async def _join(self, join_ref: Any, ref: Any, topic: str, payload: Any) -> Any:
        channel_cls = route(self.routes, topic)
        if channel_cls is None:
            self._reply(None, ref, topic, "error", {"reason": "unmatched topic"})
            return None
        old = self.channels.pop(topic, None)
        if old is not None:
            old_pid = old[0]
            del self.by_pid[old_pid]
            _fastlane.unsubscribe(self.node, topic, old_pid)
            try:
                await stop(old_pid, ("shutdown", "duplicate_join"))
            except Exception:  # it was already gone, or would not stop: it is unlinked now
                _log.debug("duplicate join: stopping %r", old_pid, exc_info=True)
        if len(self.channels) >= self.options.max_channels:
            self._reply(join_ref, ref, topic, "error", {"reason": "too many channels joined"})
            return None
        if type(payload) is not dict:
            payload = {} if payload is None else payload
        socket = ChannelSocket(
            topic,
            join_ref,
            dict(self.assigns),
            self.pid,
            self.socket_id,
            self.transport,
            self.outbox,
            self.serializer,
            self.options.endpoint,
        )
        try:
            pid = await ChannelServer.start_link(
                channel_cls, payload, socket, ref, timeout=JOIN_TIMEOUT
            )
        except StartError as exc:  # refused or crashed: the channel wrote its error reply
            pid = None
            if exc.args and exc.args[0] == "timeout":  # killed: it wrote nothing
                _log.error(
                    "%s.join on %r took over %s s", channel_cls.__name__, topic, JOIN_TIMEOUT
                )
                self._reply(join_ref, ref, topic, "error", {"reason": "join crashed"})
        if pid is not None:
            self.channels[topic] = (pid, join_ref)
            self.by_pid[pid] = (topic, join_ref)
        if old is not None:
            self.outbox.put(self.serializer.encode_close(old[1], topic, "phx_close", {}))
        return None

    def _channel_exit(self, pid: Pid, reason: Any) -> Any:
        entry = self.by_pid.pop(pid, None)
        if entry is None:
            return None  # a channel already replaced, or a linked non-channel
        topic, join_ref = entry
        if self.channels.get(topic, (None,))[0] == pid:
            del self.channels[topic]
        _fastlane.unsubscribe(self.node, topic, pid)
        if is_normal(reason) or is_shutdown(reason):
            frame = self.serializer.encode_close(join_ref, topic, "phx_close", {})
        else:
            frame = self.serializer.encode_close(
                join_ref, topic, "phx_error", {"reason": "channel_crash"}
            )
        self.outbox.put(frame)
        return None

    # -- LongPoll: the session is this process --

    def _wake_poller(self) -> None:
        """The outbox got its first frame: answer the waiting poll from the process (so that
        every frame put meanwhile goes in the same answer)."""
        self.node.send(self.pid, _Flush())

    def _poll_answer(self) -> tuple[int, list[str | bytes]]:
        frames = self.outbox.take_nowait()
        if frames:
            return (200, frames)
        return (410 if self.outbox.closed else 204, [])

    async def handle_call(self, request: Any, caller: Caller) -> Any:
        if type(request) is not tuple or not request:
            raise ValueError(f"unexpected call {request!r}")
        if request[0] == "poll":
            self.last_seen = self.clock.now()
            if self.poll_waiter is not None:  # a newer poll replaces the waiting one
                old, self.poll_waiter = self.poll_waiter, None
                reply(old, (204, []))
            if len(self.outbox) or self.outbox.closed:
                return self._poll_answer()
            self.poll_waiter = caller
            self.poll_id = request[2] if len(request) > 2 else None
            self.poll_serial += 1
            send_after(self.pid, _PollExpired(self.poll_serial), request[1])
            return NoReply()
        if request[0] == "post":
            self.last_seen = self.clock.now()
            for data in request[1]:
                result = await self._frame(data)
                if type(result) is Stop:
                    return Stop(result.reason, reply=400)
            return 200
        raise ValueError(f"unexpected call {request!r}")

    async def terminate(self, reason: Any) -> None:
        for pid, (topic, _join_ref) in self.by_pid.items():
            _fastlane.unsubscribe(self.node, topic, pid)
        if self.poll_waiter is not None:
            reply(self.poll_waiter, (410, []))
            self.poll_waiter = None
        self.outbox.close(_close_code(reason), "")


async def _run(result: Any) -> Any:
    if inspect.isawaitable(result):
        return await result
    return result


__all__ = ["ConnectInfo", "Socket", "SocketServer"]
