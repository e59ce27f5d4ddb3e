"""A Phoenix Channels client for Python: service-to-service use, tests and load generation.

It speaks what phoenix.js 1.8 speaks (V2 JSON and binary frames over WebSocket) to any
Phoenix-compatible server, a ``beamish.channels`` endpoint or Phoenix itself; it runs on
anyio (asyncio or trio) and needs the ``websockets`` library (``pip install
'beamish[client]'``)::

    from beamish.channels import client

    async with client.connect("ws://localhost:4000/socket", {"token": token}) as socket:
        room = socket.channel("room:lobby", {"name": "ann"})
        room.on("shout", lambda payload: print(payload))
        print(await room.join())                      # the join reply's response
        reply = await room.push("echo", {"x": 1})     # Reply(status='ok', response={...})
        await room.leave()

Semantics (phoenix.js's, PHOENIX-PROTOCOL.md §7)
------------------------------------------------
- :func:`connect` makes the first connection before it returns (:class:`ConnectError` if
  it is refused or unreachable). A connection lost later is re-established with the
  reconnect backoff (10 ms, 50 ms, ... 5 s), and every channel that was joined or joining
  rejoins at once on the new connection, running the server's join again.
- Heartbeats go every ``heartbeat_interval`` seconds; a heartbeat with no reply within
  ``heartbeat_timeout`` (default: the interval, as phoenix.js) closes the connection
  (code 1000, ``"heartbeat timeout"``) and reconnects.
- ``join`` returns the ok reply's response or raises :class:`JoinError` (an error reply) or
  :class:`Timeout`. After either, or a ``phx_error`` (the channel crashed), the channel
  rejoins with the rejoin backoff (1 s, 2 s, 5 s, then 10 s) until :meth:`Channel.leave`.
  ``phx_close`` from the server closes the channel for good.
- ``push`` waits (within its timeout) until the channel is joined, sends, and returns the
  :class:`Reply`; no reply within the timeout raises :class:`Timeout`. A ``bytes`` payload
  travels as a binary frame, and binary replies and pushes arrive as ``bytes``.
- ``on(event, callback)`` calls ``callback(payload)`` (in the client's reader task: keep it
  short, hand work to a stream) for pushes and broadcasts of that event, and for
  ``"phx_error"`` and ``"phx_close"``. Messages of an older join of the topic are dropped.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import ssl
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from . import _json
from ._errors import ProtocolError
from ._http_client import HTTPConnection, HTTPError, connect_stream
from ._serializer import V2_SERIALIZER, Message, binary_frame

if TYPE_CHECKING:
    from websockets.client import ClientProtocol

__all__ = [
    "Channel",
    "ChannelClosed",
    "ConnectError",
    "JoinError",
    "Presence",
    "Reply",
    "Socket",
    "Timeout",
    "connect",
    "reconnect_after",
    "rejoin_after",
]

log = logging.getLogger(__name__)

_RECONNECT = (0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0)
_REJOIN = (1.0, 2.0, 5.0)


def reconnect_after(tries: int) -> float:
    """phoenix.js's reconnect backoff: seconds before reconnect attempt ``tries`` (1, 2, ...)."""
    return _RECONNECT[tries - 1] if tries <= len(_RECONNECT) else 5.0


def rejoin_after(tries: int) -> float:
    """phoenix.js's rejoin backoff: seconds before rejoin attempt ``tries`` (1, 2, ...)."""
    return _REJOIN[tries - 1] if tries <= len(_REJOIN) else 10.0


class ConnectError(ConnectionError):
    """The connection was refused (``status`` is the HTTP status, 403 for a refusal by
    ``Socket.connect``) or could not be made (``status`` None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JoinError(Exception):
    """The server refused the join; ``response`` is its error reply's response."""

    def __init__(self, response: Any) -> None:
        super().__init__(response)
        self.response = response


class Timeout(TimeoutError):
    """No reply within the timeout."""


class ChannelClosed(Exception):
    """The channel was closed (left, or closed by the server) while waiting on it."""


@dataclass(frozen=True)
class Reply:
    """A reply to a push: ``status`` (``"ok"``, ``"error"`` or another word) and response."""

    status: str
    response: Any

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _websockets() -> Any:
    try:
        import websockets.client
        import websockets.frames
        import websockets.http11
        import websockets.protocol
        import websockets.uri
    except ImportError as exc:  # pragma: no cover - the dev extras install it
        raise ImportError(
            "beamish.channels.client needs the 'websockets' library: pip install 'beamish[client]'"
        ) from exc
    return websockets


# -- wire: what a client sends and what a server sends (PHOENIX-PROTOCOL.md §2, §3) ----------


def encode(join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> str | bytes:
    """A client frame: a V2 JSON array, or a kind-0 binary push for a ``bytes`` payload."""
    if type(payload) is bytes:
        return binary_frame(0, payload, join_ref=join_ref, ref=ref, topic=topic, event=event)
    return _json.dumps([join_ref, ref, topic, event, payload])


def decode(frame: str | bytes) -> Message:
    """A server frame as a :class:`~beamish.channels.Message`; a binary reply (kind 1) gets
    event ``phx_reply`` and payload ``{"status", "response": bytes}``, as phoenix.js makes it.
    :class:`~beamish.channels.ProtocolError` for anything else."""
    if type(frame) is not bytes:
        message = V2_SERIALIZER.decode(frame)
        if message.event == "phx_reply":
            payload = message.payload
            if type(payload) is not dict or type(payload.get("status")) is not str:
                raise ProtocolError("a phx_reply payload is {status: string, response}")
        return message
    header = {0: 3, 1: 4, 2: 2}.get(frame[0] if frame else -1)
    if header is None or len(frame) < 1 + header:
        raise ProtocolError("a server binary frame is kind 0, 1 or 2 with its header")
    fields: list[str] = []
    start = 1 + header
    for size in frame[1 : 1 + header]:
        end = start + size
        if end > len(frame):
            raise ProtocolError("binary frame header lengths run past the end of the frame")
        try:
            fields.append(frame[start:end].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError("binary frame header field is not UTF-8") from None
        start = end
    payload = frame[start:]
    if frame[0] == 0:
        join_ref, topic, event = fields
        return Message(join_ref or None, None, topic, event, payload)
    if frame[0] == 1:
        join_ref, ref, topic, status = fields
        reply = {"status": status, "response": payload}
        return Message(join_ref or None, ref or None, topic, "phx_reply", reply)
    topic, event = fields
    return Message(None, None, topic, event, payload)


def _query(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Plug-style flattening as phoenix.js does: ``{"a": {"b": 1}}`` -> ``a[b]=1``."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs += _query(value, name)
        elif isinstance(value, list | tuple):
            pairs += _query({str(i): v for i, v in enumerate(value)}, name)
        elif value is not None:
            pairs.append((name, _json.dumps(value) if isinstance(value, bool) else str(value)))
    return pairs


# -- the WebSocket: the websockets library's sans-I/O protocol over an anyio stream ----------


class _Closed(Exception):
    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code


class _WebSocket:
    skip_heartbeat = False

    def __init__(self, stream: anyio.abc.ByteStream, protocol: ClientProtocol) -> None:
        self._stream = stream
        self._protocol = protocol
        self._events: deque[Any] = deque()
        self._fragments: list[bytes] = []
        self._lock = anyio.Lock()

    @classmethod
    async def open(
        cls,
        url: str,
        subprotocols: Sequence[str],
        max_size: int | None,
        ssl_context: ssl.SSLContext | None,
    ) -> _WebSocket:
        ws = _websockets()
        uri = ws.uri.parse_uri(url)
        try:
            context = (ssl_context or ssl.create_default_context()) if uri.secure else None
            stream = await connect_stream(uri.host, uri.port, context)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {uri.host}:{uri.port}: {exc}") from exc
        protocol = ws.client.ClientProtocol(
            uri, subprotocols=list(subprotocols) or None, max_size=max_size
        )
        socket = cls(stream, protocol)
        try:
            protocol.send_request(protocol.connect())
            await socket._flush()
            while True:
                for event in protocol.events_received():
                    if isinstance(event, ws.http11.Response):
                        if protocol.handshake_exc is not None:
                            raise ConnectError(
                                f"the server refused the WebSocket: HTTP {event.status_code}",
                                event.status_code,
                            )
                        continue
                    socket._events.append(event)
                if protocol.state is ws.protocol.State.OPEN:
                    return socket
                if protocol.handshake_exc is not None:
                    raise ConnectError(f"WebSocket handshake failed: {protocol.handshake_exc}")
                try:
                    data = await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
                    raise ConnectError(f"closed during the handshake: {exc}") from exc
                protocol.receive_data(data)
        except BaseException:
            await socket.aclose()
            raise

    async def _flush(self) -> None:
        for chunk in self._protocol.data_to_send():
            if chunk:
                await self._stream.send(chunk)

    async def send(self, frame: str | bytes) -> None:
        async with self._lock:
            if type(frame) is bytes:
                self._protocol.send_binary(frame)
            else:
                self._protocol.send_text(frame.encode("utf-8"))  # type: ignore[union-attr]
            await self._flush()

    async def receive(self) -> str | bytes:
        """The next text or binary message; :class:`_Closed` when the connection ends."""
        opcodes = _websockets().frames.Opcode
        while True:
            while self._events:
                frame = self._events.popleft()
                if frame.opcode in (opcodes.TEXT, opcodes.BINARY, opcodes.CONT):
                    if frame.opcode is not opcodes.CONT:
                        self._text = frame.opcode is opcodes.TEXT
                    self._fragments.append(frame.data)
                    if frame.fin:
                        data, self._fragments = b"".join(self._fragments), []
                        return data.decode("utf-8") if self._text else data
            received = self._protocol.close_rcvd or self._protocol.close_sent  # sent: we failed it
            if received is not None:
                raise _Closed(received.code, received.reason)
            if self._protocol.state.name == "CLOSED":
                raise _Closed(1006)
            try:
                data = await self._stream.receive()
            except (
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                OSError,
            ):  # ClosedResourceError: our own close() raced this read
                self._protocol.receive_eof()
            else:
                self._protocol.receive_data(data)
            self._events.extend(self._protocol.events_received())
            replies = self._protocol.data_to_send()  # pongs, the answer to a close; mostly none
            if replies:
                with contextlib.suppress(
                    anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
                ):
                    async with self._lock:
                        for chunk in replies:
                            if chunk:
                                await self._stream.send(chunk)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with anyio.move_on_after(1, shield=True):
            with contextlib.suppress(Exception):
                async with self._lock:
                    self._protocol.send_close(code, reason)
                    await self._flush()
            await self.aclose()

    async def aclose(self) -> None:
        with anyio.move_on_after(1, shield=True):
            await self._stream.aclose()


# -- LongPoll: phoenix.js's LongPoll transport (PHOENIX-PROTOCOL.md §8) over HTTP/1.1 ------

MAX_LONGPOLL_BATCH = 100  # phoenix.js's MAX_LONGPOLL_BATCH_SIZE


def longpoll_url(url: str) -> str:
    """phoenix.js's ``normalizeEndpoint``: the LongPoll URL of a WebSocket URL.

    >>> longpoll_url("wss://h/socket/websocket?vsn=2.0.0")
    'https://h/socket/longpoll?vsn=2.0.0'
    """
    scheme, rest = url.split("://", 1)
    base, _, query = rest.partition("?")
    head, _, _ = base.rpartition("/websocket")
    http = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{http}://{head}/longpoll" + (f"?{query}" if query else "")


class _LongPoll:
    """The connection as phoenix.js's LongPoll makes it: a GET poll outstanding at all times
    (its answers are the frames), frames sent in ndjson POSTs of at most 100 lines, one POST
    in flight (frames sent meanwhile go in the next). Opened once the first GET created a
    session (status 410 with a token). No heartbeats: the poll is the liveness.

    Ends (``receive`` raises :class:`_Closed`) as phoenix.js closes it: a GET with status
    410 (the session is gone: 3410), 403 (1008), 0/500/malformed (1011), a POST not
    answered 200 (1011), a GET or POST not answered within ``poll_timeout`` (1005).
    """

    skip_heartbeat = True

    def __init__(
        self,
        url: str,
        auth_token: str | None,
        max_size: int | None,
        ssl_context: ssl.SSLContext | None,
        poll_timeout: float,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        secure = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        context = (ssl_context or ssl.create_default_context()) if secure else None
        limit = max_size or 2**31
        self._get_http = HTTPConnection(host, port, ssl_context=context, max_body=limit)
        self._post_http = HTTPConnection(host, port, ssl_context=context, max_body=limit)
        self._path = (parts.path or "/") + "?" + parts.query
        self._auth_token = auth_token
        self.poll_timeout = poll_timeout
        self.token: str | None = None
        self._messages: deque[str] = deque()
        self._batch: list[str] = []
        self._posting = False
        self._failed: int | None = None
        self._poll_scope: anyio.CancelScope | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        auth_token: str | None,
        max_size: int | None,
        ssl_context: ssl.SSLContext | None,
        poll_timeout: float,
    ) -> _LongPoll:
        transport = cls(url, auth_token, max_size, ssl_context, poll_timeout)
        try:
            status = await transport._poll()
        except BaseException:
            await transport.aclose()
            raise
        if status == 410 and transport.token is not None:
            return transport
        await transport.aclose()
        if status == 0:
            raise ConnectError(f"no LongPoll session from {url}")
        raise ConnectError(f"the server refused the LongPoll: status {status}", status)

    def _target(self) -> str:
        if self.token is None:
            return self._path
        return f"{self._path}&{urllib.parse.urlencode({'token': self.token})}"

    async def _poll(self) -> int:
        """One GET: its status (0: no answer, or not a LongPoll answer); frames queued."""
        headers = [("Accept", "application/json")]
        if self._auth_token is not None:
            headers.append(("X-Phoenix-AuthToken", self._auth_token))
        try:
            _, body = await self._get_http.request("GET", self._target(), headers)
            answer = _json.loads(body)
        except (HTTPError, ValueError) as exc:
            log.info("LongPoll GET to %s failed: %s", self._get_http.host, exc)
            return 0
        if type(answer) is not dict or type(answer.get("status")) is not int:
            return 0
        status: int = answer["status"]
        if status == 410 and self.token is not None:
            return 410  # the session is gone
        if status in (200, 204, 410):
            token, messages = answer.get("token"), answer.get("messages", [])
            if type(token) is not str or type(messages) is not list:
                return 0
            if not all(type(m) is str for m in messages):
                return 0
            self.token = token
            self._messages.extend(messages)
        return status

    def _fail(self, code: int) -> None:
        if self._failed is None:
            self._failed = code
        if self._poll_scope is not None:
            self._poll_scope.cancel()

    async def receive(self) -> str:
        """The next frame from the server; :class:`_Closed` when the session ends."""
        while not self._messages:
            if self._failed is not None:
                raise _Closed(self._failed)
            status = 0
            with anyio.CancelScope() as self._poll_scope:
                try:
                    with anyio.fail_after(self.poll_timeout):
                        status = await self._poll()
                except TimeoutError:
                    self._fail(1005)
            self._poll_scope = None
            if status == 410:
                self._fail(3410)
            elif status == 403:
                self._fail(1008)
            elif status not in (200, 204):
                self._fail(1011)
        return self._messages.popleft()

    async def send(self, frame: str | bytes) -> None:
        """Queue ``frame``; POSTed now, or after the POST in flight is acknowledged."""
        if self._failed is not None:
            return
        line = frame if isinstance(frame, str) else base64.b64encode(frame).decode()
        self._batch.append(line)
        if self._posting:
            return
        self._posting = True
        try:
            while self._batch and self._failed is None:
                lines = self._batch[:MAX_LONGPOLL_BATCH]
                del self._batch[:MAX_LONGPOLL_BATCH]
                status = 0
                headers = [("Content-Type", "application/x-ndjson")]
                body = "\n".join(lines).encode()
                with anyio.move_on_after(self.poll_timeout, shield=True) as posting:
                    with contextlib.suppress(HTTPError, ValueError):
                        _, answer = await self._post_http.request(
                            "POST", self._target(), headers, body
                        )
                        parsed = _json.loads(answer)
                        status = parsed.get("status", 0) if type(parsed) is dict else 0
                if status != 200:
                    log.info("LongPoll POST answered %s: closing", status)
                    self._fail(1005 if posting.cancelled_caught else 1011)
        finally:
            self._posting = False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._fail(code)
        await self.aclose()

    async def aclose(self) -> None:
        await self._get_http.aclose()
        await self._post_http.aclose()


# -- channels and the socket ----------------------------------------------------------------

Callback = Callable[[Any], Any]


class Channel:
    """One topic on a :class:`Socket` (``socket.channel(topic, params)``)."""

    def __init__(self, socket: Socket, topic: str, params: Any) -> None:
        self.socket = socket
        self.topic = topic
        self.params = params
        self.state = "closed"  # closed | joining | joined | errored | leaving
        self.join_ref: str | None = None
        self._bindings: dict[str, list[tuple[int, Callback]]] = {}
        self._binding_refs = itertools.count(1)
        self._pending: dict[str, list[Any]] = {}  # ref -> [event, reply]
        self._changed = anyio.Event()
        self._rejoin_tries = 0
        self._rejoin_generation = 0
        self._joined_once = False
        self._first_join: list[Any] = []
        self._first_join_done = anyio.Event()

    def __repr__(self) -> str:
        return f"<Channel {self.topic!r} {self.state} join_ref={self.join_ref!r}>"

    def on(self, event: str, callback: Callback) -> int:
        """Call ``callback(payload)`` for every ``event`` on this channel; a ref for :meth:`off`."""
        ref = next(self._binding_refs)
        self._bindings.setdefault(event, []).append((ref, callback))
        return ref

    def off(self, event: str, ref: int | None = None) -> None:
        """Remove the callback ``ref`` of ``event`` (every callback of it without ``ref``)."""
        self._bindings[event] = [
            b for b in self._bindings.get(event, []) if ref not in (None, b[0])
        ]

    async def join(self, *, timeout: float | None = None) -> Any:
        """Join; the server's ok response. :class:`JoinError`, :class:`Timeout` (the channel
        goes on rejoining with the backoff until :meth:`leave`)."""
        if self._joined_once:
            raise RuntimeError(f"{self.topic!r} was already joined; make another channel")
        self._joined_once = True
        self.socket._add(self)
        self._set_state("joining")
        if self.socket.connected:
            await self._send_join()
        try:
            with anyio.fail_after(self.socket.timeout if timeout is None else timeout):
                await self._first_join_done.wait()
        except TimeoutError:
            raise Timeout(f"no reply to the join of {self.topic!r}") from None
        kind, response = self._first_join
        if kind == "error":
            raise JoinError(response)
        return response

    async def push(self, event: str, payload: Any = None, *, timeout: float | None = None) -> Reply:
        """Send ``event`` once joined; the server's reply. :class:`Timeout` without one in
        ``timeout`` seconds (counted from this call); :class:`ChannelClosed` if closed."""
        payload = {} if payload is None else payload
        ref = None
        try:
            with anyio.fail_after(self.socket.timeout if timeout is None else timeout):
                while self.state != "joined":
                    if self.state == "closed":
                        raise ChannelClosed(f"{self.topic!r} is closed")
                    await self._changed.wait()
                ref = self.socket.make_ref()
                waiter: list[Any] = [anyio.Event(), None]
                self._pending[ref] = waiter
                await self.socket._send(encode(self.join_ref, ref, self.topic, event, payload))
                await waiter[0].wait()
                reply: Reply = waiter[1]
                return reply
        except TimeoutError:
            raise Timeout(f"no reply to {event!r} on {self.topic!r}") from None
        finally:
            if ref is not None:
                self._pending.pop(ref, None)

    async def leave(self, *, timeout: float | None = None) -> None:
        """Leave: ``phx_leave``, then closed when the server replies or after ``timeout``."""
        self._rejoin_generation += 1
        if self.state in ("joined", "joining") and self.socket.connected:
            self._set_state("leaving")
            ref = self.socket.make_ref()
            waiter: list[Any] = [anyio.Event(), None]
            self._pending[ref] = waiter
            try:
                await self.socket._send(encode(self.join_ref, ref, self.topic, "phx_leave", {}))
                with anyio.move_on_after(self.socket.timeout if timeout is None else timeout):
                    await waiter[0].wait()
            finally:
                self._pending.pop(ref, None)
        self._close()

    # -- inside: called by the socket ------------------------------------------------------

    def _set_state(self, state: str) -> None:
        self.state = state
        self._changed.set()
        self._changed = anyio.Event()

    async def _join_on_open(self) -> None:
        if self.state in ("joining", "errored"):
            await self._send_join()

    async def _send_join(self) -> None:
        self.join_ref = ref = self.socket.make_ref()
        self._set_state("joining")
        self.socket._spawn(self._join_timer, ref)
        await self.socket._send(encode(ref, ref, self.topic, "phx_join", self.params))

    async def _join_timer(self, join_ref: str) -> None:
        await anyio.sleep(self.socket.timeout)
        if self.state == "joining" and self.join_ref == join_ref:
            log.warning("join of %r timed out; rejoining", self.topic)
            with contextlib.suppress(Exception):
                await self.socket._send(
                    encode(join_ref, self.socket.make_ref(), self.topic, "phx_leave", {})
                )
            self._errored({"reason": "timeout"}, first=("timeout", None))

    def _first(self, kind: str, response: Any) -> None:
        if not self._first_join_done.is_set():
            self._first_join = [kind, response]
            self._first_join_done.set()

    def _errored(self, payload: Any, first: tuple[str, Any] | None = None) -> None:
        was = self.state
        self._set_state("errored")
        if first is not None:
            self._first(*first)
        if was in ("joined", "joining"):
            self._trigger("phx_error", payload)
        if self.socket.connected:
            self._schedule_rejoin()

    def _schedule_rejoin(self) -> None:
        self._rejoin_tries += 1
        self._rejoin_generation += 1
        self.socket._spawn(
            self._rejoin, self._rejoin_generation, self.socket.rejoin_after(self._rejoin_tries)
        )

    async def _rejoin(self, generation: int, delay: float) -> None:
        await anyio.sleep(delay)
        current = generation == self._rejoin_generation
        if current and self.state == "errored" and self.socket.connected:
            await self._send_join()

    def _close(self) -> None:
        if self.state != "closed":
            self._set_state("closed")
            self._trigger("phx_close", {})
        self._first("error", {"reason": "closed"})
        self.socket._remove(self)

    def _trigger(self, event: str, payload: Any) -> None:
        for _, callback in list(self._bindings.get(event, ())):
            try:
                callback(payload)
            except Exception:
                log.exception("callback for %r on %r failed", event, self.topic)

    def _receive(self, message: Message) -> None:
        if message.join_ref and message.join_ref != self.join_ref:
            return  # an older instance of this topic's channel
        event, payload = message.event, message.payload
        if event == "phx_reply":
            status, response = payload.get("status"), payload.get("response")
            if message.ref == self.join_ref and self.state == "joining":
                if status == "ok":
                    self._rejoin_tries = 0
                    self._set_state("joined")
                    self._first("ok", response)
                else:
                    self._errored(response, first=("error", response))
                return
            waiter = self._pending.get(str(message.ref))
            if waiter is not None:
                waiter[1] = Reply(str(status), response)
                waiter[0].set()
            return
        if event == "phx_close":
            self._close()
        elif event == "phx_error":
            if self.state in ("joined", "joining"):
                self._errored(payload)
        else:
            self._trigger(event, payload)


def _call_each(callbacks: list[Callable[..., Any]], *args: Any) -> None:
    for callback in callbacks:
        try:
            callback(*args)
        except Exception:
            log.exception("socket callback %r failed", callback)


class Socket:
    """A connection to a Phoenix socket endpoint and its channels; made by :func:`connect`."""

    def __init__(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        *,
        auth_token: str | None,
        timeout: float,
        heartbeat_interval: float | None,
        heartbeat_timeout: float | None,
        reconnect_after: Callable[[int], float],
        rejoin_after: Callable[[int], float],
        max_size: int | None,
        ssl_context: ssl.SSLContext | None,
        transport: str = "websocket",
        longpoll_fallback: float | None = None,
        longpoll_timeout: float = 20.0,
    ) -> None:
        if transport not in ("websocket", "longpoll"):
            raise ValueError(f'transport is "websocket" or "longpoll", not {transport!r}')
        base = url.rstrip("/")
        query = urllib.parse.urlencode([*_query(params or {}), ("vsn", "2.0.0")])
        self.url = f"{base}/websocket?{query}"
        self.longpoll_url = longpoll_url(self.url)
        self.transport = transport
        self.longpoll_fallback = longpoll_fallback
        self.longpoll_timeout = longpoll_timeout
        self.auth_token = auth_token
        self.subprotocols: list[str] = []
        if auth_token is not None:
            token = base64.b64encode(auth_token.encode()).decode().rstrip("=")
            self.subprotocols = ["phoenix", f"base64url.bearer.phx.{token}"]
        self.timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout or heartbeat_interval
        self._heartbeat_sent = 0.0
        self._heartbeat_timed_out = False
        self.reconnect_after = reconnect_after
        self.rejoin_after = rejoin_after
        self.max_size = max_size
        self.ssl_context = ssl_context
        self.channels: list[Channel] = []
        self.connects = 0
        self._ws: _WebSocket | _LongPoll | None = None
        self._refs = itertools.count(1)
        self._task_group: anyio.abc.TaskGroup | None = None
        self._on_open: list[Callable[[], Any]] = []
        self._on_close: list[Callable[[int], Any]] = []
        self._on_heartbeat: list[Callable[[], Any]] = []
        self._closing = False
        self._heartbeat_ref: str | None = None
        self._opened = anyio.Event()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def make_ref(self) -> str:
        """A fresh ref (``"1"``, ``"2"``, ...), unique on this socket."""
        return str(next(self._refs))

    def channel(self, topic: str, params: Any = None) -> Channel:
        """A channel for ``topic`` with join ``params``; :meth:`Channel.join` joins it."""
        return Channel(self, topic, {} if params is None else params)

    def on_open(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` on every (re)connection."""
        self._on_open.append(callback)

    def on_close(self, callback: Callable[[int], Any]) -> None:
        """Call ``callback(close_code)`` every time the connection is lost (1006: no close
        frame; 1000 "heartbeat timeout" when this client gave up on the server)."""
        self._on_close.append(callback)

    def on_heartbeat(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` for every heartbeat the server answers."""
        self._on_heartbeat.append(callback)

    async def wait_connected(self) -> None:
        """Until the socket is connected (returns at once if it is)."""
        while not self.connected:
            await self._opened.wait()

    async def close(self) -> None:
        """Close the connection for good (no reconnect); channels close."""
        self._closing = True
        for channel in list(self.channels):
            channel._close()
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close(1000, "")

    # -- inside ------------------------------------------------------------------------------

    def _add(self, channel: Channel) -> None:
        for other in list(self.channels):  # phoenix.js leaves another instance of the topic
            if other.topic == channel.topic and other.state in ("joined", "joining"):
                other._rejoin_generation += 1
                other._close()
        self.channels.append(channel)

    def _remove(self, channel: Channel) -> None:
        if channel in self.channels:
            self.channels.remove(channel)

    def _spawn(self, function: Callable[..., Any], *args: Any) -> None:
        if self._task_group is not None and not self._closing:
            self._task_group.start_soon(function, *args)

    async def _send(self, frame: str | bytes) -> None:
        ws = self._ws
        if ws is None:
            return  # the channel rejoins on the next connection; pushes wait for the join
        try:
            await ws.send(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # the reader sees the connection end and reconnects

    async def _open(self) -> _WebSocket | _LongPoll:
        if self.transport == "websocket" and self.longpoll_fallback is not None:
            try:
                with anyio.fail_after(self.longpoll_fallback):
                    return await self._open_websocket()
            except (ConnectError, TimeoutError, ImportError) as exc:  # ImportError: no websockets
                log.info("WebSocket to %s failed (%s): LongPoll from now on", self.url, exc)
                self.transport = "longpoll"
        if self.transport == "longpoll":
            return await _LongPoll.open(
                self.longpoll_url,
                self.auth_token,
                self.max_size,
                self.ssl_context,
                self.longpoll_timeout,
            )
        return await self._open_websocket()

    async def _open_websocket(self) -> _WebSocket:
        return await _WebSocket.open(self.url, self.subprotocols, self.max_size, self.ssl_context)

    async def _run(self, ws: _WebSocket | _LongPoll) -> None:
        tries = 0
        fresh: _WebSocket | _LongPoll | None = ws  # opened, not yet served: closed if unserved
        try:
            while not self._closing:
                if fresh is not None:
                    ws, fresh = fresh, None
                    await self._serve(ws)
                    continue
                tries += 1
                await anyio.sleep(self.reconnect_after(tries))
                try:
                    with anyio.fail_after(self.timeout):
                        fresh = await self._open()
                except (ConnectError, TimeoutError) as exc:
                    log.info("reconnect to %s failed: %s", self.url, exc)
                    continue
                tries = 0
        finally:
            if fresh is not None:
                await fresh.aclose()

    async def _serve(self, ws: _WebSocket | _LongPoll) -> None:
        self._ws = ws
        self.connects += 1
        self._heartbeat_ref = None
        self._heartbeat_timed_out = False
        self._opened.set()
        self._opened = anyio.Event()
        code = 1006
        _call_each(self._on_open)
        try:
            async with anyio.create_task_group() as connection:
                if self.heartbeat_interval and not ws.skip_heartbeat:
                    connection.start_soon(self._heartbeat, connection.cancel_scope)
                for channel in list(self.channels):
                    if channel.state in ("joining", "errored"):
                        connection.start_soon(channel._join_on_open)
                code = await self._read(ws)
                connection.cancel_scope.cancel()
            if self._heartbeat_timed_out:
                code = 1000
        finally:
            self._ws = None
            with anyio.CancelScope(shield=True):
                await ws.close(1000, "heartbeat timeout" if code == 1000 else "")
        if self._closing:
            return
        for channel in list(self.channels):
            if channel.state in ("joined", "joining"):
                channel._errored({"reason": "connection_closed"})
        _call_each(self._on_close, code)

    async def _read(self, ws: _WebSocket | _LongPoll) -> int:
        while True:
            try:
                frame = await ws.receive()
            except _Closed as closed:
                return closed.code
            try:
                message = decode(frame)
            except ProtocolError as exc:
                log.warning(
                    "closing the connection to %s: bad frame from the server: %s", self.url, exc
                )
                return 1006
            self._dispatch(message)

    def _dispatch(self, message: Message) -> None:
        if message.topic == "phoenix":
            if message.ref is not None and message.ref == self._heartbeat_ref:
                self._heartbeat_ref = None
                _call_each(self._on_heartbeat)
            return
        for channel in list(self.channels):
            if channel.topic == message.topic:
                channel._receive(message)

    async def _heartbeat(self, connection: anyio.CancelScope) -> None:
        assert self.heartbeat_interval
        assert self.heartbeat_timeout
        while True:
            await anyio.sleep(self.heartbeat_interval)
            if self._heartbeat_ref is not None:
                if anyio.current_time() - self._heartbeat_sent < self.heartbeat_timeout:
                    continue
                log.warning("heartbeat timeout: closing the connection to %s", self.url)
                self._heartbeat_timed_out = True
                connection.cancel()
                return
            self._heartbeat_ref = ref = self.make_ref()
            self._heartbeat_sent = anyio.current_time()
            await self._send(encode(None, ref, "phoenix", "heartbeat", {}))


@contextlib.asynccontextmanager
async def connect(
    url: str,
    params: Mapping[str, Any] | None = None,
    *,
    auth_token: str | None = None,
    timeout: float = 10.0,
    heartbeat_interval: float | None = 30.0,
    heartbeat_timeout: float | None = None,
    reconnect_after: Callable[[int], float] = reconnect_after,
    rejoin_after: Callable[[int], float] = rejoin_after,
    max_size: int | None = 2**24,
    ssl_context: ssl.SSLContext | None = None,
    transport: str = "websocket",
    longpoll_fallback: float | None = None,
    longpoll_timeout: float = 20.0,
) -> AsyncIterator[Socket]:
    """Connect to the socket endpoint at ``url`` (``ws://host/socket``: ``/websocket`` and
    the query are added) with connect ``params``; the :class:`Socket`, closed on exit.

    ``auth_token`` travels as phoenix.js's ``authToken`` (a WebSocket subprotocol);
    ``timeout`` is the default for joins, pushes, leaves and each connection attempt;
    ``heartbeat_interval`` None sends no heartbeats; ``heartbeat_timeout`` (default the
    interval) is how long a heartbeat may go unanswered; ``reconnect_after(tries)`` and
    ``rejoin_after(tries)`` are the backoffs in seconds; ``max_size`` bounds an incoming
    message. :class:`ConnectError` if the first connection fails.

    ``transport="longpoll"`` speaks phoenix.js's LongPoll (HTTP GET polls and ndjson POSTs
    to ``<url>/longpoll``; no heartbeats; ``auth_token`` in the ``X-Phoenix-AuthToken``
    header; a poll or POST unanswered for ``longpoll_timeout`` seconds ends the connection).
    ``longpoll_fallback=s``: a WebSocket not open within ``s`` seconds (or refused, or
    unreachable, or the ``websockets`` library not installed) makes this socket use LongPoll
    from then on, as phoenix.js's ``longPollFallbackMs``; ``Socket.transport`` says which
    one it uses.
    """
    socket = Socket(
        url,
        params,
        auth_token=auth_token,
        timeout=timeout,
        heartbeat_interval=heartbeat_interval,
        heartbeat_timeout=heartbeat_timeout,
        reconnect_after=reconnect_after,
        rejoin_after=rejoin_after,
        max_size=max_size,
        ssl_context=ssl_context,
        transport=transport,
        longpoll_fallback=longpoll_fallback,
        longpoll_timeout=longpoll_timeout,
    )
    try:
        with anyio.fail_after(timeout):
            ws = await socket._open()
    except TimeoutError:
        raise ConnectError(f"no connection to {url} within {timeout} s") from None
    failed: Exception | None = None
    async with anyio.create_task_group() as task_group:
        socket._task_group = task_group
        task_group.start_soon(socket._run, ws)
        try:
            yield socket
        except Exception as exc:  # raised as itself, not inside an exception group
            failed = exc
        finally:
            await socket.close()
    if failed is not None:
        raise failed


# -- presence (phoenix.js's Presence: syncState / syncDiff) -----------------------------------

PresenceState = dict[str, dict[str, Any]]


class Presence:
    """The presences of a channel's topic, kept in sync from ``presence_state`` and
    ``presence_diff`` as phoenix.js's ``Presence`` does.

    ``on_join(key, current, joined)``, ``on_leave(key, current, left)`` and ``on_sync()``
    are called as it changes; :meth:`list` gives ``{key: [meta, ...]}``.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        on_join: Callable[[str, Any, Any], Any] | None = None,
        on_leave: Callable[[str, Any, Any], Any] | None = None,
        on_sync: Callable[[], Any] | None = None,
    ) -> None:
        self.channel = channel
        self.state: PresenceState = {}
        self.on_join, self.on_leave, self.on_sync = on_join, on_leave, on_sync
        self._pending: list[Any] = []
        self._join_ref: str | None = None
        channel.on("presence_state", self._on_state)
        channel.on("presence_diff", self._on_diff)

    def list(self) -> dict[str, list[dict[str, Any]]]:
        """Every key with its metas."""
        return {key: list(entry["metas"]) for key, entry in self.state.items()}

    def _on_state(self, new_state: PresenceState) -> None:
        self._join_ref = self.channel.join_ref
        self.state = sync_state(self.state, new_state, self.on_join, self.on_leave)
        for diff in self._pending:
            self.state = sync_diff(self.state, diff, self.on_join, self.on_leave)
        self._pending = []
        if self.on_sync:
            self.on_sync()

    def _on_diff(self, diff: dict[str, PresenceState]) -> None:
        if self._join_ref is None or self._join_ref != self.channel.join_ref:
            self._pending.append(diff)
            return
        self.state = sync_diff(self.state, diff, self.on_join, self.on_leave)
        if self.on_sync:
            self.on_sync()


def _refs(entry: Mapping[str, Any]) -> set[Any]:
    return {meta.get("phx_ref") for meta in entry.get("metas", ())}


def sync_state(
    state: PresenceState,
    new_state: PresenceState,
    on_join: Callable[[str, Any, Any], Any] | None = None,
    on_leave: Callable[[str, Any, Any], Any] | None = None,
) -> PresenceState:
    """``state`` brought to ``new_state`` (a ``presence_state``), as phoenix.js's
    ``syncState``: what changed goes through :func:`sync_diff`, so the callbacks fire."""
    joins: PresenceState = {}
    leaves: PresenceState = {key: entry for key, entry in state.items() if key not in new_state}
    for key, entry in new_state.items():
        if key not in state:
            joins[key] = entry
            continue
        new_refs, old_refs = _refs(entry), _refs(state[key])
        joined = [m for m in entry["metas"] if m.get("phx_ref") not in old_refs]
        left = [m for m in state[key]["metas"] if m.get("phx_ref") not in new_refs]
        if joined:
            joins[key] = {**entry, "metas": joined}
        if left:
            leaves[key] = {**state[key], "metas": left}
    return sync_diff(state, {"joins": joins, "leaves": leaves}, on_join, on_leave)


def sync_diff(
    state: PresenceState,
    diff: Mapping[str, PresenceState],
    on_join: Callable[[str, Any, Any], Any] | None = None,
    on_leave: Callable[[str, Any, Any], Any] | None = None,
) -> PresenceState:
    """``state`` with a ``presence_diff`` applied (a new dict), as phoenix.js's ``syncDiff``.

    >>> a = {"phx_ref": "1"}
    >>> b = {"phx_ref": "2"}
    >>> state = sync_diff({}, {"joins": {"ann": {"metas": [a]}}, "leaves": {}})
    >>> state = sync_diff(state, {"joins": {"ann": {"metas": [b]}}, "leaves": {}})
    >>> state["ann"]["metas"]
    [{'phx_ref': '1'}, {'phx_ref': '2'}]
    >>> sync_diff(state, {"joins": {}, "leaves": {"ann": {"metas": [a, b]}}})
    {}
    """
    state = {key: {**entry, "metas": list(entry["metas"])} for key, entry in state.items()}
    for key, entry in diff.get("joins", {}).items():
        current = state.get(key)
        joined_refs = _refs(entry)
        merged = {**entry, "metas": list(entry["metas"])}
        if current is not None:
            kept = [m for m in current["metas"] if m.get("phx_ref") not in joined_refs]
            merged["metas"] = kept + merged["metas"]
        state[key] = merged
        if on_join:
            on_join(key, current, entry)
    for key, entry in diff.get("leaves", {}).items():
        current = state.get(key)
        if current is None:
            continue
        left_refs = _refs(entry)
        current["metas"] = [m for m in current["metas"] if m.get("phx_ref") not in left_refs]
        if on_leave:
            on_leave(key, current, entry)
        if not current["metas"]:
            del state[key]
    return state
