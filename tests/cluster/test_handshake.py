"""The handshake (pure): both sides must prove the cookie, and no proof is good twice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beamish.cluster._handshake import Acceptor, HandshakeError, Initiator

names = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}", fullmatch=True)
nonces = st.binary(min_size=16, max_size=64)


@given(names, names, st.binary(min_size=1, max_size=16), nonces, nonces)
def test_matching_cookies_shake_hands(a: str, b: str, cookie: bytes, na: bytes, nb: bytes) -> None:
    """Two sides with one cookie end up knowing each other."""
    if a == b:
        return
    initiator = Initiator(a, 1, cookie, nonce=na)
    acceptor = Acceptor(b, 2, cookie, nonce=nb)
    proof = initiator.on_challenge(acceptor.on_hello(initiator.hello()))
    assert initiator.on_welcome(acceptor.on_proof(proof)).name == b
    assert acceptor.peer is not None
    assert acceptor.peer.name == a


@given(names, names, names, st.binary(min_size=1, max_size=16), nonces, nonces)
def test_an_acceptors_answer_never_passes_as_an_initiators_proof(
    victim: str, oracle: str, claimed: str, cookie: bytes, nonce: bytes, mallory_nonce: bytes
) -> None:
    """A stranger asks ``victim`` for a challenge claiming to be ``claimed``, then sends its
    nonce to ``oracle`` (which has the cookie, and may be ``victim`` itself) as its own:
    the proof in ``oracle``'s challenge never satisfies ``victim``."""
    if claimed == victim:
        return
    target = Acceptor(victim, 1, cookie, nonce=nonce)
    challenge = target.on_hello(
        {"hello": 2, "name": claimed, "creation": 1, "nonce": mallory_nonce}
    )
    helper = Acceptor(oracle, 2, cookie)
    try:
        answer = helper.on_hello(
            {"hello": 2, "name": "mallory@x", "creation": 1, "nonce": challenge["nonce"]}
        )
    except HandshakeError:
        return
    with pytest.raises(HandshakeError, match="did not prove the cookie"):
        target.on_proof({"proof": answer["proof"]})


def test_a_peer_claiming_the_nodes_own_name_is_refused() -> None:
    """Both sides refuse a peer that claims their own name."""
    acceptor = Acceptor("a@h", 1, b"k")
    with pytest.raises(HandshakeError, match="this node's name"):
        acceptor.on_hello(Initiator("a@h", 2, b"k").hello())
    initiator = Initiator("b@h", 1, b"k")
    challenge = Acceptor("b@h", 2, b"k").on_hello(Initiator("c@h", 3, b"k").hello())
    with pytest.raises(HandshakeError, match="this node's name"):
        initiator.on_challenge(challenge)


@pytest.mark.parametrize("size", [0, 15, 65, 4096])
def test_a_nonce_of_the_wrong_size_is_refused(size: int) -> None:
    """Nonces are 16 to 64 bytes: no weak challenge, no large one."""
    hello = {**Initiator("b@h", 1, b"k").hello(), "nonce": b"n" * size}
    with pytest.raises(HandshakeError, match="nonce"):
        Acceptor("a@h", 1, b"k").on_hello(hello)


def test_a_huge_name_is_refused() -> None:
    hello = {**Initiator("b@h", 1, b"k").hello(), "name": "b@" + "h" * 5000}
    with pytest.raises(HandshakeError, match="bad node name"):
        Acceptor("a@h", 1, b"k").on_hello(hello)
