"""The rule that keeps one connection per peer (``_admission.admit``), property-tested."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from beamish.cluster._admission import (
    ALREADY_CONNECTED,
    DUPLICATE_NAME,
    SIMULTANEOUS,
    THIS_NODE,
    admit,
)

names = st.text("abcz@.", min_size=1, max_size=6)
creations = st.integers(min_value=0, max_value=3)


def survivor(node, peer, arrivals):
    """The handshake ``node`` keeps of ``arrivals``: each a (label, dialer), decided in that
    order against the one kept so far (none connected yet)."""
    kept = None  # (label, dialer)
    for label, dialer in arrivals:
        verdict = admit(
            node,
            peer,
            dialer=dialer,
            connected=None,
            pending=(kept[1], peer[1]) if kept is not None else None,
        )
        if verdict.refused is None:
            assert verdict.supersedes == (kept is not None)
            kept = (label, dialer)
        else:
            assert verdict.refused == SIMULTANEOUS
    return kept


@given(names, names, creations, creations, st.booleans(), st.booleans())
def test_two_nodes_dialling_each_other_keep_the_same_handshake(
    a, b, creation_a, creation_b, a_first_on_a, a_first_on_b
):
    """A dials B while B dials A: whatever order each node decides in, both keep one
    handshake, the same one, dialled by the smaller name."""
    if a == b:
        return
    dials = [("from a", a), ("from b", b)]
    on_a = survivor((a, creation_a), (b, creation_b), dials if a_first_on_a else dials[::-1])
    on_b = survivor((b, creation_b), (a, creation_a), dials if a_first_on_b else dials[::-1])
    assert on_a == on_b == (("from a", a) if a < b else ("from b", b))


@given(names, creations, creations, names)
def test_the_same_node_dialling_twice_keeps_the_older(peer, creation, own_creation, own):
    if own == peer:
        return
    older = admit((own, own_creation), (peer, creation), dialer=peer, connected=None, pending=None)
    newer = admit(
        (own, own_creation), (peer, creation), dialer=peer, connected=None, pending=(peer, creation)
    )
    assert older.refused is None
    assert newer.refused == SIMULTANEOUS


@given(names, creations, creations, names, st.one_of(st.none(), st.tuples(names, creations)))
def test_a_live_connection_wins_and_another_creation_is_a_duplicate(
    peer, creation, connected, dialer, pending
):
    """Whatever handshake is under way besides (a connection has just been made)."""
    verdict = admit(
        ("me@h", 0), (peer, creation), dialer=dialer, connected=connected, pending=pending
    )
    if peer == "me@h":
        assert verdict.refused in (THIS_NODE, DUPLICATE_NAME)
    else:
        assert verdict.refused == (ALREADY_CONNECTED if connected == creation else DUPLICATE_NAME)
    assert not verdict.supersedes


@given(creations, creations)
def test_a_node_claiming_this_nodes_name(own, claimed):
    verdict = admit(("me@h", own), ("me@h", claimed), dialer="x", connected=None, pending=None)
    assert verdict.refused == (THIS_NODE if own == claimed else DUPLICATE_NAME)


@given(names, creations, creations, names, names)
def test_a_newcomer_with_another_creation_than_the_handshake_under_way_is_a_duplicate(
    peer, creation, other, dialer, other_dialer
):
    verdict = admit(
        ("me@h", 0), (peer, creation), dialer=dialer, connected=None, pending=(other_dialer, other)
    )
    if peer != "me@h" and other != creation:
        assert verdict.refused == DUPLICATE_NAME
