"""The pg table's cached member lists always equal the lists built from its counts."""

from hypothesis import given, settings
from hypothesis import strategies as st

from beamish import Pid
from beamish.cluster._pg import GroupTable

PIDS = st.sampled_from([Pid(node, serial, 0) for node in ("a@h", "b@h") for serial in (1, 2)])
GROUPS = st.sampled_from(["g", ("room", 1)])
OPS = st.one_of(
    st.tuples(st.just("join"), GROUPS, st.lists(PIDS, max_size=3)),
    st.tuples(st.just("leave"), GROUPS, st.lists(PIDS, max_size=3)),
    st.tuples(st.just("remove_pid"), PIDS),
    st.tuples(st.just("remove_node"), st.sampled_from(["a@h", "b@h"])),
    st.tuples(st.just("read"), GROUPS),
)


def expected(table, group, node=None):
    by_node = table.groups.get(group, {})
    return [
        pid
        for owner, counts in by_node.items()
        if node is None or owner == node
        for pid, n in counts.items()
        for _ in range(n)
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=30))
def test_cached_member_lists_follow_every_change(ops):
    """Any sequence of joins, leaves, exits and node drops, interleaved with reads that
    fill the cache, leaves members() and node_members() equal to a fresh build."""
    table = GroupTable()
    for op, *args in ops:
        if op == "read":
            table.members(args[0])
            table.node_members(args[0], "a@h")
        else:
            getattr(table, op)(*args)
        for group in ("g", ("room", 1)):
            assert table.members(group) == expected(table, group)
            for node in ("a@h", "b@h"):
                assert table.node_members(group, node) == expected(table, group, node)
