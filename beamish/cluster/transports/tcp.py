"""TCP, optionally TLS: the transport nodes use between hosts.

>>> transport = TcpTransport()
>>> transport.ssl_context is None
True

Semantics
---------
- Addresses are ``"host:port"`` (``"[::1]:port"`` for IPv6); ``listen("127.0.0.1:0")`` picks
  a free port, and ``Listener.address`` reports it.
- ``TCP_NODELAY`` is on for every stream, in both directions: the connection code batches
  frames itself, so Nagle's algorithm would only add latency.
- TLS: give ``ssl_context`` (client side, used by ``connect``) and ``server_ssl_context``
  (used by ``listen``); one transport usually has both. Streams are anyio ``TLSStream`` s in
  non-standard-compatible mode (no ``close_notify`` exchange on close): frames are
  length-prefixed, so a truncated stream is detected above, and a close never waits on a
  peer. The server handshake runs in the connection's own task, bounded by
  ``handshake_timeout``; a peer that fails it is dropped without reaching the handler.
- ``connect`` raises :class:`ConnectionError` on refusal, timeout or a failed handshake,
  chained to the underlying error.
- ``local_host``: outgoing connections bind to this local address (the port is the
  system's choice), as Erlang's ``inet_dist_connect_options [{ip, IP}]`` does: on a host
  with several addresses, peers (and firewalls) see the node come from the one it listens on.
"""

from __future__ import annotations

import logging
import socket
import ssl

import anyio
from anyio.abc import ByteStream, SocketAttribute, SocketListener, SocketStream, TaskGroup
from anyio.streams.tls import TLSStream

from ._base import Handler, join_host_port, split_host_port

__all__ = ["TcpListener", "TcpTransport"]

logger = logging.getLogger(__name__)


def _nodelay(stream: SocketStream) -> None:
    sock = stream.extra(SocketAttribute.raw_socket)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TcpListener:
    """A bound TCP (or TLS) listener; see :class:`beamish.cluster.transports.Listener`."""

    def __init__(
        self,
        listeners: list[SocketListener],
        address: str,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout: float,
    ) -> None:
        self._listeners = listeners
        self._address = address
        self._ssl_context = ssl_context
        self._handshake_timeout = handshake_timeout
        self._closed = False

    @property
    def address(self) -> str:
        return self._address

    async def serve(self, handler: Handler) -> None:
        """Accept until :meth:`aclose`, each connection's ``handler`` in its own task."""
        await anyio.lowlevel.checkpoint()
        async with anyio.create_task_group() as tg:
            for listener in self._listeners:
                tg.start_soon(self._accept_loop, listener, handler, tg)

    async def _accept_loop(self, listener: SocketListener, handler: Handler, tg: TaskGroup) -> None:
        while not self._closed:
            try:
                stream = await listener.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError:
                if self._closed:
                    return
                raise
            tg.start_soon(self._handle, stream, handler)

    async def _handle(self, stream: SocketStream, handler: Handler) -> None:
        _nodelay(stream)
        if self._ssl_context is None:
            await handler(stream)
            return
        try:
            with anyio.fail_after(self._handshake_timeout):
                tls = await TLSStream.wrap(
                    stream,
                    server_side=True,
                    ssl_context=self._ssl_context,
                    standard_compatible=False,
                )
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            # TimeoutError and ssl.SSLError are OSErrors too
            logger.debug("TLS handshake with a peer on %s failed: %r", self._address, exc)
            await anyio.aclose_forcefully(stream)
            return
        await handler(tls)

    async def aclose(self) -> None:
        """Stop accepting; idempotent. Accepted connections stay with their handlers."""
        self._closed = True
        for listener in self._listeners:
            await listener.aclose()


class TcpTransport:
    """Streams over TCP, with TLS when given SSL contexts."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        server_ssl_context: ssl.SSLContext | None = None,
        *,
        handshake_timeout: float = 10.0,
        local_host: str | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.server_ssl_context = server_ssl_context
        self.handshake_timeout = handshake_timeout
        self.local_host = local_host

    def __repr__(self) -> str:
        tls = self.ssl_context is not None or self.server_ssl_context is not None
        local = "" if self.local_host is None else f", local_host={self.local_host!r}"
        return f"TcpTransport(tls={tls}{local})"

    async def listen(self, address: str) -> TcpListener:
        """Bind ``"host:port"`` (port 0: a free port); raise ``OSError`` if it cannot."""
        host, port = split_host_port(address)
        multi = await anyio.create_tcp_listener(local_host=host or None, local_port=port)
        listeners = [lst for lst in multi.listeners if isinstance(lst, SocketListener)]
        assert len(listeners) == len(multi.listeners), "anyio returned a non-socket listener"
        bound_port = listeners[0].extra(SocketAttribute.local_port)
        return TcpListener(
            listeners,
            join_host_port(host or "0.0.0.0", bound_port),
            self.server_ssl_context,
            self.handshake_timeout,
        )

    async def connect(self, address: str, timeout: float = 5.0) -> ByteStream:
        """Dial ``"host:port"``; raise :class:`ConnectionError` on refusal or timeout."""
        host, port = split_host_port(address)
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, port, local_host=self.local_host)
                _nodelay(stream)
                if self.ssl_context is None:
                    return stream
                try:
                    return await TLSStream.wrap(
                        stream,
                        server_side=False,
                        hostname=host,
                        ssl_context=self.ssl_context,
                        standard_compatible=False,
                    )
                except BaseException:
                    await anyio.aclose_forcefully(stream)
                    raise
        except TimeoutError as exc:
            raise ConnectionError(f"connecting to {address} timed out after {timeout}s") from exc
        except ConnectionError:
            raise
        except (OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            raise ConnectionError(f"cannot connect to {address}: {exc!r}") from exc
