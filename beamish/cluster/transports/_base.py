"""The transport seam; the contract is on :class:`Transport`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from anyio.abc import ByteStream

Handler = Callable[[ByteStream], Awaitable[None]]
"""What ``Listener.serve`` runs for each accepted connection."""


class Listener(Protocol):
    """A bound listening endpoint."""

    @property
    def address(self) -> str:
        """Where peers connect, e.g. ``"127.0.0.1:4369"`` or ``"mem://node-a"``."""
        ...

    async def serve(self, handler: Handler) -> None:
        """Accept forever, each connection in its own task; return after ``aclose()``."""
        ...

    async def aclose(self) -> None:
        """Stop accepting (idempotent); connections already accepted are left to handlers."""
        ...


class Transport(Protocol):
    """Listens on and dials addresses, producing byte streams.

    A :class:`Transport` turns an address into byte streams; it knows nothing of frames,
    handshakes or heartbeats (those sit above it, in the connection code). Every implementation
    passes :func:`beamish.testing.check_transport`.

    Semantics
    ---------
    - ``listen(address)`` binds at once and returns a :class:`Listener` whose ``address`` is where
      peers connect (for TCP with port 0, the port the system picked).
    - ``Listener.serve(handler)`` accepts until ``aclose()`` is called, running each connection's
      ``handler(stream)`` in its own task; the handler owns the stream and closes it. ``serve``
      returns once the listener is closed and the handlers still running have finished (they are
      its child tasks); a handler that raises ends ``serve`` with that error.
    - ``connect(address, timeout)`` returns a connected stream or raises :class:`ConnectionError`
      (refused, unreachable, timed out, failed TLS handshake).
    - A stream's ``receive`` raises ``anyio.EndOfStream`` when the peer closed cleanly and
      ``anyio.BrokenResourceError`` when the connection broke; ``send_eof`` is not part of the
      contract (TLS streams do not support it).
    """

    async def listen(self, address: str) -> Listener:
        """Bind ``address`` (``"host:port"``; port 0 picks a free port)."""
        ...

    async def connect(self, address: str, timeout: float = 5.0) -> ByteStream:
        """Dial ``address``; raise :class:`ConnectionError` on refusal or timeout."""
        ...


def split_host_port(address: str) -> tuple[str, int]:
    """``"host:port"`` (or ``"[v6]:port"``) to ``(host, port)``; raise ``ValueError`` if malformed.

    >>> split_host_port("127.0.0.1:4369"), split_host_port("[::1]:0")
    (('127.0.0.1', 4369), ('::1', 0))
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected 'host:port', got {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def join_host_port(host: str, port: int) -> str:
    """The inverse of :func:`split_host_port`.

    >>> join_host_port("::1", 80), join_host_port("localhost", 80)
    ('[::1]:80', 'localhost:80')
    """
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
