"""The serializers and the router: pure, property-tested."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beamish.channels import V1_SERIALIZER, V2_SERIALIZER, Message, ProtocolError, serializer_for
from beamish.channels._router import compile_routes, route

refs = st.one_of(st.none(), st.text(min_size=1, max_size=20), st.integers(-(2**53), 2**53))
short = st.text(min_size=1, max_size=40).filter(lambda s: len(s.encode()) <= 255)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(), json_values, max_size=5)


@given(refs, refs, st.text(), st.text(), json_values)
def test_v2_text_round_trip(join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> None:
    """A V2 array frame decodes to the same five fields, refs verbatim."""
    frame = json.dumps([join_ref, ref, topic, event, payload])
    assert V2_SERIALIZER.decode(frame) == Message(join_ref, ref, topic, event, payload)


@given(refs, refs, st.text(), st.text(), json_values)
def test_v1_text_round_trip(join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> None:
    """A V1 object frame decodes to the same fields."""
    frame = json.dumps(
        {"join_ref": join_ref, "ref": ref, "topic": topic, "event": event, "payload": payload}
    )
    assert V1_SERIALIZER.decode(frame) == Message(join_ref, ref, topic, event, payload)


@given(refs, refs, st.text(), st.sampled_from(["ok", "error", "other"]), payloads)
def test_v2_reply_is_the_phoenix_array(
    join_ref: Any, ref: Any, topic: str, status: str, response: Any
) -> None:
    """A reply decodes (as the client would) to phx_reply with status and response."""
    frame = V2_SERIALIZER.encode_reply(join_ref, ref, topic, status, response)
    assert json.loads(frame) == [
        join_ref,
        ref,
        topic,
        "phx_reply",
        {"status": status, "response": response},
    ]


@given(st.text(max_size=30), short, short, short, st.binary())
def test_v2_binary_push_from_client_round_trip(
    jr: str, ref: str, topic: str, event: str, data: bytes
) -> None:
    """A client's kind-0 binary push (with a ref) decodes to its fields and raw payload."""
    fields = [x.encode() for x in (jr, ref, topic, event)]
    fields[0] = fields[0][:255]
    frame = bytes([0, *map(len, fields)]) + b"".join(fields) + data
    msg = V2_SERIALIZER.decode(frame)
    assert msg == Message(fields[0].decode() or None, ref, topic, event, data)


def _js_decode(frame: bytes) -> tuple[Any, ...]:
    """phoenix.js serializer.js binaryDecode, transcribed."""
    kind = frame[0]
    if kind == 0:  # push: join_ref, topic, event
        sizes = frame[1:4]
        pos = 4
    elif kind == 1:  # reply: join_ref, ref, topic, status
        sizes = frame[1:5]
        pos = 5
    else:  # broadcast: topic, event
        sizes = frame[1:3]
        pos = 3
    fields = []
    for size in sizes:
        fields.append(frame[pos : pos + size].decode())
        pos += size
    return (kind, *fields, frame[pos:])


@given(st.text(max_size=20), short, short, st.binary())
def test_v2_binary_server_frames_decode_as_phoenix_js_does(
    jr: str, topic: str, event: str, data: bytes
) -> None:
    """Push (no ref), reply (status for event) and broadcast (no refs) frames."""
    assert _js_decode(V2_SERIALIZER.encode_push(jr, topic, event, data)) == (
        0,
        jr,
        topic,
        event,
        data,
    )  # type: ignore[arg-type]
    assert _js_decode(V2_SERIALIZER.encode_reply(jr, "9", topic, "ok", data)) == (
        1,
        jr,
        "9",
        topic,
        "ok",
        data,
    )  # type: ignore[arg-type]
    assert _js_decode(V2_SERIALIZER.encode_broadcast(topic, event, data)) == (2, topic, event, data)  # type: ignore[arg-type]


def test_observed_phoenix_binary_frames() -> None:
    """The byte-for-byte frames observed on Phoenix 1.8.12 (PHOENIX-PROTOCOL.md §3)."""
    assert V2_SERIALIZER.encode_reply("5", "9", "room:a", "ok", b"\x01\x02\x03") == (
        bytes([1, 1, 1, 6, 2]) + b"59room:aok\x01\x02\x03"
    )
    assert V2_SERIALIZER.encode_push("5", "room:a", "binary_pushed", b"\x04\x05") == (
        bytes([0, 1, 6, 13]) + b"5room:abinary_pushed\x04\x05"
    )
    assert V2_SERIALIZER.encode_broadcast("room:a", "binary_shout", b"\x06") == (
        bytes([2, 6, 12]) + b"room:abinary_shout\x06"
    )


def test_binary_fields_over_255_bytes_are_refused_when_encoding() -> None:
    """Every binary string field is limited to 255 bytes of UTF-8, as both ends require."""
    with pytest.raises(ValueError, match="255"):
        V2_SERIALIZER.encode_push("1", "t" * 256, "e", b"")


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "not json",
        "[1,2,3]",
        '{"topic": 1}',
        '[null, null, 5, "e", {}]',
        '[null, null, "t", ["e"], {}]',
        '[{}, null, "t", "e", {}]',
        '[null, [1], "t", "e", {}]',
        '[NaN, null, "t", "e", {}]',
        '[null, null, "t", "e", {"x": Infinity}]',
        "[" * 100_000,
        '[null, null, "t", "e", ' + "1" * 5000 + "]",
        b"",
        b"\x00\x01",
        b"\x01\x00\x00\x01\x01te",
        b"\x02\x00\x00\x01\x01te",
        b"\x00\xff\xff\xff\xff",
        b"\x00\x00\x00\x02\x01\xff\xfee",
        '["\\ud800", null]',
    ],
)
def test_hostile_frames_raise_protocol_error_only(frame: str | bytes) -> None:
    """Malformed JSON, wrong shapes, non-JSON constants, deep nesting, huge integers and binary
    frames with a wrong kind, short header or lengths past the end: ProtocolError, nothing else."""
    with pytest.raises(ProtocolError):
        V2_SERIALIZER.decode(frame)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_protocol_error(frame: bytes) -> None:
    """No byte string makes the V2 decoder raise anything but ProtocolError."""
    try:
        msg = V2_SERIALIZER.decode(frame)
    except ProtocolError:
        return
    assert isinstance(msg.payload, bytes)


@given(st.text(max_size=300))
def test_any_text_decodes_or_raises_protocol_error(frame: str) -> None:
    """No text makes either decoder raise anything but ProtocolError."""
    for serializer in (V1_SERIALIZER, V2_SERIALIZER):
        try:
            serializer.decode(frame)
        except ProtocolError:
            pass


def test_vsn_negotiation() -> None:
    """~> 2.0.0 is V2, ~> 1.0.0 or none is V1, anything else is refused."""
    assert serializer_for("2.0.0") is V2_SERIALIZER
    assert serializer_for("2.0.9") is V2_SERIALIZER
    assert serializer_for(None) is V1_SERIALIZER
    assert serializer_for("1.0.0") is V1_SERIALIZER
    for bad in ("3.0.0", "2.1.0", "2", "x.y.z", "2.0.0.0", "٢.0.0", "9" * 100 + ".0.0"):
        with pytest.raises(ProtocolError):
            serializer_for(bad)


@given(
    st.lists(st.tuples(st.text(alphabet="ab:*", max_size=6), st.integers()), max_size=6),
    st.text(alphabet="ab:", max_size=6),
)
def test_router_first_match_wins(patterns: list[tuple[str, int]], topic: str) -> None:
    """route() returns the target of the first pattern that matches (prefix for 'x*')."""
    valid = [(p, t) for p, t in patterns if "*" not in p[:-1]]
    expected = next(
        (t for p, t in valid if (topic.startswith(p[:-1]) if p.endswith("*") else topic == p)),
        None,
    )
    assert route(compile_routes(valid), topic) == expected


def test_router_refuses_inner_wildcards() -> None:
    """'*' may only end a pattern."""
    with pytest.raises(ValueError, match="only end"):
        compile_routes([("a*b", object)])
