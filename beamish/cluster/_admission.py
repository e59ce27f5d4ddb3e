"""Which connection to a peer survives: the one rule both ends of a handshake apply (pure).

>>> admit(("a@h", 1), ("b@h", 7), dialer="b@h", connected=None, pending=("a@h", 7))
Admission(refused='a simultaneous connection wins', supersedes=False)
>>> admit(("b@h", 7), ("a@h", 1), dialer="b@h", connected=None, pending=("a@h", 1))
Admission(refused='a simultaneous connection wins', supersedes=False)

A node holds at most one connection per peer, settled inside the handshake before any
message crosses. A node decides when it learns who the peer is (the dialler when the
challenge names it, the acceptor when the proof arrives), from what it holds for that peer:

- the peer claims this node's own name: refused (``THIS_NODE`` if it is this very node,
  dialling itself; ``DUPLICATE_NAME`` if it is another node of the same name);
- a live connection to the peer: it wins (``ALREADY_CONNECTED``), unless the newcomer has
  another creation, which makes it a second node of the same name (``DUPLICATE_NAME``, as
  Erlang refuses a duplicate name);
- another handshake with the peer under way: of the two, the one dialled by the node with
  the smaller name wins (``SIMULTANEOUS`` for the loser), the same handshake twice from one
  node keeps the older; a newcomer with another creation than the one under way is a
  duplicate. When the new handshake wins, the one under way loses (``supersedes``).

Both nodes apply the same rule to the same pair of handshakes, so they keep the same one.
"""

from __future__ import annotations

from typing import NamedTuple

ALREADY_CONNECTED = "already connected"
SIMULTANEOUS = "a simultaneous connection wins"
DUPLICATE_NAME = "duplicate node name"
THIS_NODE = "this node"


class Admission(NamedTuple):
    """What a node does with a handshake: ``refused`` is why it stops (None: it goes on);
    ``supersedes``: it goes on, and the other handshake under way with the peer loses."""

    refused: str | None
    supersedes: bool


def admit(
    own: tuple[str, int],
    peer: tuple[str, int],
    *,
    dialer: str,
    connected: int | None,
    pending: tuple[str, int | None] | None,
) -> Admission:
    """The verdict on a handshake with ``peer`` (name, creation), dialled by ``dialer``.

    ``own`` is this node's (name, creation); ``connected`` the creation of the peer of that
    name this node is connected to (None: not connected); ``pending`` the (dialer, creation,
    None until the peer proved who it is) of another handshake under way with that name.
    """
    name, creation = peer
    if name == own[0]:
        return Admission(THIS_NODE if creation == own[1] else DUPLICATE_NAME, False)
    if connected is not None:
        return Admission(ALREADY_CONNECTED if connected == creation else DUPLICATE_NAME, False)
    if pending is None:
        return Admission(None, False)
    other_dialer, other_creation = pending
    if other_creation is not None and other_creation != creation:
        return Admission(DUPLICATE_NAME, False)
    if other_dialer <= dialer:
        return Admission(SIMULTANEOUS, False)
    return Admission(None, True)
