"""A minimal HTTP/1.1 client over an anyio stream, for the channels client's LongPoll.

>>> import anyio
>>> async def serve(stream):
...     async with stream:
...         await stream.receive()
...         await stream.send(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\nhi")
>>> async def main():
...     async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
...         async with anyio.create_task_group() as tg:
...             tg.start_soon(listener.serve, serve)
...             port = listener.extra(anyio.abc.SocketAttribute.local_port)
...             connection = HTTPConnection("127.0.0.1", port)
...             answer = await connection.request("GET", "/x")
...             await connection.aclose()
...             tg.cancel_scope.cancel()
...     return answer
>>> anyio.run(main)
(200, b'hi')

One request at a time on one connection, kept alive while the server keeps it (and it has
not been idle for ``idle_reuse`` seconds, so that a server closing idle connections does not
race a new request). It sends ``Content-Length`` bodies; it reads ``Content-Length``,
``chunked`` and read-to-close bodies. Everything read is bounded: a status line or header
line of 8 KiB, 100 headers, a body of ``max_body`` bytes; over any bound, or on a malformed
answer, :class:`HTTPError`, and the connection is dropped. A request that fails or is
cancelled midway drops the connection too (its state is unknown).
"""

from __future__ import annotations

import ssl
import time

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

MAX_LINE = 8192
MAX_HEADERS = 100

NETWORK_ERRORS = (
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.DelimiterNotFound,
    ssl.SSLError,
)


class HTTPError(Exception):
    """The request failed: no connection, a broken one, or an answer that is not HTTP/1.1
    within the bounds."""


async def connect_stream(
    host: str, port: int, ssl_context: ssl.SSLContext | None
) -> anyio.abc.ByteStream:
    """A TCP stream to ``host:port``, over TLS (checked against ``host``) given a context."""
    if ssl_context is None:
        return await anyio.connect_tcp(host, port)
    return await anyio.connect_tcp(
        host, port, ssl_context=ssl_context, tls_hostname=host, tls_standard_compatible=False
    )


class HTTPConnection:
    """One keep-alive HTTP/1.1 connection to ``host:port`` (TLS with ``ssl_context``)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_body: int = 2**24,
        idle_reuse: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.max_body = max_body
        self.idle_reuse = idle_reuse
        self._stream: anyio.abc.ByteStream | None = None
        self._reader: BufferedByteReceiveStream | None = None
        self._idle_since = 0.0

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; the answer's status and body. :class:`HTTPError` on failure."""
        try:
            return await self._request(method, target, headers or [], body)
        except HTTPError:
            await self.aclose()
            raise
        except NETWORK_ERRORS as exc:
            await self.aclose()
            raise HTTPError(f"{method} {target}: {exc!r}") from exc
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection (the next request opens a new one)."""
        stream, self._stream, self._reader = self._stream, None, None
        if stream is not None:
            with anyio.move_on_after(1, shield=True):
                await stream.aclose()

    async def _connect(self) -> tuple[anyio.abc.ByteStream, BufferedByteReceiveStream]:
        if self._stream is not None and time.monotonic() - self._idle_since > self.idle_reuse:
            await self.aclose()
        if self._stream is None or self._reader is None:
            self._stream = await connect_stream(self.host, self.port, self.ssl_context)
            self._reader = BufferedByteReceiveStream(self._stream)
        return self._stream, self._reader

    async def _request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, bytes]:
        stream, reader = await self._connect()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        await stream.send(head + (body or b""))
        status_line = await _line(reader)
        version, _, rest = status_line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HTTPError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = await _line(reader)
            if not line:
                break
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise HTTPError(f"malformed header line {line[:80]!r}")
            fields[name.strip().lower()] = value.strip()
        else:
            raise HTTPError(f"more than {MAX_HEADERS} header lines")
        status = int(code)
        keep = fields.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            data = await self._chunked(reader)
        elif "content-length" in fields:
            length = fields["content-length"]
            if not length.isdigit() or int(length) > self.max_body:
                raise HTTPError(f"content-length {length[:20]!r} (at most {self.max_body})")
            data = await reader.receive_exactly(int(length))
        else:
            data, keep = await self._to_close(reader), False
        if keep:
            self._idle_since = time.monotonic()
        else:
            await self.aclose()
        return status, data

    async def _chunked(self, reader: BufferedByteReceiveStream) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await _line(reader)
            digits = line.split(b";", 1)[0].strip()
            try:
                length = int(digits, 16)
            except ValueError:
                raise HTTPError(f"malformed chunk size {line[:80]!r}") from None
            if length < 0 or size + length > self.max_body:
                raise HTTPError(f"a chunked body over {self.max_body} bytes")
            if length == 0:
                for _ in range(MAX_HEADERS + 1):  # trailers, then the empty line
                    if not await _line(reader):
                        return b"".join(chunks)
                raise HTTPError(f"more than {MAX_HEADERS} trailer lines")
            chunks.append(await reader.receive_exactly(length))
            size += length
            if await reader.receive_exactly(2) != b"\r\n":
                raise HTTPError("a chunk does not end with CRLF")

    async def _to_close(self, reader: BufferedByteReceiveStream) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = await reader.receive()
            except anyio.EndOfStream:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body:
                raise HTTPError(f"a body over {self.max_body} bytes")
            chunks.append(chunk)


async def _line(reader: BufferedByteReceiveStream) -> bytes:
    """One CRLF-terminated line of at most ``MAX_LINE`` bytes (anyio bounds what it buffers,
    but returns a longer line that arrived in one chunk)."""
    line = await reader.receive_until(b"\r\n", MAX_LINE)
    if len(line) > MAX_LINE:
        raise HTTPError(f"a line over {MAX_LINE} bytes")
    return line


__all__ = ["HTTPConnection", "HTTPError"]
