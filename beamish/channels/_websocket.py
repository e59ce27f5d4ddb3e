"""The WebSocket transport: the ASGI task of one connection moves frames between the client
and the connection process, and nothing else.

- Handshake: ``vsn`` picks the serializer (unknown: HTTP 403), the origin is checked (403),
  then ``Socket.connect`` runs in the new connection process (refused: 403). The
  ``phoenix`` subprotocol is accepted when offered; ``base64url.bearer.phx.<token>`` gives
  ``ConnectInfo.auth_token`` (standard base64 without padding, despite the name).
- Incoming frames go through ``SocketServer.frame_in``: a push to a joined channel straight
  to that channel's process, anything else to the connection process, in order; a frame over
  ``max_frame_size`` closes the connection with 1009. Outgoing frames are taken from the
  process's outbox and written in order by a writer process linked to the connection
  process; when the process ends, the outbox closes with the close code and the connection
  is closed with it. When the client goes away, the process
  stops with ``("shutdown", "closed")`` and its channels with it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any

import anyio

from .. import telemetry
from ..actors import Node, NoProc, Pid, lowlevel, this_node
from ._connect import connect_info, parse_params
from ._errors import ProtocolError, Refused
from ._origin import origin_allowed
from ._outbox import OVERFLOW_CLOSE_CODE, Outbox
from ._serializer import serializer_for
from ._socket import (
    BAD_INPUT,
    CLOSE_CRASH,
    CLOSE_GOING_AWAY,
    ClientGone,
    SocketServer,
)

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


async def serve_websocket(
    endpoint: Endpoint, node: Node, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve one WebSocket connection on ``node`` (see the module docstring)."""
    with node:  # the handshake calls the supervisor; the pump names its node (no ``with``
        opened = await _open(endpoint, scope, receive, send)  # held for the connection's life)
    if opened is not None:  # (the handshake's locals are gone: this frame lives as long)
        await _pump(endpoint, node, opened[0], opened[1], receive, send)


async def _open(
    endpoint: Endpoint, scope: Scope, receive: Receive, send: Send
) -> tuple[Pid, Outbox] | None:
    """The handshake: the connection process and its outbox, or None (refused, gone)."""
    first = await receive()
    if first["type"] != "websocket.connect":
        return None
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
        return None
    if not origin_allowed(endpoint.check_origin, headers.get("origin"), headers.get("host")):
        _log.info("refused a WebSocket from origin %r", headers.get("origin"))
        await send({"type": "websocket.close", "code": 1008})
        return None
    subprotocols = list(scope.get("subprotocols") or ())
    info = connect_info(
        scope, "websocket", params, _auth_token(subprotocols), endpoint.session_cookie
    )
    outbox = Outbox(endpoint.outbox_limit, endpoint.outbox_bytes)
    try:
        pid = await endpoint.open_socket(info, serializer, outbox, None)
    except Refused:
        await send({"type": "websocket.close", "code": 1008})
        return None
    accept: dict[str, Any] = {"type": "websocket.accept"}
    if "phoenix" in subprotocols:
        accept["subprotocol"] = "phoenix"
    try:
        await send(accept)
    except OSError:
        this_node().send(pid, ClientGone())
        return None
    return pid, outbox


async def _write(outbox: Outbox, send: Send, reading: anyio.CancelScope) -> None:
    """The writer of one connection: a process linked to the connection process, so that
    its end (whatever the reason, a kill included) ends the writer, even in a ``send`` to
    a client that does not read. It writes the outbox's frames in order, then (the
    outbox closed: the connection process ended, or was killed) what is left and the
    close frame within a second, unless the client overflowed the outbox or is gone;
    then it ends the reading side, and so the ASGI task."""
    node = this_node()
    create_waiter = lowlevel.waiter_factory(node)
    gone = False
    try:
        while True:
            frames = await outbox.take(create_waiter)
            if frames is None or outbox.close_code == OVERFLOW_CLOSE_CODE:
                break
            await _send_frames(send, frames)
    except OSError:  # the client is gone (uvicorn's ClientDisconnected is one)
        gone = True
    finally:
        # no-op when the connection process closed it on its way out; else it was killed,
        # or the node is stopping and stopped the writer first
        outbox.close(CLOSE_GOING_AWAY if node.closing else CLOSE_CRASH)
        if not gone and outbox.close_code != OVERFLOW_CLOSE_CODE:
            with anyio.move_on_after(1.0, shield=True):
                try:
                    await _send_frames(send, outbox.take_nowait())
                    await send({"type": "websocket.close", "code": outbox.close_code})
                except OSError:
                    pass
        reading.cancel()


async def _send_frames(send: Send, frames: list[str | bytes]) -> None:
    for frame in frames:
        if type(frame) is str:
            await send({"type": "websocket.send", "text": frame})
        else:
            await send({"type": "websocket.send", "bytes": frame})


async def _pump(
    endpoint: Endpoint, node: Node, pid: Pid, outbox: Outbox, receive: Receive, send: Send
) -> None:
    """Read the client's frames into the connection process until the client goes or the
    writer ends; the writer is a process of its own (see :func:`_write`)."""
    limit = endpoint.max_frame_size
    too_big = False
    reading = anyio.CancelScope()
    server = None
    try:
        node.spawn(_write, (outbox, send, reading), link=pid)
        server = lowlevel.actor_of(node, pid)
    except NoProc:
        pass
    if not isinstance(server, SocketServer):  # the connection process is gone already
        with anyio.move_on_after(1.0):
            await send({"type": "websocket.close", "code": outbox.close_code or 1011})
        return
    frame_in = server.frame_in
    with reading:
        try:
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
                        continue  # the process closes the outbox; the writer the socket
                    frame_in(data)  # pushes go straight to their channel's process
                elif kind == "websocket.disconnect":
                    break
        except OSError:  # the client is gone
            pass
        finally:  # the client went (or the ASGI task is cancelled): the process stops,
            node.send(pid, ClientGone())  # and, linked to it, the writer
