"""The wire codec round-trips every supported type exactly, and refuses the rest clearly."""

from __future__ import annotations

import math
import traceback
from collections import OrderedDict
from typing import Any, NamedTuple

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beamish.actors import Down, Exit, Exited, Pid, Ref
from beamish.actors._messages import Caller, CallRequest, CastRequest
from beamish.cluster import Codec, DecodeError, EncodeError, RemoteException

# -- strategies (all in one place) --------------------------------------------------------

node_names = st.text(min_size=1, max_size=20)
big_ints = st.integers(min_value=-(2**200), max_value=2**200)
ints = st.one_of(st.integers(min_value=-(2**63), max_value=2**64 - 1), big_ints)
pids = st.builds(Pid, node_names, st.integers(min_value=0, max_value=2**70), ints)
refs = st.builds(Ref, node_names, ints)
floats = st.floats(allow_nan=False)
hashable_scalars = st.one_of(
    st.none(), st.booleans(), ints, floats, st.text(), st.binary(), pids, refs
)
hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(tuple),
        st.frozensets(inner, max_size=4),
    ),
    max_leaves=8,
)
reasons = st.one_of(
    st.sampled_from(["normal", "shutdown", "killed", "noproc", "noconnection"]),
    st.tuples(st.just("shutdown"), hashable_scalars),
)
messages = st.one_of(
    st.builds(Down, refs, pids, reasons),
    st.builds(Exit, pids, reasons),
    st.builds(CallRequest, st.builds(Caller, pids, refs), hashable_scalars),
    st.builds(CastRequest, hashable_scalars),
)
values = st.recursive(
    st.one_of(hashable_scalars, messages),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(hashables, inner, max_size=5),
        st.sets(hashables, max_size=5),
        st.frozensets(hashables, max_size=5),
    ),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the very same type at every level (a Pid is not a tuple, 1 is not True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        keys_b = {_canon(k): k for k in b}
        return all(
            _canon(k) in keys_b and same(k, keys_b[_canon(k)]) and same(v, b[keys_b[_canon(k)]])
            for k, v in a.items()
        )
    if isinstance(a, (set, frozenset)):
        return {_canon(x) for x in a} == {_canon(y) for y in b}
    return bool(a == b)


def _canon(value: Any) -> Any:
    """A key that tells apart values that compare equal across types (1, 1.0, True)."""
    if isinstance(value, (tuple, frozenset)):
        items = tuple(_canon(x) for x in value)
        return (type(value), frozenset(items) if isinstance(value, frozenset) else items)
    return (type(value), value)


codec = Codec()
pickling = Codec(allow_pickle=True)


# -- round trips --------------------------------------------------------------------------


@given(values)
@settings(max_examples=300)
def test_round_trip_keeps_values_and_types(value: Any) -> None:
    """Every supported value, nested any way, decodes equal and of the same types."""
    assert same(codec.decode(codec.encode(value)), value)


@given(values)
def test_pickling_codec_round_trips_known_types_without_pickle(value: Any) -> None:
    """With allow_pickle on, known types still travel as data: a strict codec reads them."""
    assert same(codec.decode(pickling.encode(value)), value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**64 - 1,
        2**64,
        -(2**63) - 1,
        2**1000,
        -(2**1000),
        -0.0,
        float("inf"),
        "",
        "héllo",
        b"",
        b"\x00\xff",
        [],
        (),
        (1,),
        [()],
        ([],),
        {},
        set(),
        frozenset(),
        {(1, 2): "tuple key", 3: "int key", Pid("a@h", 1, 0): "pid key", None: 0},
        {frozenset({1}): {2}},
        Pid("a@h", 1, 0),
        Pid("a@h", 2**80, -(2**70)),
        Ref("a@h", 2**70),
        Down(Ref("a@h", 1), Pid("b@h", 2, 3), ("shutdown", {"why": (1, [2])})),
        Exit(Pid("b@h", 2, 3), "noconnection"),
        CastRequest((Pid("a@h", 1, 0), "hello", 42)),
        [[[[((((1,),),),)]]]],
    ],
    ids=repr,
)
def test_round_trip_examples(value: Any) -> None:
    """Edge values of each type round-trip exactly (ints around the 64-bit bounds included)."""
    assert same(codec.decode(codec.encode(value)), value)


def test_nan_round_trips() -> None:
    """NaN survives (it never compares equal, so the property test leaves it out)."""
    assert math.isnan(codec.decode(codec.encode(float("nan"))))


def test_deep_tuple_nesting_round_trips() -> None:
    """A cons list of 200 nested tuples decodes in one pass (no stack per level)."""
    value: Any = ()
    for i in range(200):
        value = (i, value)
    assert codec.decode(codec.encode(value)) == value


def test_pid_cache_does_not_mix_pids() -> None:
    """Many distinct pids through one codec (past its caches' bound) all decode to themselves."""
    sent = [Pid("n@h", i, i % 3) for i in range(10_000)]
    assert [codec.decode(codec.encode(pid)) for pid in sent] == sent


# -- exceptions ---------------------------------------------------------------------------


class CustomError(Exception):
    """An importable exception with two constructor arguments."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def raised(exc: BaseException) -> BaseException:
    """``exc`` with a real traceback."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_builtin_exception_rebuilt_with_args_and_traceback() -> None:
    """A ValueError arrives as a ValueError with its args and the sender's traceback text."""
    exc = raised(ValueError("bad", 42))
    back = codec.decode(codec.encode(exc))
    assert type(back) is ValueError
    assert back.args == ("bad", 42)
    assert vars(back)["remote_traceback"] == "".join(traceback.format_exception(exc))
    assert "raise exc" in vars(back)["remote_traceback"]


def test_custom_importable_exception_rebuilt() -> None:
    """An exception class importable here is rebuilt with its constructor arguments."""
    back = codec.decode(codec.encode(raised(CustomError(7, "detail"))))
    assert type(back) is CustomError
    assert (back.code, back.detail) == (7, "detail")


def test_kernel_exception_rebuilt() -> None:
    """Exited (a kernel error carrying a reason) is rebuilt with its reason and destination."""
    back = codec.decode(codec.encode(Exited(ValueError("x"), Pid("a@h", 1, 0))))
    assert type(back) is Exited
    assert type(back.reason) is ValueError
    assert back.dest == Pid("a@h", 1, 0)


def test_unknown_exception_becomes_remote_exception() -> None:
    """An exception whose class cannot be found here arrives as a RemoteException."""

    def make() -> Exception:
        class LocalError(Exception):
            pass

        return raised(LocalError("went wrong"))  # type: ignore[return-value]

    back = codec.decode(codec.encode(make()))
    assert type(back) is RemoteException
    assert back.type_name.endswith("LocalError")
    assert back.module == __name__
    assert back.remote_args == ("went wrong",)
    assert "went wrong" in str(back)
    assert "LocalError" in str(back)
    assert back.traceback_text is not None
    assert "raise exc" in back.traceback_text
    assert back.remote_traceback == back.traceback_text


def test_exception_not_constructible_from_args_becomes_remote_exception() -> None:
    """A class whose args do not rebuild it (a custom __init__) falls back to RemoteException."""

    class Mismatch(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a}+{b}")

    data = codec.encode(Mismatch(1, 2))
    back = codec.decode(data)
    assert type(back) is RemoteException
    assert str(back).endswith(": 1+2")


def test_remote_exception_travels_as_the_original_type() -> None:
    """Sent on, a RemoteException is rebuilt as the real class by a node that has it."""
    remote = RemoteException("ValueError", "builtins", ("v",), "tb text")
    back = codec.decode(codec.encode(remote))
    assert type(back) is ValueError
    assert back.args == ("v",)
    assert vars(back)["remote_traceback"] == "tb text"


def test_base_exceptions_never_rebuilt() -> None:
    """KeyboardInterrupt or a cancellation never arrives as the real thing."""
    back = codec.decode(codec.encode(KeyboardInterrupt()))
    assert type(back) is RemoteException
    assert back.type_name == "KeyboardInterrupt"


def test_exception_with_unencodable_args_still_travels() -> None:
    """An exit reason whose args cannot be carried arrives as RemoteException with its text."""
    back = codec.decode(codec.encode(ValueError(object())))
    assert type(back) is RemoteException
    assert "object object at" in back.message


def test_exception_inside_exit_reason() -> None:
    """A crash reason inside a Down message round-trips as the exception."""
    down = Down(Ref("a@h", 1), Pid("a@h", 2, 0), raised(CustomError(1, "x")))
    back = codec.decode(codec.encode(down))
    assert type(back) is Down
    assert type(back.reason) is CustomError


# -- pickling -----------------------------------------------------------------------------


class Point:
    """A plain class msgpack cannot carry."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x

    __hash__ = None  # type: ignore[assignment]


class Named(NamedTuple):
    """A user NamedTuple: not flattened into a tuple."""

    a: int


def test_custom_object_refused_without_pickle() -> None:
    """Without allow_pickle an unknown object is an EncodeError naming its type and place."""
    with pytest.raises(EncodeError, match=r"Point at \[1\]\['k'\]\[0\]"):
        codec.encode((1, {"k": [Point(1)]}))


def test_set_element_location_named() -> None:
    """The error names a set element's place too."""
    with pytest.raises(EncodeError, match=r"Named at \[2\] set element"):
        codec.encode([0, 1, {Named(1)}])


@pytest.mark.parametrize("value", [Point(3), Named(1), OrderedDict(a=1), lambda: 1])
def test_unknown_types_round_trip_with_pickle(value: Any) -> None:
    """With allow_pickle on, objects outside the table round-trip through cloudpickle."""
    back = pickling.decode(pickling.encode(value))
    assert type(back) is type(value)
    if not callable(value):
        assert back == value


def test_pickle_refused_by_strict_decoder() -> None:
    """A codec without allow_pickle refuses a pickle instead of running it."""
    with pytest.raises(DecodeError, match="pickle"):
        codec.decode(pickling.encode(Point(1)))


def test_unpicklable_object_is_an_encode_error() -> None:
    """Something cloudpickle cannot pickle is an EncodeError, not a crash."""
    import threading

    with pytest.raises(EncodeError, match="lock"):
        pickling.encode({"lock": threading.Lock()})


def test_codec_usable_after_an_encode_error() -> None:
    """A failed encode leaves the codec (and its reused packer) working."""
    with pytest.raises(EncodeError):
        codec.encode([1, 2, Point(1)])
    assert codec.decode(codec.encode([1, 2])) == [1, 2]


@pytest.mark.parametrize(
    ("value", "match"),
    [("\ud800", "not valid Unicode"), ([[[[[[]]]]]] * 1, None)],
)
def test_other_encode_errors(value: Any, match: str | None) -> None:
    """Invalid strings are EncodeErrors; ordinary nesting is fine."""
    if match is None:
        codec.encode(value)
    else:
        with pytest.raises(EncodeError, match=match):
            codec.encode(value)


def test_too_deep_nesting_is_an_encode_error() -> None:
    """Nesting past msgpack's limit is an EncodeError, never a crash."""
    value: Any = []
    for _ in range(2000):
        value = [value]
    with pytest.raises(EncodeError, match="deep"):
        codec.encode(value)


# -- bad payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",  # empty
        b"\xc1",  # the never-used byte
        b"\x92\x01",  # truncated array
        b"\x01\x02",  # extra data
        b"\xdd\xff\xff\xff\xff",  # a 4G-element array in 5 bytes
        b"\xa2\xff\xfe",  # invalid UTF-8
        msgpack.packb(msgpack.ExtType(99, b"x")),  # unknown extension
        msgpack.packb(msgpack.ExtType(1, b"")),  # a bare marker
        msgpack.packb([msgpack.ExtType(4, b""), "n"]),  # a pid record missing fields
        msgpack.packb([msgpack.ExtType(4, b""), 1, 2, 3]),  # a pid record of wrong types
        msgpack.packb(msgpack.ExtType(31, b"\x01")),  # a packed pid that is not a list
        msgpack.packb(msgpack.ExtType(31, b"\x93\x01\x02")),  # a truncated packed pid
        msgpack.packb(msgpack.ExtType(32, b"")),  # an empty big int
        msgpack.packb([msgpack.ExtType(2, b""), []]),  # a set of an unhashable element
        msgpack.packb({(1,): 1}),  # a list as a map key
        msgpack.packb([msgpack.ExtType(6, b""), 1]),  # a Down with one field
        msgpack.packb([msgpack.ExtType(11, b""), "m", "N", 1, "x", None]),  # bad exception
    ],
    ids=repr,
)
def test_bad_payloads_raise_decode_error(data: bytes) -> None:
    """Garbage, unknown extensions and malformed records raise DecodeError, nothing else."""
    with pytest.raises(DecodeError):
        codec.decode(data)


@given(st.binary(max_size=64))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    """Arbitrary bytes either decode or raise DecodeError; no other exception escapes."""
    try:
        codec.decode(data)
    except DecodeError:
        pass


@given(values, st.data())
def test_truncated_payloads_raise_decode_error(value: Any, data: st.DataObject) -> None:
    """Any strict prefix of a valid payload is a DecodeError."""
    payload = codec.encode(value)
    cut = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    with pytest.raises(DecodeError):
        codec.decode(payload[:cut])


# -- values this node cannot rebuild, and the handshake's plain codec ----------------------


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (pickling.encode(("send", "x", Point(1))), "does not allow them"),
        (msgpack.packb(["send", "x", msgpack.ExtType(99, b"new")]), "unknown extension type 99"),
    ],
    ids=["refused_pickle", "unknown_extension"],
)
def test_a_value_that_cannot_be_rebuilt_leaves_the_rest_of_the_message(
    payload: bytes, why: str
) -> None:
    """A refused pickle or an unknown extension inside a well-formed message: DecodeError
    whose ``partial`` is the message, with an Undecodable in that place only."""
    with pytest.raises(DecodeError, match=why) as info:
        codec.decode(payload)
    partial = info.value.partial
    assert list(partial[:2]) == ["send", "x"]
    assert type(partial[2]).__name__ == "Undecodable"
    assert codec.decode(codec.encode(("ok",))) == ("ok",)  # the codec is clean after it


def test_a_pickle_of_a_class_the_receiver_cannot_import_is_partial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pickle naming a module this process cannot import (a class only the sender has,
    during a rolling deploy) is a partial DecodeError, not a broken payload."""
    import sys
    import types

    module = types.ModuleType("sender_only_module_for_wire_test")
    module.Thing = type("Thing", (), {"__module__": module.__name__})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    payload = pickling.encode(("send", "x", module.Thing()))  # type: ignore[attr-defined]
    monkeypatch.delitem(sys.modules, module.__name__)
    with pytest.raises(DecodeError, match="No module named 'sender_only_module") as info:
        pickling.decode(payload)
    assert info.value.partial[:2] == ("send", "x")


@pytest.mark.parametrize(
    "payload",
    [
        msgpack.packb(msgpack.ExtType(32, b"")),  # a malformed big int
        msgpack.packb([msgpack.ExtType(4, b""), "n"]),  # a malformed pid record
        b"\xc1",
    ],
    ids=repr,
)
def test_a_malformed_payload_has_no_partial(payload: bytes) -> None:
    """A payload that is not a message this codec wrote has no partial: the connection
    closes."""
    with pytest.raises(DecodeError) as info:
        codec.decode(payload)
    assert info.value.partial is None


def test_exception_lookup_never_runs_a_module_getattr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rebuilding an exception reads namespaces: a module's ``__getattr__`` (often a lazy
    import) never runs for a name a peer sent."""
    import sys
    import types

    asked: list[str] = []
    lazy = types.ModuleType("lazy_module_for_wire_test")

    def module_getattr(name: str) -> Any:
        asked.append(name)
        raise AttributeError(name)

    lazy.__getattr__ = module_getattr  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, lazy.__name__, lazy)
    record = msgpack.packb(
        [
            msgpack.ExtType(11, b""),
            lazy.__name__,
            "Heavy",
            [msgpack.ExtType(1, b""), "x"],
            "x",
            None,
        ]
    )
    rebuilt = codec.decode(record)
    assert isinstance(rebuilt, RemoteException)
    assert asked == []


@given(st.binary(max_size=256))
def test_the_plain_codec_decodes_or_raises_decode_error(data: bytes) -> None:
    """Arbitrary bytes from a stranger: plain msgpack values or DecodeError, nothing else."""
    from beamish.cluster._wire import PlainCodec

    try:
        value = PlainCodec().decode(data)
    except DecodeError:
        return
    assert not _holds_extension(value)


def _holds_extension(value: Any) -> bool:
    if isinstance(value, msgpack.ExtType):
        return True
    if isinstance(value, list):
        return any(_holds_extension(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_extension(k) or _holds_extension(v) for k, v in value.items())
    return False


@pytest.mark.parametrize(
    "value",
    [Point(1), ValueError("x"), (1, 2), {1, 2}, Pid("a@h", 1, 1)],
    ids=lambda value: type(value).__name__,  # stable across processes (pytest-xdist)
)
def test_the_plain_codec_refuses_every_extension(value: Any) -> None:
    """Pickles, exception records and even the codec's own records are refused."""
    from beamish.cluster._wire import PlainCodec

    with pytest.raises(DecodeError, match="extension type"):
        PlainCodec().decode(pickling.encode(value))
