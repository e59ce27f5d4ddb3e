"""The replication core's merge laws (hypothesis; pure, no event loop)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from beamish.replication import Delta, OwnerState, Replica, State

OWNERS = [Replica(f"n{i}@h", 1) for i in range(3)]
KEYS = st.sampled_from(["a", "b", "c", ("t", 1), ("t", 2)])
VALUES = st.integers(0, 3)


@st.composite
def histories(draw, max_ops=25):
    """Each owner's history: its full states after every write, and deltas taken along it
    (take_delta at random points, delta_since from random versions)."""
    fulls: dict[Replica, list[OwnerState]] = {}
    deltas: list[Delta] = []
    for owner in OWNERS:
        state = State(owner, max_delta_size=draw(st.sampled_from([2, 5, 10_000])))
        states = [OwnerState(owner, 0, {})]
        for _ in range(draw(st.integers(0, max_ops))):
            if draw(st.booleans()):
                state.put(draw(KEYS), draw(VALUES))
            else:
                state.remove(draw(KEYS))
            if states[-1].version != state.version(owner):
                states.append(state.snapshot([owner])[0])
            if draw(st.integers(0, 3)) == 0:
                delta, _ = state.take_delta()
                if delta is not None:
                    deltas.append(delta)
            since = draw(st.integers(0, state.version(owner)))
            delta = state.delta_since(since)
            if delta is not None:
                deltas.append(delta)
        fulls[owner] = states
    return fulls, deltas


def observer(*updates):
    """A replica that knows every owner as up and has merged ``updates`` in order."""
    state = State(Replica("observer@h", 1))
    for owner in OWNERS:
        state.replica_up(owner)
    for update in updates:
        state.merge(update)
    return state


def view(state):
    """The lattice element a replica holds: owner -> (version, entries)."""
    return {s.owner: (s.version, s.entries) for s in state.snapshot(OWNERS)}


@st.composite
def elements(draw, fulls):
    """A lattice element: for some owners, one of their full states."""
    return [draw(st.sampled_from(fulls[owner])) for owner in OWNERS if draw(st.booleans())]


@settings(max_examples=200, deadline=None)  # pure: timing under load is no property
@given(st.data())
def test_merge_is_commutative_associative_and_idempotent(data):
    """Merging full states in any order and grouping, any number of times, gives one state."""
    fulls, _ = data.draw(histories())
    x, y, z = (data.draw(elements(fulls)) for _ in range(3))
    assert view(observer(*x, *y)) == view(observer(*y, *x))
    xy = observer(*x, *y).snapshot(OWNERS)
    yz = observer(*y, *z).snapshot(OWNERS)
    assert view(observer(*xy, *z)) == view(observer(*x, *yz))
    assert view(observer(*x, *x)) == view(observer(*x))


def _sorted(entries):
    return sorted(entries, key=repr)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_delta_applied_equals_the_full_state_merge(data):
    """A delta applied where it fits gives the same state and the same diff as merging the
    owner's full state at the delta's end; where it does not fit, it is a gap or a no-op."""
    fulls, deltas = data.draw(histories())
    if not deltas:
        return
    delta = data.draw(st.sampled_from(deltas))
    base = data.draw(st.sampled_from(fulls[delta.owner]))
    end_state = next(s for s in fulls[delta.owner] if s.version == delta.end)
    by_delta, by_full = observer(base), observer(base)
    merged_delta, merged_full = by_delta.merge(delta), by_full.merge(end_state)
    if base.version < delta.start:
        assert merged_delta.gaps == {delta.owner}
        assert view(by_delta) == view(observer(base))
        return
    assert not merged_delta.gaps
    assert view(by_delta) == view(by_full)
    assert _sorted(merged_delta.diff.joins) == _sorted(merged_full.diff.joins)
    assert _sorted(merged_delta.diff.leaves) == _sorted(merged_full.diff.leaves)


@settings(deadline=None)
@given(st.data())
def test_down_hides_up_shows_permdown_forgets(data):
    """Down hides an owner's entries (leaves), up shows them (joins), permdown deletes them,
    and the diffs say exactly that."""
    fulls, _ = data.draw(histories())
    owner = OWNERS[0]
    full = fulls[owner][-1]
    state = observer(full)
    entries = sorted(full.entries.items(), key=repr)

    def pairs(diff_entries):
        return sorted(((e.key, e.value) for e in diff_entries), key=repr)

    assert pairs(state.replica_down(owner).leaves) == entries
    assert not any(e.owner == owner for e in state.visible())
    assert pairs(state.replica_up(owner).joins) == entries
    assert pairs(state.replica_permdown(owner).leaves) == entries
    assert state.status(owner) is None
    assert state.owned(owner) == {}
    assert not state.merge(full).diff  # an owner no longer known is ignored


def test_a_newer_incarnation_replaces_the_older_and_the_older_never_returns():
    """A restart (larger incarnation) permdowns the old replica; its late updates and
    heartbeats are refused."""
    old, new = Replica("n@h", 1), Replica("n@h", 2)
    owner_old = State(old)
    owner_old.put("k", "old")
    state = State(Replica("observer@h", 1))
    state.replica_up(old)
    state.merge(owner_old.snapshot([old]))
    diff = state.replica_up(new)
    assert [(e.owner, e.value) for e in diff.leaves] == [(old, "old")]
    assert state.status(old) is None
    assert state.is_stale(old)
    assert not state.replica_up(old)
    assert state.status(old) is None
    assert not state.merge(owner_old.snapshot([old])).diff


def test_tombstones_are_bounded_and_an_old_delta_is_refused():
    """Past ``max_delta_size`` removals, a delta from before the dropped tombstones is not
    offered (a snapshot must be sent), while recent ones still are."""
    me = Replica("n@h", 1)
    state = State(me, max_delta_size=3)
    for i in range(6):
        state.put(i, i)
    for i in range(6):
        state.remove(i)
    assert state.delta_since(0) is None
    recent = state.delta_since(10)
    assert recent is not None
    assert set(recent.removes) == {4, 5}


def test_an_oversized_pending_delta_is_not_built():
    """More pending changes than ``max_delta_size``: no delta, but the change is reported
    so the heartbeat still carries the clock."""
    state = State(Replica("n@h", 1), max_delta_size=2)
    for i in range(3):
        state.put(i, i)
    assert state.take_delta() == (None, True)
    assert state.take_delta() == (None, False)
    state.put("x", 1)
    delta, changed = state.take_delta()
    assert changed
    assert delta is not None
    assert delta.start == 3
    assert delta.end == 4
