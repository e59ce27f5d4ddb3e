"""When a replica pushes its entries to a peer unasked: once, at the peer's greeting after a
(re)connection; never because a heartbeat's clock lags by deltas still on their way."""

from beamish.replication import Gossip, Replica, State


def _pair() -> tuple[Gossip, Gossip]:
    """Two replicas that have heard each other."""
    a = Gossip(State(Replica("a@h", 1)), now=0, broadcast_period=1, max_silent_periods=1)
    b = Gossip(State(Replica("b@h", 1)), now=0, broadcast_period=1, max_silent_periods=1)
    for sender, receiver in ((a, b), (b, a)):
        [(_, hb)] = sender.tick(1).out
        receiver.receive(hb, 1)
    return a, b


def _kinds(step) -> list[str]:
    return [message[0] for _, message in step.out]


def test_a_heartbeat_that_lags_by_deltas_on_their_way_gets_no_transfer():
    """a writes and flushes k1, then k2 (two deltas to b, not arrived yet); b's heartbeat,
    sent meanwhile, shows a's version before both. a pushes nothing: the deltas carry it
    (a replica writing all the time would otherwise send its recent entries twice to each
    peer on each of its heartbeats)."""
    a, b = _pair()
    in_flight = []
    for key in ("k1", "k2"):
        a.state.put(key, "v")
        [(_, hb)] = a.tick(2).out
        in_flight.append(hb)
    b.state.put("x", "y")
    [(_, b_hb)] = b.tick(2).out
    assert _kinds(a.receive(b_hb, 2)) == []
    for hb in in_flight:
        assert _kinds(b.receive(hb, 2)) == []
    assert b.state.owned(a.state.me) == {"k1": "v", "k2": "v"}


def test_the_greeting_after_a_reconnection_gets_what_changed_while_apart_at_once():
    """a and b were apart while a wrote (its delta went nowhere). On the reconnection each
    greets the other; a answers b's greeting with a transfer, and b has a's entries after
    that one exchange, without asking."""
    a, b = _pair()
    a.state.put("k", "v")
    a.tick(2)  # its delta is lost: the connection is down
    [(_, a_hello)] = a.peer_connected("b@h").out
    [(_, b_hello)] = b.peer_connected("a@h").out
    asked = b.receive(a_hello, 3)  # b sees a's clock ahead of its copy: it asks
    assert _kinds(asked) == ["treq"]
    pushed = a.receive(b_hello, 3)
    assert _kinds(pushed) == ["tack"]
    assert [entry.value for entry in b.receive(pushed.out[0][1], 3).diff.joins] == ["v"]
    assert _kinds(a.receive(asked.out[0][1], 3)) == []  # pushed already: not twice


def test_only_the_first_heartbeat_after_a_reconnection_is_a_greeting():
    """After the greeting was answered, a later heartbeat that lags is not pushed to."""
    a, b = _pair()
    a.peer_connected("b@h")
    [(_, b_hello)] = b.peer_connected("a@h").out
    assert _kinds(a.receive(b_hello, 3)) == []  # nothing to push yet
    a.state.put("k", "v")
    a.tick(4)  # on its way to b
    b.state.put("x", "y")
    [(_, b_hb)] = b.tick(4).out
    assert _kinds(a.receive(b_hb, 4)) == []


def test_a_delta_every_peer_got_by_a_push_is_not_sent_again():
    """What a wrote while apart went to b in the push at b's greeting; a's next heartbeat
    carries its clock but not those entries a second time. A later change goes as a delta."""
    a, b = _pair()
    a.state.put("k", "v")  # apart: not sent before the reconnection
    a.peer_connected("b@h")
    [(_, b_hello)] = b.peer_connected("a@h").out
    [(_, push)] = a.receive(b_hello, 2).out
    b.receive(push, 2)
    [(_, hb)] = a.tick(3).out
    assert hb[0] == "hb"
    assert hb[3] is None  # no delta
    assert _kinds(b.receive(hb, 3)) == []  # b is not behind: nothing to ask
    a.state.put("k2", "v2")
    [(_, hb)] = a.tick(4).out
    assert [entry.value for entry in b.receive(hb, 4).diff.joins] == ["v2"]


def test_a_delta_goes_out_when_one_peer_was_not_pushed():
    """a knows b and c; only b was pushed a's change: the delta still goes out (for c)."""
    a, b = _pair()
    c = Gossip(State(Replica("c@h", 1)), now=0, broadcast_period=1, max_silent_periods=1)
    [(_, c_hb)] = c.tick(1).out
    a.receive(c_hb, 1)
    a.state.put("k", "v")
    a.peer_connected("b@h")
    [(_, b_hello)] = b.peer_connected("a@h").out
    a.receive(b_hello, 2)
    [(_, hb)] = a.tick(3).out
    assert hb[3] is not None
    c.receive(a.heartbeat(), 3)  # c learns a
    assert [entry.value for entry in c.receive(hb, 3).diff.joins] == ["v"]
