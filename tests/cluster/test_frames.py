"""The typed frames: every kind round-trips through the codec, and garbage in any checked
field, a wrong field count or an unknown kind is refused with the field named."""

import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beamish.actors import Pid, Ref
from beamish.cluster import Cluster, Codec
from beamish.cluster import _frames as frames
from beamish.cluster.transports import MemoryNetwork

node_names = st.text(min_size=1, max_size=12).map(lambda s: s + "@h")
pids = st.builds(Pid, node_names, st.integers(0, 2**40), st.integers(0, 2**31 - 1))
refs = st.builds(Ref, node_names, st.integers(0, 2**62))
named = st.tuples(st.text(max_size=12), node_names)
targets = st.one_of(pids, named)
anything = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(), pids, refs),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple)),
    max_leaves=12,
)

FIELDS = {  # a strategy per field of each kind
    "send": (pids, anything),
    "send_name": (st.text(max_size=20), anything),
    "call": (targets, anything),
    "reply": (pids, refs, anything),
    "spawned": (pids, refs, pids, st.booleans()),
    "down": (pids, refs, st.one_of(st.none(), targets), anything),
    "link": (pids, pids),
    "unlink": (pids, pids),
    "exit": (pids, targets, anything, st.booleans()),
    "monitor": (pids, refs, targets),
    "demonitor": (refs, targets),
    "spawn": (
        pids,
        refs,
        st.text(min_size=1, max_size=30),
        st.lists(anything, max_size=3).map(tuple),
        st.booleans(),
    ),
    "address": (st.one_of(st.none(), st.text(max_size=30)),),
    "peers": (st.dictionaries(node_names, st.text(max_size=20), max_size=4),),
}

# a value that fails each field's check (None where None is valid is not garbage there)
GARBAGE = {
    "not a pid": ("a@h", 1, 2),
    "not a reference": 7,
    "not a bool": 1,
    "not a str": b"name",
    "not a pid or a (name, node)": ("name", "node", "extra"),
    "not a pid, a (name, node) or None": ["name", "node"],
    "not a function reference": 42,
    "not a tuple": [1, 2],
    "not an address or None": 4370,
    "not a {name@host: address} dict": {"no-at-sign": "mem://x"},
}


def test_every_kind_has_field_strategies():
    """The round-trip test below covers every kind the module defines."""
    assert set(FIELDS) == set(frames.KINDS)


@st.composite
def wire_frames(draw):
    kind = draw(st.sampled_from(sorted(FIELDS)))
    return (kind, *(draw(field) for field in FIELDS[kind]))


@settings(max_examples=200, deadline=None)
@given(message=wire_frames())
def test_every_frame_round_trips_through_the_codec(message):
    """wire(parse(x)) == x, and x survives the codec as the same record."""
    frame = frames.parse(message)
    assert type(frame) is frames.KINDS[message[0]]
    assert frames.wire(frame) == message
    codec = Codec()
    assert frames.parse(codec.decode(codec.encode(frames.wire(frame)))) == frame


@settings(max_examples=200, deadline=None)
@given(message=wire_frames(), data=st.data())
def test_garbage_in_any_checked_field_is_refused_by_name(message, data):
    """Garbage in one checked field raises BadFrame naming the kind and that field."""
    kind = frames.KINDS[message[0]]
    checks = frames._CHECKS[kind]
    checked = [i for i, check in enumerate(checks) if check.__doc__]
    index = data.draw(st.sampled_from(checked))
    broken = list(message)
    broken[index + 1] = GARBAGE[checks[index].__doc__]
    with pytest.raises(frames.BadFrame, match=rf"^{message[0]}\.{kind._fields[index]}: "):
        frames.parse(tuple(broken))


@given(message=wire_frames(), extra=st.booleans())
def test_a_wrong_number_of_fields_is_refused(message, extra):
    """One field too many or too few: BadFrame with the counts."""
    broken = (*message, "extra") if extra else message[:-1]
    with pytest.raises(frames.BadFrame, match="fields, expected"):
        frames.parse(broken)


@pytest.mark.parametrize(
    "message", [("format_disk", "/"), (b"send", 1), (1,), ("tick",), ("Send", None, None)]
)
def test_an_unknown_kind_is_refused(message):
    """A kind this node does not know raises UnknownFrame."""
    with pytest.raises(frames.UnknownFrame):
        frames.parse(message)


@pytest.mark.parametrize("message", [(), [], "send", None, ["send", None, None]])
def test_what_is_not_a_tuple_is_not_a_frame(message):
    """An empty tuple, a list, a string: BadFrame."""
    with pytest.raises(frames.BadFrame, match="not a frame"):
        frames.parse(message)


@pytest.mark.anyio
async def test_the_mesh_handles_every_kind_with_a_handler_taking_its_fields(node):
    """Every kind has a handler in the mesh's dispatch table, and each handler takes the
    record's fields in the record's order (after the connection)."""
    the_cluster = Cluster(node, MemoryNetwork().transport(node.name), cookie="frames")
    assert set(the_cluster._handlers) == set(frames.KINDS)
    for kind, handler in the_cluster._handlers.items():
        parameters = list(inspect.signature(handler).parameters)[1:]
        assert parameters == list(frames.KINDS[kind]._fields), kind
