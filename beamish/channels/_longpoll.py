"""The LongPoll transport (PHOENIX-PROTOCOL.md §8): a session is a connection process that
buffers frames until a GET takes them; POSTs carry the client's frames.

- Every answer is HTTP 200 with a JSON body whose ``status`` is the outcome: a GET without a
  token creates a session (``410`` + ``token``); a GET with a live session's token answers
  ``200`` with the buffered frames (as JSON strings) as soon as there are any, else ``204``
  after ``longpoll_window``; an unknown or ended session answers ``410`` (with a new session's
  token, as Phoenix); a refused connect ``403``. A POST of ndjson lines (``[``: a text
  frame; otherwise base64 of a binary frame; at most 100 lines, as phoenix.js batches) answers
  ``200`` once the session took them, ``410`` for no session, ``400`` for a malformed body
  (the session is closed), ``413`` for a
  body over ``max_frame_size``.
- A session is registered in the channels' session registry (cluster scope when the node
  is distributed): a poll or POST that lands on another node of the cluster finds it there.
  The token is ``<id>.<node in base64url>``; the node is the fallback for a poll that
  arrives before the registration was replicated. The id is 144 random bits; a token whose
  session is unknown and whose node is not connected is ``410``.
- A GET whose client goes away (ASGI ``http.disconnect``) ends at once; the session keeps
  its frames for the next poll.
- At most ``Endpoint.longpoll_sessions`` live sessions: a session-creating GET over it gets
  HTTP 503 with ``retry-after`` and ``{"status": 500}`` (phoenix.js then retries with its
  reconnect backoff), counted in telemetry (``LONGPOLL_LIMIT``); live sessions go on.
- No heartbeats: a session with no poll for 1.5 windows ends (its channels and presences
  with it). Binary frames are WebSocket-only towards the client: they are not sent here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import secrets
import time
import weakref
from typing import TYPE_CHECKING, Any

import anyio

from .. import telemetry
from ..actors import CallTimeout, Exited, Pid, call, is_alive, send, stop, this_node
from ..cluster import Cluster
from . import _json
from ._connect import connect_info, parse_params
from ._errors import ProtocolError, Refused
from ._origin import origin_allowed
from ._outbox import Outbox
from ._registry import session_key, session_pid
from ._serializer import Serializer, serializer_for
from ._socket import BAD_INPUT, POLL_GONE

if TYPE_CHECKING:
    from ._endpoint import Endpoint, Receive, Scope, Send

_log = logging.getLogger("beamish.channels")

MAX_LINES = 100
LONGPOLL_LIMIT = ("beamish", "channels", "longpoll_limit")
JSON_HEADERS = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"access-control-allow-origin", b"*"),
]


class _SessionOutbox(Outbox):
    """A session's outbox: ``on_close`` runs once when it closes (the session ended)."""

    __slots__ = ("on_close",)

    def __init__(self, limit: int, byte_limit: int | None) -> None:
        super().__init__(limit, byte_limit)
        self.on_close: Any = None

    def close(self, code: int = 1000, reason: str = "") -> None:
        first = not self.closed
        super().close(code, reason)
        if first and self.on_close is not None:
            self.on_close()


class Live:
    """An endpoint's live LongPoll sessions (at most ``Endpoint.longpoll_sessions``) and the
    GETs waiting in a poll now."""

    def __init__(self) -> None:
        self.sessions: set[Pid] = set()
        self.opening = 0
        self.polls = 0
        self.refused = 0  # session-creating GETs refused since the last warning
        self._pruned = 0.0
        self._warned = 0.0

    def full(self, bound: int) -> bool:
        """Whether a new session would go over ``bound``. A session's slot is freed when its
        outbox closes; one killed without closing it is found here, at most once a second."""
        if len(self.sessions) + self.opening < bound:
            return False
        now = time.monotonic()
        if now - self._pruned >= 1.0:
            self._pruned = now
            self.sessions = {pid for pid in self.sessions if is_alive(pid)}
        return len(self.sessions) + self.opening >= bound

    def refuse(self, bound: int) -> None:
        """Count a refused session in telemetry; log at most one warning a second."""
        telemetry.execute(LONGPOLL_LIMIT, {"count": 1}, {"limit": bound})
        self.refused += 1
        now = time.monotonic()
        if now - self._warned >= 1.0:
            self._warned = now
            _log.warning(
                "refused %d LongPoll session(s): %d live (Endpoint longpoll_sessions=%d)",
                self.refused,
                len(self.sessions),
                bound,
            )
            self.refused = 0


_live: weakref.WeakKeyDictionary[Endpoint, Live] = weakref.WeakKeyDictionary()


def live(endpoint: Endpoint) -> Live:
    """The LongPoll sessions and polls of ``endpoint``."""
    state = _live.get(endpoint)
    if state is None:
        state = _live[endpoint] = Live()
    return state


def make_token(node_name: str) -> tuple[str, str]:
    """A new session id and its token."""
    session_id = secrets.token_urlsafe(18)
    node_part = base64.urlsafe_b64encode(node_name.encode()).decode().rstrip("=")
    return session_id, f"{session_id}.{node_part}"


def session_dest(token: str) -> Pid | tuple[str, str] | str | None:
    """Where the session of ``token`` is: its pid from the session registry (any node);
    else, while the registry's replication has not brought it here yet, by the token's node
    hint: a local name or ``(name, node)`` on a connected node; else None (malformed, or
    unknown and no usable hint)."""
    session_id, dot, node_part = token.partition(".")
    if not dot or len(session_id) != 24 or len(node_part) > 400:
        return None
    if not all(c.isalnum() or c in "-_" for c in session_id):
        return None
    pid = session_pid(session_id)
    if pid is not None:
        return pid
    try:
        node_name = base64.urlsafe_b64decode(node_part + "=" * (-len(node_part) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    node = this_node()
    if node_name == node.name:
        return session_key(session_id)
    remote = node.remote
    if isinstance(remote, Cluster) and node_name in remote.connections:
        return (session_key(session_id), node_name)
    return None


async def _respond(
    send: Send, body: dict[str, Any], http_status: int = 200, retry_after: bool = False
) -> None:
    payload = _json.dumps(body).encode()
    headers = [*JSON_HEADERS, (b"content-length", b"%d" % len(payload))]
    if retry_after:
        headers.append((b"retry-after", b"5"))
    await send({"type": "http.response.start", "status": http_status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProtocolError(f"LongPoll body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _lines(body: bytes, ndjson: bool) -> list[str | bytes]:
    """The frames of a POST body; :class:`ProtocolError` for a malformed one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("LongPoll body is not UTF-8") from None
    if not ndjson:
        return [text]
    frames: list[str | bytes] = []
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if len(lines) > MAX_LINES:  # phoenix.js sends at most 100 per POST
        raise ProtocolError(f"LongPoll body of {len(lines)} lines (at most {MAX_LINES})")
    for line in lines:
        if line.startswith("["):
            frames.append(line)
        else:
            try:
                frames.append(base64.b64decode(line, validate=True))
            except (binascii.Error, ValueError):
                raise ProtocolError("LongPoll binary line is not base64") from None
    return frames


async def serve_longpoll(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one LongPoll request (see the module docstring)."""
    method = scope.get("method", "GET")
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
    }
    if method == "OPTIONS":
        allow = headers.get("access-control-request-headers", "").encode("latin-1")
        cors = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-headers", allow),
            (b"access-control-allow-methods", b"get, post, options"),
            (b"access-control-max-age", b"3600"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": cors})
        await send({"type": "http.response.body", "body": b""})
        return
    if method not in ("GET", "POST"):
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    try:
        params = parse_params(scope.get("query_string", b""))
        vsn = params.get("vsn")
        serializer = serializer_for(vsn if isinstance(vsn, str) else None)
    except ProtocolError as exc:
        telemetry.execute(BAD_INPUT, {"count": 1}, {"transport": "longpoll", "why": str(exc)})
        await _respond(send, {"status": 403})
        return
    if not origin_allowed(endpoint.check_origin, headers.get("origin"), headers.get("host")):
        await _respond(send, {"status": 403})
        return
    token = headers.get("x-phoenix-longpoll-token") or params.get("token")
    dest = session_dest(token) if isinstance(token, str) and token else None
    if method == "GET":
        if not token:
            await _new_session(endpoint, scope, params, headers, serializer, send)
            return
        answer = None
        if dest is not None:
            answer, gone = await _poll_while_connected(endpoint, dest, receive)
            if gone:
                return
        if answer is None:  # session gone: a fresh one, and the client reconnects
            await _new_session(endpoint, scope, params, headers, serializer, send, status=410)
            return
        status, frames = answer
        messages = [f for f in frames if type(f) is str]
        await _respond(send, {"status": status, "token": token, "messages": messages})
        return
    try:
        body = await _read_body(receive, endpoint.max_frame_size)
    except ProtocolError as exc:
        telemetry.execute(BAD_INPUT, {"count": 1}, {"transport": "longpoll", "why": str(exc)})
        if dest is not None:
            await _stop_session(dest)
        await _respond(send, {"status": 413})
        return
    if body is None:
        return
    if dest is None:
        await _respond(send, {"status": 410})
        return
    ndjson = headers.get("content-type", "").split(";")[0].strip() == "application/x-ndjson"
    try:
        frames = _lines(body, ndjson)
    except ProtocolError as exc:
        telemetry.execute(BAD_INPUT, {"count": 1}, {"transport": "longpoll", "why": str(exc)})
        await _stop_session(dest)
        await _respond(send, {"status": 400})
        return
    try:
        status = await call(dest, ("post", frames), timeout=endpoint.longpoll_window)
    except CallTimeout:
        status = 408
    except Exited:
        status = 410
    await _respond(send, {"status": status})


async def _poll_while_connected(
    endpoint: Endpoint, dest: Any, receive: Receive
) -> tuple[tuple[int, list[Any]] | None, bool]:
    """The poll's answer, unless the client went away first (ASGI ``http.disconnect``):
    then the poll ends at once, and ``(None, True)``."""
    state = live(endpoint)
    answer = None
    gone = False
    poll_id = secrets.token_hex(8)
    state.polls += 1
    try:
        async with anyio.create_task_group() as request:

            async def watch() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                request.cancel_scope.cancel()

            request.start_soon(watch)
            answer = await _poll(endpoint, dest, poll_id)
            request.cancel_scope.cancel()
    finally:
        state.polls -= 1
    if gone:  # the session keeps its frames for the next poll
        with contextlib.suppress(LookupError):
            send(dest, (POLL_GONE, poll_id))
    return answer, gone


async def _poll(endpoint: Endpoint, dest: Any, poll_id: str) -> tuple[int, list[Any]] | None:
    try:
        status, frames = await call(
            dest,
            ("poll", endpoint.longpoll_window, poll_id),
            timeout=endpoint.longpoll_window + 5.0,
        )
    except (Exited, CallTimeout):
        return None
    if status == 410:
        return None
    return status, frames


async def _stop_session(dest: Any) -> None:
    try:
        await stop(dest, ("shutdown", "protocol_error"), timeout=5.0)
    except (Exited, CallTimeout):
        pass


async def _new_session(
    endpoint: Endpoint,
    scope: Scope,
    params: dict[str, Any],
    headers: dict[str, str],
    serializer: Serializer,
    send: Send,
    status: int = 410,
) -> None:
    info = connect_info(
        scope, "longpoll", params, headers.get("x-phoenix-authtoken"), endpoint.session_cookie
    )
    state = live(endpoint)
    if state.full(endpoint.longpoll_sessions):
        state.refuse(endpoint.longpoll_sessions)
        await _respond(send, {"status": 500}, http_status=503, retry_after=True)
        return
    session_id, token = make_token(this_node().name)
    outbox = _SessionOutbox(endpoint.outbox_limit, endpoint.outbox_bytes)
    state.opening += 1
    try:
        pid = await endpoint.open_socket(info, serializer, outbox, session_id)
    except Refused:
        await _respond(send, {"status": 403})
        return
    finally:
        state.opening -= 1
    if not outbox.closed:
        state.sessions.add(pid)
        outbox.on_close = lambda: state.sessions.discard(pid)
    await _respond(send, {"status": status, "token": token, "messages": []})
