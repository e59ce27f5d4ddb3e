"""The node handshake: mutual HMAC-SHA256 challenge-response on a shared cookie (pure).

>>> a = Initiator("a@host", 1, b"secret", nonce=b"n" * 32)
>>> b = Acceptor("b@host", 2, b"secret", nonce=b"m" * 32)
>>> challenge = b.on_hello(a.hello())
>>> proof = a.on_challenge(challenge)
>>> welcome = b.on_proof(proof)
>>> a.on_welcome(welcome), b.peer
(Peer(name='b@host', creation=2), Peer(name='a@host', creation=1))
>>> impostor = Acceptor("c@host", 3, b"a guess")
>>> newcomer = Initiator("d@host", 4, b"secret")
>>> try:
...     newcomer.on_challenge(impostor.on_hello(newcomer.hello()))
... except HandshakeError as error:
...     print(error)
handshake refused: c@host did not prove the cookie

The cookie never crosses the wire: each side sends a random nonce and proves it knows the
cookie by answering the *other* side's nonce with an HMAC keyed by the cookie. A proof
covers its role (``"acceptor"`` or ``"initiator"``), the nonce it answers, the prover's
name and the verifier's name (see :func:`proof_of`), so no proof is good for anything else:
in particular an acceptor, which answers any nonce a stranger sends it, never hands out a
proof that would let the stranger pass as an initiator, to it or to another node. Messages
are plain dicts (the connection encodes them as plain msgpack, before anything is trusted):

1. initiator -> acceptor: ``{"hello": VERSION, "name", "creation", "nonce", "flags"}``
2. acceptor -> initiator: ``{"challenge": VERSION, "name", "creation", "nonce", "proof",
   "flags"}`` (the acceptor's proof over the initiator's nonce)
3. initiator -> acceptor: ``{"proof"}`` (the initiator's proof over the acceptor's nonce)
4. acceptor -> initiator: ``{"welcome": VERSION}``

Any deviation raises ``HandshakeError``; the connection closes and logs it. ``flags`` (see
:data:`FLAGS`) may be missing: a peer that sends none gets the base protocol.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, NamedTuple

import msgpack

VERSION = 2  # 2: proofs cover the role and both names (1 let a stranger borrow a proof)
NONCE_BYTES = 32
MAX_NAME = 1024  # characters in a node name


class HandshakeError(Exception):
    """The peer failed the handshake: wrong cookie, wrong version, or a malformed message."""


class Peer(NamedTuple):
    """Who is on the other end once the handshake succeeded."""

    name: str
    creation: int


def proof_of(cookie: bytes, role: str, nonce: bytes, prover: str, verifier: str) -> bytes:
    """``HMAC-SHA256(cookie, [VERSION, role, nonce, prover, verifier])`` (msgpack-encoded,
    so no two inputs share an encoding): proves the cookie without revealing it.

    >>> mine = proof_of(b"cookie", "acceptor", b"nonce", "b@h", "a@h")
    >>> mine != proof_of(b"cookie", "initiator", b"nonce", "b@h", "a@h")
    True
    """
    message = msgpack.packb([VERSION, role, nonce, prover, verifier], use_bin_type=True)
    return hmac.new(cookie, message, hashlib.sha256).digest()


def _field(message: Any, key: str, kind: type) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get(key), kind):
        raise HandshakeError(f"handshake refused: malformed message (no {key!r})")
    return message[key]


def _check_version(message: Any, key: str) -> None:
    if _field(message, key, int) != VERSION:
        raise HandshakeError(
            f"handshake refused: protocol {message[key]} (this node speaks {VERSION})"
        )


def _peer(message: Any, own_name: str) -> Peer:
    name = _field(message, "name", str)
    if "@" not in name or len(name) > MAX_NAME:
        raise HandshakeError(f"handshake refused: bad node name {name[:MAX_NAME]!r}")
    if name == own_name:
        raise HandshakeError(f"handshake refused: the peer claims this node's name {name}")
    return Peer(name, _field(message, "creation", int))


def _nonce(message: Any) -> bytes:
    nonce: bytes = _field(message, "nonce", bytes)
    if not 16 <= len(nonce) <= 64:
        raise HandshakeError(f"handshake refused: a nonce of {len(nonce)} bytes (16 to 64)")
    return nonce


FLAGS: tuple[str, ...] = ("flat",)
"""What this node's frames may use beyond the base protocol, announced in the hello and the
challenge (Erlang's distribution flags): ``"flat"``, the flat form of the hot frames (see
``_wire``). A peer that does not announce a flag is sent nothing that needs it."""
MAX_FLAGS = 32


def _flags(message: Any) -> frozenset[str]:
    """The flags a peer announced (an old peer announces none; garbage counts as none)."""
    flags = message.get("flags") if isinstance(message, dict) else None
    if type(flags) is not list or len(flags) > MAX_FLAGS:
        return frozenset()
    return frozenset(flag for flag in flags if type(flag) is str and len(flag) <= 64)


class Initiator:
    """The side that connected."""

    def __init__(self, name: str, creation: int, cookie: bytes, nonce: bytes | None = None):
        self.name, self.creation, self._cookie = name, creation, cookie
        self._nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
        self.peer: Peer | None = None
        self.peer_flags: frozenset[str] = frozenset()

    def hello(self) -> dict[str, Any]:
        return {
            "hello": VERSION,
            "name": self.name,
            "creation": self.creation,
            "nonce": self._nonce,
            "flags": list(FLAGS),
        }

    def on_challenge(self, message: Any) -> dict[str, Any]:
        _check_version(message, "challenge")
        peer = _peer(message, self.name)
        expected = proof_of(self._cookie, "acceptor", self._nonce, peer.name, self.name)
        if not hmac.compare_digest(_field(message, "proof", bytes), expected):
            raise HandshakeError(f"handshake refused: {peer.name} did not prove the cookie")
        nonce = _nonce(message)
        self.peer = peer
        self.peer_flags = _flags(message)
        return {"proof": proof_of(self._cookie, "initiator", nonce, self.name, peer.name)}

    def on_welcome(self, message: Any) -> Peer:
        _check_version(message, "welcome")
        if self.peer is None:
            raise HandshakeError("handshake refused: welcome before challenge")
        return self.peer


class Acceptor:
    """The side that accepted the connection."""

    def __init__(self, name: str, creation: int, cookie: bytes, nonce: bytes | None = None):
        self.name, self.creation, self._cookie = name, creation, cookie
        self._nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
        self._claimed: Peer | None = None
        self.peer: Peer | None = None
        self.peer_flags: frozenset[str] = frozenset()

    def on_hello(self, message: Any) -> dict[str, Any]:
        _check_version(message, "hello")
        claimed = self._claimed = _peer(message, self.name)
        nonce = _nonce(message)
        self.peer_flags = _flags(message)
        return {
            "challenge": VERSION,
            "name": self.name,
            "creation": self.creation,
            "nonce": self._nonce,
            "proof": proof_of(self._cookie, "acceptor", nonce, self.name, claimed.name),
            "flags": list(FLAGS),
        }

    def on_proof(self, message: Any) -> dict[str, Any]:
        if self._claimed is None:
            raise HandshakeError("handshake refused: proof before hello")
        expected = proof_of(self._cookie, "initiator", self._nonce, self._claimed.name, self.name)
        if not hmac.compare_digest(_field(message, "proof", bytes), expected):
            raise HandshakeError(
                f"handshake refused: {self._claimed.name} did not prove the cookie"
            )
        self.peer = self._claimed
        return {"welcome": VERSION}
