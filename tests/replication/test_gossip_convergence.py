"""The replication protocol converges over a hostile network (hypothesis; pure simulation).

Messages between the pure ``Gossip`` machines of three nodes are held in a bag; the test
delivers them in any order, duplicates them or drops them, while the nodes write, tick and
restart. Then the network heals. Every replica must end with one view, and the diffs each
replica reported must add up to exactly that view (each join and leave reported once).
"""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beamish.replication import Gossip, Replica, ReplicationError, State

NODES = ["a@h", "b@h", "c@h"]
PERIOD = 1.0


class Sim:
    """Three replicas, a message bag, virtual time, and each replica's view built from
    nothing but the diffs it reported."""

    def __init__(self, max_silent_periods):
        self.now = 0.0
        self.silent = max_silent_periods
        self.incarnations = dict.fromkeys(NODES, 1)
        self.gossip = {node: self._new(node) for node in NODES}
        self.views = {node: Counter() for node in NODES}
        self.bag = []  # (to node, message)

    def _new(self, node):
        replica = Replica(node, self.incarnations[node])
        return Gossip(
            State(replica, max_delta_size=4),
            now=self.now,
            broadcast_period=PERIOD,
            down_period=1000.0,
            permdown_period=5000.0,
            max_silent_periods=self.silent,
        )

    def apply(self, node, diff):
        view = self.views[node]
        for entry in diff.leaves:
            view[entry] -= 1
            assert view[entry] >= 0, f"{node} reported a leave it never joined: {entry}"
            if not view[entry]:
                del view[entry]
        for entry in diff.joins:
            view[entry] += 1
            assert view[entry] == 1, f"{node} reported a join twice: {entry}"

    def run(self, node, step):
        self.apply(node, step.diff)
        for dest, message in step.out:
            for to in NODES if dest is None else [dest]:
                if to != node:
                    self.bag.append((to, message))

    def put(self, node, key, value):
        self.apply(node, self.gossip[node].state.put(key, value))

    def remove(self, node, key):
        self.apply(node, self.gossip[node].state.remove(key))

    def tick(self, node):
        self.now += 0.01
        self.run(node, self.gossip[node].tick(self.now))

    def deliver(self, index, keep=False):
        to, message = self.bag[index] if keep else self.bag.pop(index)
        self.run(to, self.gossip[to].receive(message, self.now))

    def restart(self, node):
        """The node's server restarts: a new incarnation with no entries; this replica's
        view restarts empty too (a new process has reported nothing yet)."""
        self.incarnations[node] += 1
        self.gossip[node] = self._new(node)
        self.views[node] = Counter()

    def heal(self, rounds):
        for _ in range(rounds):
            self.now += PERIOD
            for node in NODES:
                self.run(node, self.gossip[node].tick(self.now))
            while self.bag:
                self.deliver(0)

    def expected(self):
        """What everyone should see: each live replica's own entries."""
        return {
            (g.state.me, key, value)
            for g in self.gossip.values()
            for key, value in g.state.owned(g.state.me).items()
        }


OPS = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(NODES), st.integers(0, 4), st.integers(0, 2)),
    st.tuples(st.just("remove"), st.sampled_from(NODES), st.integers(0, 4)),
    st.tuples(st.just("tick"), st.sampled_from(NODES)),
    st.tuples(st.just("deliver"), st.integers(0, 1000)),
    st.tuples(st.just("duplicate"), st.integers(0, 1000)),
    st.tuples(st.just("drop"), st.integers(0, 1000)),
    st.tuples(st.just("restart"), st.sampled_from(NODES)),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OPS, max_size=80), max_silent=st.sampled_from([1, 3]))
def test_any_interleaving_duplication_reordering_and_loss_converges_after_healing(ops, max_silent):
    """Whatever the network did, after it heals every replica has every live replica's
    entries, no restarted replica's old ones, and a view made of its diffs equal to that."""
    sim = Sim(max_silent)
    for op in ops:
        kind = op[0]
        if kind == "put":
            sim.put(op[1], ("k", op[2]), op[3])
        elif kind == "remove":
            sim.remove(op[1], ("k", op[2]))
        elif kind == "tick":
            sim.tick(op[1])
        elif kind == "restart":
            sim.restart(op[1])
        elif sim.bag:
            index = op[1] % len(sim.bag)
            if kind == "drop":
                sim.bag.pop(index)
            else:
                sim.deliver(index, keep=kind == "duplicate")
    sim.heal(rounds=2 * max_silent + 3)
    expected = sim.expected()
    for node in NODES:
        state = sim.gossip[node].state
        assert set(state.visible()) == expected, node
        assert set(sim.views[node]) == expected, node


def test_a_silent_peer_is_down_then_permanently_down_and_comes_back_by_transfer():
    """No heartbeat for down_period: its entries leave (kept); for permdown_period: deleted;
    its next heartbeat brings it back with a full transfer."""
    a = Gossip(
        State(Replica("a@h", 1)),
        now=0,
        broadcast_period=1,
        down_period=3,
        permdown_period=10,
        max_silent_periods=1,
    )
    b = Gossip(
        State(Replica("b@h", 1)),
        now=0,
        broadcast_period=1,
        down_period=3,
        permdown_period=10,
        max_silent_periods=1,
    )
    a.state.put("k", "v")
    [(_, hb)] = a.tick(1).out
    assert [e.value for e in b.receive(hb, 1).diff.joins] == ["v"]
    assert b.tick(3.5).diff == ([], [])
    assert [e.value for e in b.tick(4.5).diff.leaves] == ["v"]
    assert b.state.owned(a.state.me) == {"k": "v"}
    assert not b.tick(11.5).diff  # already reported as left
    assert b.state.status(a.state.me) is None
    [(_, hb)] = a.tick(12).out
    step = b.receive(hb, 12)
    assert not step.diff
    # a never heard of b: b introduces itself, and asks a for a transfer
    assert sorted(m[0] for _, m in step.out) == ["hb", "treq"]
    treq = next(m for _, m in step.out if m[0] == "treq")
    tack = next(m for _, m in a.receive(treq, 12).out if m[0] == "tack")
    assert [e.value for e in b.receive(tack, 12).diff.joins] == ["v"]


def test_graceful_permdown_removes_at_once():
    """A replica leaving gracefully is dropped by its peers immediately."""
    a = Gossip(State(Replica("a@h", 1)), now=0)
    b = Gossip(State(Replica("b@h", 1)), now=0)
    a.state.put("k", "v")
    b.receive(a.tick(1.5).out[0][1], 1.5)
    [(_, bye)] = a.graceful_permdown().out
    assert [e.value for e in b.receive(bye, 2).diff.leaves] == ["v"]


@pytest.mark.parametrize(
    "message",
    [
        "hb",
        ("hb",),
        ("hb", 1, 2, None, []),
        ("hb", "x@h", "1", None, []),
        ("hb", "x@h", 1, ("d", "x@h", 1, 5, 2, [], []), []),
        ("hb", "x@h", 1, ("d", "x@h", 1, 0, 1, [([1], 1, 2)], []), []),
        ("hb", "x@h", 1, None, [("y@h", 1, -1)]),
        ("hb", "x@h", 1, None, 5),
        ("tack", "x@h", 1, [("s", "x@h", 1, 1, [(1,)])]),
        ("nope", "x@h", 1),
    ],
)
def test_a_malformed_message_is_a_replication_error(message):
    """Bad input from a peer raises ReplicationError (the shell drops it) and changes
    nothing."""
    g = Gossip(State(Replica("a@h", 1)), now=0)
    with pytest.raises(ReplicationError):
        g.receive(message, 1)
    assert g.state.replicas() == {g.state.me: "up"}


def test_periods_are_validated():
    """Phoenix's constraints: down_period >= 2 broadcast periods, permdown > down."""
    with pytest.raises(ValueError, match="twice"):
        Gossip(State(Replica("a@h", 1)), now=0, broadcast_period=1, down_period=1.5)
    with pytest.raises(ValueError, match="larger"):
        Gossip(State(Replica("a@h", 1)), now=0, down_period=30, permdown_period=30)


def test_a_peer_may_send_only_its_own_entries():
    """A heartbeat or transfer carrying another owner's entries is refused whole: a peer
    cannot write into a third party's table."""
    a = Gossip(State(Replica("a@h", 1)), now=0)
    victim = Replica("v@h", 1)
    a.state.replica_up(victim)
    forged = ("d", "v@h", 1, 0, 1, [("k", 1, "forged")], [])
    with pytest.raises(ReplicationError, match="entries of"):
        a.receive(("hb", "x@h", 1, forged, []), 1)
    with pytest.raises(ReplicationError, match="entries of"):
        a.receive(("tack", "x@h", 1, [("s", "v@h", 1, 1, [("k", "forged")])]), 1)
    assert a.state.owned(victim) == {}


def test_accept_refuses_a_message_with_an_entry_it_does_not_take():
    """``accept(key, value)`` vets every entry a peer sends; one refusal drops the message."""
    a = Gossip(State(Replica("a@h", 1)), now=0, accept=lambda key, value: isinstance(value, int))
    good = ("d", "x@h", 1, 0, 2, [("k", 1, 5), ("j", 2, "not an int")], [])
    with pytest.raises(ReplicationError, match="not accepted"):
        a.receive(("hb", "x@h", 1, good, []), 1)
    assert a.state.owned(Replica("x@h", 1)) == {}
