"""The WebSocket transport: the ASGI task of one connection moves frames between the client
and the connection process, and nothing else.

- Handshake: ``vsn`` picks the serializer (unknown: HTTP 403), the origin is checked (403),
  then ``Socket.connect`` runs in the new connection process (refused: 403). The
  ``phoenix`` subprotocol is accepted when offered; ``base64url.bearer.phx.<token>`` gives
  ``ConnectInfo.auth_token`` (standard base64 without padding, despite the name).
- Incoming frames go to the process as ``InFrame`` messages; a frame over
  ``max_frame_size`` closes the connection with 1009. Outgoing frames are taken from the
  process's outbox and written in order; when the process ends, the outbox closes with the
  close code and the connection is closed with it. When the client goes away, the process
  stops with ``("shutdown", "closed")`` and its channels with it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any

import anyio

from .. import telemetry
from ..actors import Down, lowlevel, monitor, this_node
from ..actors import receive as receive_message
from ._connect import connect_info, parse_params
from ._errors import ProtocolError, Refused
from ._origin import origin_allowed
from ._outbox import OVERFLOW_CLOSE_CODE, Outbox
from ._serializer import serializer_for
from ._socket import BAD_INPUT, ClientGone, InFrame, SocketServer

if TYPE_CHECKING:
    from ._endpoint import Endpoint, Receive, Scope, Send

_log = logging.getLogger("beamish.channels")

TOKEN_PREFIX = "base64url.bearer.phx."


def _auth_token(subprotocols: list[str]) -> str | None:
    for proto in subprotocols:
        if proto.startswith(TOKEN_PREFIX):
            encoded = proto[len(TOKEN_PREFIX) :]
            try:
                raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
                return raw.decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
    return None


async def serve_websocket(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one WebSocket connection (see the module docstring)."""
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
    }
    try:
        params = parse_params(scope.get("query_string", b""))
        vsn = params.get("vsn")
        serializer = serializer_for(vsn if isinstance(vsn, str) else None)
    except ProtocolError as exc:
        telemetry.execute(BAD_INPUT, {"count": 1}, {"transport": "websocket", "why": str(exc)})
        await send({"type": "websocket.close", "code": 1008})
        return
    if not origin_allowed(endpoint.check_origin, headers.get("origin"), headers.get("host")):
        _log.info("refused a WebSocket from origin %r", headers.get("origin"))
        await send({"type": "websocket.close", "code": 1008})
        return
    subprotocols = list(scope.get("subprotocols") or ())
    info = connect_info(
        scope, "websocket", params, _auth_token(subprotocols), endpoint.session_cookie
    )
    outbox = Outbox(endpoint.outbox_limit, endpoint.outbox_bytes)
    try:
        pid = await endpoint.open_socket(info, serializer, outbox, None)
    except Refused:
        await send({"type": "websocket.close", "code": 1008})
        return
    accept: dict[str, Any] = {"type": "websocket.accept"}
    if "phoenix" in subprotocols:
        accept["subprotocol"] = "phoenix"
    node = this_node()
    try:
        await send(accept)
    except OSError:
        node.send(pid, ClientGone())
        return
    await _pump(endpoint, pid, outbox, receive, send)


async def _pump(endpoint: Endpoint, pid: Any, outbox: Outbox, receive: Receive, send: Send) -> None:
    node = this_node()
    server = lowlevel.actor_of(node, pid)
    frame_in = server.frame_in if isinstance(server, SocketServer) else None
    limit = endpoint.max_frame_size
    create_waiter = lowlevel.waiter_factory(node)
    gone = False
    too_big = False
    writer_done = anyio.Event()

    async def write(cancel: anyio.CancelScope) -> None:
        nonlocal gone
        try:
            while True:
                frames = await outbox.take(create_waiter)
                if frames is None or outbox.close_code == OVERFLOW_CLOSE_CODE:
                    break
                for frame in frames:
                    if type(frame) is str:
                        await send({"type": "websocket.send", "text": frame})
                    else:
                        await send({"type": "websocket.send", "bytes": frame})
            if not gone:
                with anyio.move_on_after(1.0, shield=True):
                    await send({"type": "websocket.close", "code": outbox.close_code or 1000})
        except OSError:  # the client is gone (uvicorn's ClientDisconnected is one)
            gone = True
            node.send(pid, ClientGone())
        writer_done.set()
        cancel.cancel()

    async def watch(cancel: anyio.CancelScope) -> None:
        with lowlevel.borrow_process(node):
            ref = monitor(pid)
            await receive_message(lambda m: type(m) is Down and m.ref == ref)
        outbox.close(1011)  # no-op when the process closed it on its way out
        if outbox.close_code != OVERFLOW_CLOSE_CODE:  # a reading client gets its close frame
            with anyio.move_on_after(1.0):
                await writer_done.wait()
        cancel.cancel()  # a writer blocked on a client that does not read is abandoned

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(write, group.cancel_scope)
            group.start_soon(watch, group.cancel_scope)
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    data = message.get("text")
                    if data is None:
                        data = message.get("bytes")
                        if data is None:
                            continue
                    if too_big:
                        continue
                    if len(data) > limit:
                        too_big = True
                        node.send(pid, ClientGone("frame_too_big"))  # counted there
                        continue  # the process closes the outbox; write closes the socket
                    if frame_in is not None:
                        frame_in(data)  # pushes go straight to their channel's process
                    else:
                        node.send(pid, InFrame(data))
                elif kind == "websocket.disconnect":
                    gone = True
                    node.send(pid, ClientGone())
                    group.cancel_scope.cancel()
                    return
    except OSError:
        gone = True
        node.send(pid, ClientGone())
