"""Frames split and join exactly, and a bad stream fails fast without buffering it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beamish.cluster import (
    DEFAULT_MAX_FRAME,
    VERSION,
    FrameDecoder,
    FrameError,
    encode_frame,
    encode_frames,
)

payload_lists = st.lists(st.binary(max_size=300), max_size=20)


@given(payload_lists, st.data())
def test_random_splits_decode_to_the_same_payloads(
    payloads: list[bytes], data: st.DataObject
) -> None:
    """A batch cut at random byte boundaries decodes to the payloads, in order."""
    stream = encode_frames(payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    out: list[bytes] = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out.extend(decoder.feed(stream[start:stop]))
    assert out == payloads
    assert decoder.buffered == 0
    decoder.close()


@given(payload_lists)
def test_byte_at_a_time(payloads: list[bytes]) -> None:
    """Feeding one byte at a time works, and the buffer never holds more than one frame."""
    stream = encode_frames(payloads)
    decoder = FrameDecoder(max_frame=300)
    out: list[bytes] = []
    for i in range(len(stream)):
        out.extend(decoder.feed(stream[i : i + 1]))
        assert decoder.buffered <= 305
    assert out == payloads


def test_batch_equals_concatenated_frames() -> None:
    """encode_frames is the concatenation of encode_frame (one write for many frames)."""
    payloads = [b"a", b"", b"xyz" * 100]
    assert encode_frames(payloads) == b"".join(encode_frame(p) for p in payloads)
    assert encode_frame(b"ab") == bytes([VERSION, 0, 0, 0, 2]) + b"ab"


def test_accepts_bytearray_and_memoryview() -> None:
    """Any bytes-like chunk is accepted; payloads come back as bytes."""
    decoder = FrameDecoder()
    frame = encode_frame(b"hello")
    assert decoder.feed(bytearray(frame[:3])) == []
    out = decoder.feed(memoryview(frame)[3:])
    assert out == [b"hello"]
    assert type(out[0]) is bytes


def test_oversized_length_rejected_before_buffering() -> None:
    """A header announcing more than max_frame fails at once, before any payload arrives."""
    decoder = FrameDecoder(max_frame=1024)
    assert decoder.feed(encode_frame(b"ok")) == [b"ok"]
    with pytest.raises(FrameError, match="over the 1024-byte limit") as info:
        decoder.feed(bytes([VERSION]) + (2**31).to_bytes(4, "big"))
    assert info.value.kind == "oversized"
    assert decoder.buffered <= 5


def test_oversized_length_split_across_feeds() -> None:
    """The length check fires as soon as the header's last byte arrives."""
    decoder = FrameDecoder(max_frame=10)
    header = bytes([VERSION]) + (11).to_bytes(4, "big")
    assert decoder.feed(header[:3]) == []
    with pytest.raises(FrameError) as info:
        decoder.feed(header[3:])
    assert info.value.kind == "oversized"


def test_max_frame_itself_is_allowed() -> None:
    """A payload of exactly max_frame bytes is fine."""
    decoder = FrameDecoder(max_frame=10)
    assert decoder.feed(encode_frame(b"x" * 10)) == [b"x" * 10]


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version_rejected_at_first_byte(version: int) -> None:
    """A header with another version fails on its first byte, also mid-stream."""
    decoder = FrameDecoder()
    with pytest.raises(FrameError, match=f"version {version}") as info:
        decoder.feed(encode_frame(b"ok") + bytes([version]))
    assert info.value.kind == "version"


def test_garbage_rejected() -> None:
    """An HTTP request (or any garbage) on the port is a version error, not a huge buffer."""
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"GET / HTTP/1.1\r\n\r\n")


def test_truncated_at_close() -> None:
    """Closing mid-frame (header or payload) is a FrameError of kind 'truncated'."""
    for cut in (1, 4, 5, 8):
        decoder = FrameDecoder()
        decoder.feed(encode_frame(b"abcdef")[:cut])
        with pytest.raises(FrameError) as info:
            decoder.close()
        assert info.value.kind == "truncated"


def test_clean_close() -> None:
    """Closing between frames is fine."""
    decoder = FrameDecoder()
    decoder.feed(encode_frames([b"a", b"b"]))
    decoder.close()


def test_decoder_stays_failed() -> None:
    """After an error the decoder refuses more input: the connection must close."""
    decoder = FrameDecoder()
    with pytest.raises(FrameError):
        decoder.feed(b"\x09")
    with pytest.raises(FrameError) as info:
        decoder.feed(encode_frame(b"ok"))
    assert info.value.kind == "failed"


def test_sender_refuses_oversized_payload() -> None:
    """encode_frame and encode_frames refuse a payload over the limit at the sender."""
    with pytest.raises(FrameError) as info:
        encode_frame(b"x" * 11, max_frame=10)
    assert info.value.kind == "oversized"
    with pytest.raises(FrameError):
        encode_frames([b"", b"x" * 11], max_frame=10)
    assert DEFAULT_MAX_FRAME == 8 * 1024 * 1024
