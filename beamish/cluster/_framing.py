"""Length-prefixed frames, a pure byte-stream splitter; the contract is on :class:`FrameDecoder`."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final

from ._errors import FrameError

VERSION: Final = 1
"""The protocol version carried in every frame header."""

DEFAULT_MAX_FRAME: Final = 8 * 1024 * 1024
"""The default limit on one frame's payload, in bytes (8 MiB)."""

HEADER_SIZE: Final = 5
_MAX_LENGTH: Final = 0xFFFF_FFFF
_HEADER = struct.Struct(">BI")
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from


def encode_frame(payload: bytes, *, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """One frame: the header (version, big-endian length) and the payload.

    Raises :class:`FrameError` (``kind="oversized"``) at the sender for a payload over
    ``max_frame``, rather than letting the receiver close the connection.

    >>> encode_frame(b"hi")
    b'\\x01\\x00\\x00\\x00\\x02hi'
    """
    size = len(payload)
    if size > max_frame or size > _MAX_LENGTH:
        raise FrameError(
            f"payload of {size} bytes is over the {max_frame}-byte frame limit", kind="oversized"
        )
    return _pack_header(VERSION, size) + payload


def encode_frames(payloads: Iterable[bytes], *, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """Many frames in one buffer: the batch a connection writes at once.

    >>> encode_frames([b"a", b"bc"]) == encode_frame(b"a") + encode_frame(b"bc")
    True
    """
    parts: list[bytes] = []
    append = parts.append
    limit = min(max_frame, _MAX_LENGTH)
    for payload in payloads:
        size = len(payload)
        if size > limit:
            raise FrameError(
                f"payload of {size} bytes is over the {max_frame}-byte frame limit",
                kind="oversized",
            )
        append(_pack_header(VERSION, size))
        append(payload)
    return b"".join(parts)


class FrameDecoder:
    """Splits one connection's incoming bytes into payloads.

    Semantics
    ---------

    A frame is a 5-byte header, the protocol :data:`VERSION` (one byte) and the payload length
    (4 bytes, big-endian), then the payload. A zero-length frame is valid (a connection may use
    it as a heartbeat); the codec never writes an empty payload.

    :class:`FrameDecoder` takes bytes as they arrive, in chunks of any size, and returns the
    complete payloads; it keeps only the partial tail. A bad stream raises :class:`FrameError`
    as soon as the header shows it: a wrong version at the first byte of a header, a length over
    ``max_frame`` as soon as the length is read, before any of that payload is buffered, so a
    peer cannot make the receiver hold more than ``max_frame + 5`` bytes. After an error the
    decoder stays failed: the connection must close.

    Batching is the sender's part: :func:`encode_frames` joins many frames into one write.

    Example:
        >>> frames = encode_frames([b"hello", b"", b"world"])
        >>> decoder = FrameDecoder()
        >>> decoder.feed(frames[:12]), decoder.buffered
        ([b'hello'], 2)
        >>> decoder.feed(frames[12:])
        [b'', b'world']

        >>> decoder = FrameDecoder(max_frame=4)
        >>> decoder.feed(encode_frame(b"abcd") + b"\\x01")
        [b'abcd']
        >>> decoder.buffered
        1
        >>> decoder.feed(b"\\x00\\x00\\x00\\x05")
        Traceback (most recent call last):
          ...
        beamish.cluster.FrameError: frame of 5 bytes is over the 4-byte limit
    """

    __slots__ = ("_buffer", "_failed", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 0:
            raise ValueError(f"max_frame must be >= 0, not {max_frame}")
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes held for a frame not yet complete (at most ``max_frame + 5``)."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Takes the next bytes of the stream; returns the payloads they complete, in order.

        Raises :class:`FrameError` for a wrong version or an oversized length, before
        buffering the frame; the payloads completed earlier in ``data`` are lost with the
        connection.

        >>> decoder = FrameDecoder()
        >>> decoder.feed(b"\\x01\\x00\\x00"), decoder.feed(b"\\x00\\x01x\\x01")
        ([], [b'x'])
        >>> decoder.feed(b"\\x00\\x00\\x00\\x00")  # the header begun by the last \\x01
        [b'']
        >>> FrameDecoder().feed(b"\\x02")
        Traceback (most recent call last):
          ...
        beamish.cluster.FrameError: frame header with protocol version 2, expected 1
        """
        if self._failed:
            raise FrameError("the frame decoder already failed; close the connection")
        buffer = self._buffer
        view: bytes | bytearray
        if buffer:
            buffer += data
            view = buffer
        else:
            view = data if type(data) is bytes else bytes(data)
        end = len(view)
        pos = 0
        out: list[bytes] = []
        max_frame = self.max_frame
        while True:
            left = end - pos
            if left < HEADER_SIZE:
                if left and view[pos] != VERSION:
                    self._fail_version(view[pos])
                break
            version, size = _unpack_header(view, pos)
            if version != VERSION:
                self._fail_version(version)
            if size > max_frame:
                self._failed = True
                raise FrameError(
                    f"frame of {size} bytes is over the {max_frame}-byte limit", kind="oversized"
                )
            stop = pos + HEADER_SIZE + size
            if stop > end:
                break
            out.append(bytes(view[pos + HEADER_SIZE : stop]))
            pos = stop
        if view is buffer:
            del buffer[:pos]
        elif pos < end:
            buffer += view[pos:]
        return out

    def close(self) -> None:
        """Ends the stream; raises :class:`FrameError` (``kind="truncated"``) mid-frame.

        >>> decoder = FrameDecoder()
        >>> decoder.feed(encode_frame(b"abc")[:-1])
        []
        >>> decoder.close()
        Traceback (most recent call last):
          ...
        beamish.cluster.FrameError: stream closed inside a frame (7 of 8 bytes)
        """
        buffer = self._buffer
        if buffer and not self._failed:
            self._failed = True
            have = len(buffer)
            want = (
                HEADER_SIZE + _unpack_header(buffer, 0)[1] if have >= HEADER_SIZE else HEADER_SIZE
            )
            raise FrameError(
                f"stream closed inside a frame ({have} of {want} bytes)", kind="truncated"
            )
        self._failed = True
        buffer.clear()

    def _fail_version(self, version: int) -> None:
        self._failed = True
        raise FrameError(
            f"frame header with protocol version {version}, expected {VERSION}", kind="version"
        )
