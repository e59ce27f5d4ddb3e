"""The ``Endpoint``: one ASGI application serving a :class:`Socket` over WebSocket
(``<path>/websocket``) and LongPoll (``<path>/longpoll``).

>>> from beamish import channels
>>> class UserSocket(channels.Socket): ...
>>> endpoint = channels.Endpoint(UserSocket, path="/socket")
>>> endpoint.transport_of("/socket/websocket"), endpoint.transport_of("/other")
('websocket', None)

The contract is on :class:`Endpoint`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from ..actors import Node, Pid, StartError, this_node
from ..supervision import DynamicSupervisor, start_child
from . import _fastlane, _registry
from ._errors import Refused
from ._longpoll import serve_longpoll
from ._origin import compile_origins
from ._outbox import Outbox
from ._serializer import Serializer
from ._socket import ConnectInfo, Socket, SocketOptions, SocketServer
from ._websocket import serve_websocket

_log = logging.getLogger("beamish.channels")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Endpoint:
    """An ASGI application that serves one :class:`Socket` class, Phoenix-style.

    Args:
        socket: the :class:`Socket` subclass (connect, id, routes).
        path: the mount path; the transports answer at ``path + "/websocket"`` and
            ``path + "/longpoll"``. Under a framework's ``Mount("/socket", endpoint)`` give
            ``path=""`` (the framework's ``root_path`` is stripped first).
        websocket, longpoll: which transports to serve.
        check_origin: ``True`` (the Origin must match the Host), ``False``, a list of
            allowed origins (``"https://a.com"``, ``"//*.a.com"``), or a callable
            ``check(origin) -> bool`` (see ``beamish.channels._origin``). Refused: HTTP 403.
        max_frame_size: the largest incoming WebSocket frame, and LongPoll request body,
            in bytes. A WebSocket frame over it closes the connection with 1009.
        outbox_limit: frames queued for one client at most; over it the client (which does
            not read) is disconnected (close code 1013), counted in telemetry.
        outbox_bytes: bytes queued for one client at most (None: no byte limit); over it,
            the same. A client that pushes big frames and reads none of the replies holds
            no more than this of the node's memory.
        heartbeat_timeout: seconds a WebSocket client may stay silent before it is closed
            (phoenix.js sends a heartbeat every 30 s).
        longpoll_window: seconds a LongPoll GET waits for messages; a session with no poll
            for 1.5 windows ends.
        longpoll_sessions: live LongPoll sessions at most; a session-creating GET over it
            gets HTTP 503 (``retry-after``) with ``{"status": 500}`` (phoenix.js retries with
            its backoff), counted in telemetry (``channels.LONGPOLL_LIMIT``).
        inbox_bytes: bytes of one client's frames received and not yet handled by its
            connection and channel processes at most; a client that pushes faster than its
            channels handle is disconnected over it (close 1008, ``channels.BAD_INPUT``);
            never less than ``max_frame_size``.
        session_cookie: the cookie copied into ``ConnectInfo.session`` (None: none).
        start_node: for ASGI ``lifespan`` (``uvicorn.run(endpoint)``, or
            ``Starlette(lifespan=endpoint.lifespan)``): a function returning an async
            context manager that runs a node, e.g. ``beamish.runtime.start``. Without it,
            start the endpoint yourself inside a node with ``await endpoint.start()``.
        fallback: an ASGI app for every request that is not the endpoint's (Django, ...).

    Semantics:
        Each connection is a ``SocketServer`` process under the endpoint's
        ``DynamicSupervisor`` (temporary children); each joined channel a process linked to
        it. The ASGI task of a connection only moves bytes: frames in to the process, the
        process's outbox out to the client. See ``docs/channels.md``.
    """

    def __init__(
        self,
        socket: type[Socket],
        *,
        path: str = "/socket",
        websocket: bool = True,
        longpoll: bool = True,
        check_origin: bool | Iterable[str] | Callable[[str], bool] = True,
        max_frame_size: int = 1_000_000,
        outbox_limit: int = 1000,
        outbox_bytes: int | None = 16_000_000,
        heartbeat_timeout: float = 60.0,
        longpoll_window: float = 10.0,
        longpoll_sessions: int = 10_000,
        inbox_bytes: int = 16_000_000,
        session_cookie: str | None = None,
        start_node: Callable[[], contextlib.AbstractAsyncContextManager[Node]] | None = None,
        fallback: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
    ) -> None:
        if not (isinstance(socket, type) and issubclass(socket, Socket)):
            raise TypeError(f"Endpoint needs a channels.Socket subclass, not {socket!r}")
        self.socket = socket
        self.path = path.rstrip("/")
        self.websocket = websocket
        self.longpoll = longpoll
        self.check_origin = compile_origins(check_origin)
        self.max_frame_size = max_frame_size
        self.outbox_limit = outbox_limit
        self.outbox_bytes = outbox_bytes
        self.heartbeat_timeout = heartbeat_timeout
        self.longpoll_window = longpoll_window
        self.longpoll_sessions = longpoll_sessions
        self.inbox_bytes = max(inbox_bytes, max_frame_size)  # one allowed frame always fits
        self.session_cookie = session_cookie
        self.start_node = start_node
        self.fallback = fallback
        self.node: Node | None = None
        self.supervisor: Pid | None = None

    def __repr__(self) -> str:
        return f"<Endpoint {self.socket.__name__} at {self.path or '/'}>"

    # -- running --

    async def start(self) -> Pid:
        """Start the endpoint on the current node: its connection supervisor (linked to the
        caller when it is a process) and the node's broadcast dispatcher. Returns the
        supervisor's pid."""
        self.node = this_node()
        await _fastlane.ensure_dispatcher()
        await _registry.ensure_registry()
        self.supervisor = await DynamicSupervisor.start_link()
        return self.supervisor

    def child_spec(self) -> dict[str, Any]:
        """The endpoint as a child of your supervision tree (a supervisor child)."""

        async def start_endpoint() -> Pid:
            return await self.start()

        return {"id": repr(self), "start": (start_endpoint, ()), "type": "supervisor"}

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Run a node (``start_node``) and the endpoint in it for the block: a Starlette /
        FastAPI ``lifespan``."""
        if self.start_node is None:
            raise RuntimeError("Endpoint(start_node=...) is needed to run its own node")
        async with self.start_node() as node:
            with node:
                await self.start()
            yield

    def broadcast(self, topic: str, event: str, payload: Any) -> None:
        """``channels.broadcast`` on this endpoint's node."""
        if self.node is None:
            raise RuntimeError(f"{self!r} is not started")
        with self.node:
            _fastlane.broadcast(topic, event, payload)

    # -- ASGI --

    def transport_of(self, path: str) -> str | None:
        """``"websocket"``, ``"longpoll"`` or None for a request path."""
        head, _, tail = path.rstrip("/").rpartition("/")
        if head != self.path:
            return None
        if tail == "websocket" and self.websocket:
            return "websocket"
        if tail == "longpoll" and self.longpoll:
            return "longpoll"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        transport = self.transport_of(path)
        if transport is None:
            if self.fallback is not None:
                await self.fallback(scope, receive, send)
            elif kind == "http":
                await _plain(send, 404)
            elif kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        if self.node is None or self.supervisor is None:
            _log.error("%r got a request before it was started", self)
            if kind == "http":
                await _plain(send, 503)
            else:
                await send({"type": "websocket.close", "code": 1011})
            return
        if kind == "websocket" and transport == "websocket":
            await serve_websocket(self, self.node, scope, receive, send)
            return
        with self.node:
            if kind == "http" and transport == "longpoll":
                await serve_longpoll(self, scope, receive, send)
            elif kind == "http":
                await _plain(send, 400)
            else:
                await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message: dict[str, Any] | None = await receive()
        if self.start_node is None:
            if self.fallback is not None:  # the wrapped app owns the lifespan

                async def replay() -> dict[str, Any]:
                    nonlocal message
                    if message is not None:
                        first, message = message, None
                        return first
                    return await receive()

                await self.fallback(scope, replay, send)
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        try:
            async with self.lifespan():
                await send({"type": "lifespan.startup.complete"})
                await receive()
        except Exception as exc:
            _log.exception("%r: lifespan failed", self)
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    # -- used by the transports --

    async def open_socket(
        self, info: ConnectInfo, serializer: Serializer, outbox: Outbox, session: str | None
    ) -> Pid:
        """Start a connection process; ``Refused`` if ``connect`` refused it."""
        idle = self.heartbeat_timeout if session is None else 1.5 * self.longpoll_window
        options = SocketOptions(self.socket, self, idle)
        assert self.supervisor is not None
        spec = {
            "id": "socket",
            "start": (SocketServer.start_link, (options, info, serializer, outbox, session)),
            "restart": "temporary",
        }
        try:
            pid = await start_child(self.supervisor, spec)
        except StartError as exc:
            _log.error(
                "%s.connect failed: %r", self.socket.__name__, exc.args[0] if exc.args else exc
            )
            raise Refused("connect crashed") from exc
        if pid is None:
            raise Refused("connect refused")
        return pid


async def _plain(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})
