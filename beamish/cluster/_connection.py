"""One authenticated link to a peer node: batched writes, framed reads, heartbeats.

>>> Connection.__name__
'Connection'

- ``send(message)`` encodes at once (an object the codec cannot carry raises
  ``EncodeError`` in the sender, never a hang) and queues the frame; the writer task sends
  every frame queued since its last write in one ``send`` (batching per connection).
- What waits to be written is bounded: ``send_buffer_limit`` bytes (64 MiB by default, the
  order of Erlang's ``dist_buf_busy_limit``). A peer that stops reading does not make this
  node hold an ever-growing queue: past the limit the connection closes (``send`` never
  blocks, so closing is the one bound that keeps it so), its links and monitors fire
  ``noconnection``, and the overflow is logged and counted.
- The reader decodes frames and hands each message to the mesh. A malformed frame or an
  oversized one closes this connection only, and is counted in telemetry. A well-formed
  message holding a value this node cannot rebuild (``DecodeError.partial``) goes to
  ``on_undecodable`` instead, and the connection carries on.
- Heartbeat: a tick goes out when nothing else was sent for one tick interval; a peer
  silent for four intervals is declared down (Erlang's net_ticktime). Each side announces
  its ``heartbeat`` first, and both ends of a link tick at the faster of the two (never
  faster than ``MIN_HEARTBEAT``), so nodes configured differently still agree on when a
  silent peer is down.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from .. import telemetry
from ._errors import DecodeError, FrameError
from ._framing import FrameDecoder, encode_frame, encode_frames
from ._handshake import Peer
from ._wire import Codec, PlainCodec

_log = logging.getLogger("beamish.cluster")

BAD_FRAME = telemetry.CLUSTER_BAD_FRAME
SEND_OVERFLOW = telemetry.CLUSTER_SEND_OVERFLOW
DEFAULT_SEND_BUFFER_LIMIT = 64 * 1024 * 1024
_STREAM_ERRORS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)
TICK = ("tick",)
HEARTBEAT = "heartbeat"  # ("heartbeat", seconds): the sender's tick interval
MIN_HEARTBEAT = 0.01  # seconds: the fastest a peer can make this node tick


async def read_one(
    stream: anyio.abc.ByteStream, decoder: FrameDecoder, codec: PlainCodec, pending: list[bytes]
) -> Any:
    """Read until one whole frame is there (used by the handshake, whose codec is plain
    msgpack: nothing from a peer not yet authenticated reaches the wire codec); extra frames
    stay in ``pending``."""
    while not pending:
        pending.extend(decoder.feed(await stream.receive()))
    return codec.decode(pending.pop(0))


class Connection:
    """A live link to ``peer``; ``run`` returns (with ``reason`` set) when it ends."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        peer: Peer,
        codec: Codec,
        decoder: FrameDecoder,
        dispatch: Callable[[Connection, Any], None],
        *,
        on_undecodable: Callable[[Connection, DecodeError], None] | None = None,
        outgoing: bool,
        heartbeat: float,
        early: list[bytes] | None = None,
        send_buffer_limit: int = DEFAULT_SEND_BUFFER_LIMIT,
        node: str = "",
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.outgoing = outgoing
        self.reason: Any = None
        self.superseded = False
        self._codec = codec
        self._decoder = decoder
        self._dispatch = dispatch
        self._on_undecodable = on_undecodable
        self._heartbeat = heartbeat  # the tick interval: ours, or the peer's if faster
        self._queue: list[bytes] = []
        self._queued = 0  # bytes queued or being written, not yet taken by the kernel
        self._send_buffer_limit = send_buffer_limit
        self._limit = send_buffer_limit  # -1 once overflowed: every later send is dropped
        self._node = node
        self._sock = (
            stream.extra(anyio.abc.SocketAttribute.raw_socket)
            if isinstance(stream, anyio.abc.SocketStream) and os.name == "posix"
            else None
        )
        self._writing = False  # the writer is in the stream's send: flushes wait for it
        self._spill = b""  # what a flush wrote in part: the writer sends it first
        self._spill_taken = 0
        self._wake = anyio.Event()
        self._sent_since_tick = False
        self._early = early or []
        self._scope: anyio.CancelScope | None = None
        self._tick_sleep: anyio.CancelScope | None = None
        self._heard = True  # something came from the peer since the ticker last looked
        self.frames_in = 0
        self.frames_out = 0
        self.flat = False  # the peer reads the flat form of the hot frames (its flags)

    def __repr__(self) -> str:
        return f"<Connection {self.peer.name} {'out' if self.outgoing else 'in'}>"

    def send(self, message: Any) -> None:
        """Queue ``message`` for the peer (encoded now: ``EncodeError`` raises here, and
        ``FrameError`` for a message over the frame limit)."""
        self.send_encoded(self._codec.encode(message))

    def send_encoded(self, payload: bytes, *, now: bool = False) -> None:
        """Queue an encoded message; ``now``: write it (and what is queued) from the calling
        task if the writer is idle, as for a call's request or a reply, which a round trip
        waits for: no turn of the writer task in between."""
        size = len(payload)
        if size > self._decoder.max_frame:
            raise FrameError(
                f"message of {size} bytes is over the frame limit "
                f"({self._decoder.max_frame}) for {self.peer.name}"
            )
        queued = self._queued + size
        if queued > self._limit:
            self._overflow(queued)
            return
        self._queued = queued
        self._queue.append(payload)
        if now and self._sock is not None and not self._writing and not self._spill:
            self._flush()
        elif len(self._queue) == 1:  # the first of a batch wakes the writer; the rest ride along
            self._wake.set()

    def _overflow(self, queued: int) -> None:
        """The peer does not read what this node sends: drop this connection (the mesh
        fires what crossed it) rather than hold more for it."""
        if self._limit < 0:
            return
        self._limit = -1
        self._queue = []
        limit = self._send_buffer_limit
        why = f"send buffer over {limit} bytes: {self.peer.name} is not reading"
        _log.error("%s: closing the connection to %s: %s", self._node, self.peer.name, why)
        telemetry.execute(
            SEND_OVERFLOW,
            {"count": 1, "bytes": queued},
            {"node": self._node, "peer": self.peer.name, "limit": limit},
        )
        self.close(why)

    def close(self, reason: Any) -> None:
        """End the connection (the mesh's ``run`` loop then reports it down)."""
        if self.reason is None:
            self.reason = reason
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        self.send((HEARTBEAT, self._heartbeat))
        try:
            async with anyio.create_task_group() as group:
                self._scope = group.cancel_scope
                group.start_soon(self._writer)
                group.start_soon(self._ticker)
                try:
                    await self._reader()
                except _STREAM_ERRORS as exc:
                    self.reason = self.reason or f"connection lost ({type(exc).__name__})"
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await self.stream.aclose()
        if self.reason is None:
            self.reason = "connection closed"

    async def _reader(self) -> None:
        for payload in self._early:
            self._handle(payload)
        self._early = []
        decoder = self._decoder
        receive = self.stream.receive
        while self.reason is None:
            try:
                data = await receive()  # silence is the ticker's to judge: no timer per read
            except anyio.EndOfStream:
                self.reason = "peer closed the connection"
                return
            self._heard = True
            try:
                payloads = decoder.feed(data)
            except FrameError as exc:
                self._bad(f"bad frame: {exc}")
                return
            for payload in payloads:
                if not self._handle(payload):
                    return

    def _handle(self, payload: bytes) -> bool:
        self.frames_in += 1
        try:
            message = self._codec.decode(payload)
        except DecodeError as exc:
            if exc.partial is None or self._on_undecodable is None:
                self._bad(f"undecodable frame: {exc}")
                return False
            try:  # one value could not be rebuilt here: that message only is dropped
                self._on_undecodable(self, exc)
            except Exception as error:
                self._bad(f"bad message {exc.partial!r:.200}: {error!r}")
                return False
            return True
        if type(message) is tuple and len(message) == 2 and message[0] == HEARTBEAT:
            if isinstance(message[1], int | float) and 0 < message[1] < self._heartbeat:
                self._heartbeat = max(float(message[1]), MIN_HEARTBEAT)
                if self._tick_sleep is not None:
                    self._tick_sleep.cancel()
        elif message != TICK:
            try:
                self._dispatch(self, message)
            except Exception as exc:  # a malformed message from the peer: drop the link
                self._bad(f"bad message {message!r:.200}: {exc!r}")
                return False
        return True

    def _bad(self, why: str) -> None:
        self.reason = why
        _log.error("closing the connection to %s: %s", self.peer.name, why)
        telemetry.execute(BAD_FRAME, {"count": 1}, {"peer": self.peer.name, "why": why})

    async def _writer(self) -> None:
        try:
            await self._write_forever()
        except _STREAM_ERRORS as exc:
            self.close(f"connection lost while writing ({type(exc).__name__})")

    async def _write_forever(self) -> None:
        stream = self.stream
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            self._writing = True
            if self._spill:  # what a flush could not write whole goes first
                spill, self._spill = self._spill, b""
                await stream.send(spill)
                self._queued -= self._spill_taken
            if self._queue:
                data, taken = self._take()
                written = self._write_some(data)
                if written < len(data):
                    await stream.send(data[written:])
                self._queued -= taken
            self._writing = False

    def _flush(self) -> None:
        """Write every frame queued, from the calling task (the writer is idle); what the
        socket does not take at once goes to the writer, ahead of anything queued later."""
        data, taken = self._take()
        try:
            written = self._write_some(data)
        except OSError as exc:  # reset or closed under us: the connection is lost, quietly
            self.close(f"connection lost while writing ({type(exc).__name__})")
            return
        if written == len(data):
            self._queued -= taken
            return
        self._spill, self._spill_taken = data[written:], taken
        self._wake.set()

    def _take(self) -> tuple[bytes, int]:
        """The frames of every payload queued, and the bytes they counted for."""
        queue, self._queue = self._queue, []
        self._sent_since_tick = True
        self.frames_out += len(queue)
        limit = self._decoder.max_frame  # send_encoded checked each payload already
        if len(queue) > 1:
            return encode_frames(queue, max_frame=limit), self._queued
        return encode_frame(queue[0], max_frame=limit), self._queued

    def _write_some(self, data: bytes) -> int:
        """Write to a plain socket (no TLS, POSIX) directly; the bytes written (0: the
        stream's ``send`` must do it all). A write that goes whole costs no loop pass, and
        the stream's ``send`` returns only once its transport has flushed everything, so
        bytes never overtake each other."""
        fd = self._sock.fileno() if self._sock is not None else -1  # -1 once closed
        if fd < 0:
            return 0
        try:
            return os.write(fd, data)
        except (BlockingIOError, InterruptedError):
            return 0

    async def _ticker(self) -> None:
        """Once per interval: tick if we sent nothing; declare the peer down after four
        intervals in which nothing at all came from it."""
        tick = self._codec.encode(TICK)
        silent = 0
        while True:
            with anyio.CancelScope() as self._tick_sleep:  # cut short when the interval drops
                await anyio.sleep(self._heartbeat)
                if not self._sent_since_tick:
                    self.send_encoded(tick)
                self._sent_since_tick = False
                silent = 0 if self._heard else silent + 1
                self._heard = False
                if silent >= 4:
                    self.close(f"no heartbeat from {self.peer.name} for {4 * self._heartbeat}s")
                    return
