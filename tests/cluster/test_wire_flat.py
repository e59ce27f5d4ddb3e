"""The flat form of the hot frames (send, cast, call, reply): it decodes to the very frame
the record form does, for any pid, ref, target and message; anything malformed after the
flat byte is a DecodeError (the connection closes), and a message inside that cannot be
rebuilt leaves the frame around it intact in ``partial``."""

from __future__ import annotations

from typing import Any

import anyio
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meshkit import Echo, on
from test_hostile_peers import COOKIE, _raw_connect, _read_message, tcp_node
from test_wire import node_names, pids, refs, same, values

from beamish.actors import Pid, Ref
from beamish.actors._messages import CAST, Caller, CallRequest, CastRequest
from beamish.cluster import Codec, DecodeError
from beamish.cluster._framing import FrameDecoder, encode_frame
from beamish.cluster._handshake import Initiator
from beamish.cluster._wire import FLAT, PlainCodec, Undecodable

codec = Codec()
targets = st.one_of(pids, st.tuples(st.text(max_size=10), node_names))


def record_form(frame: tuple[Any, ...]) -> Any:
    return codec.decode(codec.encode(frame))


@given(pids, values)
@settings(max_examples=200)
def test_a_send_and_a_cast_decode_as_their_record_form(to: Pid, message: Any) -> None:
    for sent in (message, (CAST, message), ("tag", message), CastRequest(message)):
        flat = codec.encode_send(to, sent)
        assert same(codec.decode(flat), ("send", to, sent))
        assert same(codec.decode(flat), record_form(("send", to, sent)))


@given(targets, pids, refs, values)
@settings(max_examples=200)
def test_a_call_decodes_as_its_record_form(target: Any, caller: Pid, ref: Ref, value: Any) -> None:
    request = CallRequest(Caller(caller, ref), value)
    assert same(codec.decode(codec.encode_call(target, request)), ("call", target, request))


@given(pids, refs, values)
@settings(max_examples=200)
def test_a_reply_decodes_as_its_record_form(to: Pid, ref: Ref, value: Any) -> None:
    assert same(codec.decode(codec.encode_reply(to, ref, value)), ("reply", to, ref, value))


def test_the_hot_frames_are_flat_when_their_fields_are_plain() -> None:
    pid, ref = Pid("a@h", 1, 2), Ref("a@h", 3)
    assert codec.encode_send(pid, 1)[0] == FLAT
    cast = codec.encode_send(pid, (CAST, 1))
    assert cast[:2] == bytes([FLAT, 2])  # a cast: its tag in the head, its request after
    assert cast.endswith(b"\x01")
    assert codec.encode_call(("name", "a@h"), CallRequest(Caller(pid, ref), 1))[0] == FLAT
    assert codec.encode_reply(pid, ref, 1)[0] == FLAT
    random_ref = Ref("a@h", 579988471589468372997)  # refs are random, beyond 64 bits
    assert codec.encode_reply(pid, random_ref, 1)[0] == FLAT
    assert codec.decode(codec.encode_reply(pid, random_ref, 1)) == ("reply", pid, random_ref, 1)
    huge = Pid("a@h", 2**300, 2)  # beyond what a flat head carries: the record form
    assert codec.encode_send(huge, 1)[0] != FLAT
    assert codec.decode(codec.encode_send(huge, 1)) == ("send", huge, 1)


@given(st.binary(max_size=64))
@settings(max_examples=500)
def test_garbage_after_the_flat_byte_is_a_decode_error_or_a_valid_frame(tail: bytes) -> None:
    outcome: Any
    try:
        outcome = codec.decode(bytes([FLAT]) + tail)
    except DecodeError as exc:
        outcome = exc.partial  # None, or the frame around a value it could not rebuild
    assert outcome is None or (type(outcome) is tuple and outcome[0] in ("send", "call", "reply"))


def _flat(kind: int, head: bytes, value: bytes = b"\x01") -> bytes:
    return bytes([FLAT, kind]) + len(head).to_bytes(2, "big") + head + value


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (bytes([FLAT, 1]), "truncated"),
        (_flat(1, msgpack.packb(["a@h", 1, 2]))[:-3], "cut short"),
        (_flat(9, msgpack.packb(["a@h", 1, 2])), "unknown flat frame kind 9"),
        (_flat(1, msgpack.packb({"a": 1})), "not a list"),
        (_flat(1, msgpack.packb(["a@h", "1", 2])), "malformed head"),
        (_flat(3, msgpack.packb(["a@h", 1, 2])), "malformed head"),
        (_flat(5, msgpack.packb(["a@h", 1, 2, "a@h", True])), "malformed head"),
        (_flat(1, msgpack.packb([msgpack.ExtType(33, b"x"), 1, 2])), "malformed head"),
        (_flat(1, b"\xc1"), "malformed head"),
    ],
)
def test_a_malformed_flat_frame_is_a_decode_error(payload: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why) as raised:
        codec.decode(payload)
    assert raised.value.partial is None


def test_a_value_that_cannot_be_rebuilt_leaves_the_flat_frame_in_partial() -> None:
    """A pickle this codec refuses, inside a call: the frame (caller, ref) survives, so the
    call can be answered with the error."""
    pid, ref = Pid("a@h", 1, 2), Ref("a@h", 3)
    payload = Codec(allow_pickle=True).encode_call(pid, CallRequest(Caller(pid, ref), object()))
    with pytest.raises(DecodeError) as raised:
        codec.decode(payload)
    kind, target, request = raised.value.partial
    assert (kind, target, request.caller) == ("call", pid, Caller(pid, ref))
    assert type(request.request) is Undecodable


def test_a_value_inside_a_flat_frame_is_never_itself_flat() -> None:
    """The message of a flat frame is decoded as a value: a flat byte there is not a
    nested frame (no recursion for a peer to nest)."""
    inner = codec.encode_send(Pid("a@h", 1, 2), 1)
    payload = _flat(1, msgpack.packb(["a@h", 1, 2]), inner)
    with pytest.raises(DecodeError):
        codec.decode(payload)


# -- which peers get the flat form: those that announce the "flat" flag ------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])  # real sockets: real clock
@pytest.mark.parametrize("announces_flat", [True, False])
async def test_a_peer_gets_the_flat_form_only_if_it_announced_it(announces_flat: bool) -> None:
    """A raw peer over TCP that leaves "flags" out of its hello (an older node) is answered
    in the record form; one that announces "flat" in the flat form. Either decodes to the
    same reply."""
    async with tcp_node("a@127.0.0.1") as (node, ca):
        await on(node, _start_echo)
        stream = await _raw_connect(ca.address)
        async with stream:
            decoder, plain = FrameDecoder(), PlainCodec()
            initiator = Initiator("raw@127.0.0.1", 1, COOKIE.encode())
            hello = initiator.hello()
            if not announces_flat:
                del hello["flags"]
            await stream.send(encode_frame(plain.encode(hello)))
            proof = initiator.on_challenge(await _read_message(stream, decoder))
            await stream.send(encode_frame(plain.encode(proof)))
            initiator.on_welcome(await _read_message(stream, decoder))
            me, ref = Pid("raw@127.0.0.1", 1, 1), Ref("raw@127.0.0.1", 1)
            call = ("call", ("echo", "a@127.0.0.1"), CallRequest(Caller(me, ref), "hi"))
            await stream.send(encode_frame(codec.encode(call)))
            payloads: list[bytes] = []
            with anyio.fail_after(10):
                while True:
                    payloads.extend(decoder.feed(await stream.receive()))
                    replies = [p for p in payloads if codec.decode(p)[0] == "reply"]
                    if replies:
                        break
        assert codec.decode(replies[0]) == ("reply", me, ref, ("a@127.0.0.1", "hi"))
        assert (replies[0][0] == FLAT) is announces_flat


async def _start_echo() -> None:
    await Echo.start(name="echo")
