"""Conformance suites for the runtime's pluggable interfaces (see :func:`check_transport`)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from anyio.abc import ByteStream, TaskGroup

if TYPE_CHECKING:
    from ..cluster.transports import Listener, Transport

__all__ = ["check_transport"]

_Handler = Callable[[ByteStream], Awaitable[None]]


def _payload(size: int, salt: bytes = b"") -> bytes:
    """Deterministic, non-repeating bytes, so a reordered or lost chunk is noticed."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(salt + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


async def _receive_exactly(stream: ByteStream, size: int, max_bytes: int = 65536) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive(max_bytes)
        assert chunk, "receive() returned b'' instead of raising EndOfStream"
        assert len(chunk) <= max_bytes, f"receive({max_bytes}) returned {len(chunk)} bytes"
        data += chunk
    assert len(data) == size, f"expected {size} bytes, got {len(data)} (more than was sent)"
    return bytes(data)


async def _send_in_pieces(stream: ByteStream, data: bytes) -> None:
    pos = 0
    for size in itertools.cycle((1, 7, 1000, 65536, 300_000)):
        if pos >= len(data):
            return
        await stream.send(data[pos : pos + size])
        pos += size


async def _receive_ends(stream: ByteStream) -> None:
    """Read until the stream ends; fail if it ends in any other way."""
    try:
        while True:
            await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return


@asynccontextmanager
async def _serving(
    server: Transport, address: str, handler: _Handler
) -> AsyncIterator[tuple[Listener, TaskGroup]]:
    listener = await server.listen(address)
    assert isinstance(listener.address, str), listener.address
    assert listener.address, "Listener.address is empty"
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        try:
            yield listener, tg
        finally:
            await listener.aclose()


async def _check_round_trip(server: Transport, client: Transport, address: str) -> None:
    """A large payload each way, echoed back intact and in order, with small max_bytes too."""
    size = 1_500_000

    async def echo(stream: ByteStream) -> None:
        async with stream:
            data = await _receive_exactly(stream, size)
            await _send_in_pieces(stream, data)
            tail = await _receive_exactly(stream, 5, max_bytes=2)
            await stream.send(tail)

    payload = _payload(size)
    async with _serving(server, address, echo) as (listener, _):
        stream = await client.connect(listener.address)
        async with stream, anyio.create_task_group() as tg:
            tg.start_soon(_send_in_pieces, stream, payload)
            echoed = await _receive_exactly(stream, size)
            assert echoed == payload, "the echoed payload differs from what was sent"
            await stream.send(b"tail!")
            assert await _receive_exactly(stream, 5, max_bytes=3) == b"tail!"


async def _check_concurrent_connections(server: Transport, client: Transport, address: str) -> None:
    """Several connections at once stay apart, each handled in its own task."""
    count = 4
    all_connected = anyio.Event()
    handled = 0

    async def handler(stream: ByteStream) -> None:
        nonlocal handled
        async with stream:
            handled += 1
            if handled == count:
                all_connected.set()
            await all_connected.wait()  # every handler runs at once, or this never returns
            name = await _receive_exactly(stream, 8)
            await stream.send(name[::-1] + _payload(100_000, name))

    async def one(listener: Listener, i: int) -> None:
        name = f"client-{i}".encode()
        async with await client.connect(listener.address) as stream:
            await stream.send(name)
            reply = await _receive_exactly(stream, 8 + 100_000)
            assert reply == name[::-1] + _payload(100_000, name), f"connection {i} mixed up"

    async with _serving(server, address, handler) as (listener, _):
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(one, listener, i)


async def _check_close(server: Transport, client: Transport, address: str) -> None:
    """Closing either end ends the other's receive; a closed end refuses further use."""
    server_side: list[ByteStream] = []
    ended = anyio.Event()
    accepted = anyio.Event()

    async def handler(stream: ByteStream) -> None:
        async with stream:
            server_side.append(stream)
            accepted.set()
            if len(server_side) == 1:
                await _receive_ends(stream)  # the client closes first
                ended.set()
            # the second connection: the server closes first, on leaving this block

    async with _serving(server, address, handler) as (listener, _):
        stream = await client.connect(listener.address)
        await stream.send(b"x")
        await accepted.wait()
        await stream.aclose()
        await ended.wait()
        for operation in (stream.receive, lambda: stream.send(b"y")):
            try:
                await operation()
            except anyio.ClosedResourceError:
                pass
            else:
                raise AssertionError("a closed stream can still be used")

        stream = await client.connect(listener.address)
        async with stream:
            await _receive_ends(stream)


async def _check_listener_close(server: Transport, client: Transport, address: str) -> None:
    """aclose() makes serve() return, and the released address refuses connections."""

    async def handler(stream: ByteStream) -> None:
        await stream.aclose()

    listener = await server.listen(address)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        async with await client.connect(listener.address) as stream:
            await _receive_ends(stream)
        await listener.aclose()
    await listener.aclose()  # idempotent
    try:
        stream = await client.connect(listener.address, timeout=5.0)
    except OSError:
        return
    await stream.aclose()
    raise AssertionError(f"connect to a closed listener at {listener.address} succeeded")


async def check_transport(
    server: Transport, client: Transport, listen_address: str, *, timeout: float = 30.0
) -> None:
    """Run the transport conformance suite; raise ``AssertionError`` at the first breach.

    ``server`` listens on ``listen_address`` (an address it may bind repeatedly, such as
    ``"127.0.0.1:0"``) and ``client`` dials it; they may be one object. Each check is bounded
    by ``timeout`` seconds, so a transport that hangs fails instead of stalling.

    ``check_transport`` checks a :class:`beamish.cluster.transports.Transport` against the contract
    the node's connection code relies on (trio's ``check_two_way_stream`` is the model)::

        async def test_my_transport() -> None:
            await check_transport(MyTransport(), MyTransport(), "127.0.0.1:0")

    Semantics
    ---------
    It listens on ``listen_address`` with ``server`` and dials with ``client``, then checks, each
    bounded by ``timeout`` seconds: bytes arrive intact and in order in both directions, also a
    payload far larger than one ``receive``; ``receive(max_bytes)`` honours its bound; concurrent
    connections stay apart, each served in its own task; closing one end ends the other's
    ``receive`` (``anyio.EndOfStream`` or ``anyio.BrokenResourceError``); a closed end refuses
    further use (``anyio.ClosedResourceError``); ``Listener.aclose`` makes ``serve`` return; and
    ``connect`` to the address just released fails fast with ``OSError`` (``ConnectionError``).
    """
    checks = (
        _check_round_trip,
        _check_concurrent_connections,
        _check_close,
        _check_listener_close,
    )
    for check in checks:
        try:
            with anyio.fail_after(timeout):
                await check(server, client, listen_address)
        except TimeoutError as exc:
            raise AssertionError(f"{check.__doc__} -- timed out after {timeout}s") from exc
        except AssertionError as exc:
            raise AssertionError(f"{check.__doc__} -- {exc}") from exc
