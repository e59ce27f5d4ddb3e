"""A consistent-hash ring of node names: which node owns a session id.

Pure: every node that knows the same live nodes picks the same owner, and a node
joining or leaving moves only the ids it owns or takes (about 1/n of them).

>>> ring = HashRing(["a@h", "b@h", "c@h"])
>>> ring.owner("user-1") == HashRing(["c@h", "a@h", "b@h"]).owner("user-1")
True
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable

VNODES = 64


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    """``VNODES`` points per node on a 64-bit ring; an id belongs to the first point at or
    after its own hash (wrapping around)."""

    __slots__ = ("_nodes", "_owners", "_points")

    def __init__(self, nodes: Iterable[str]) -> None:
        self._nodes = tuple(sorted(set(nodes)))
        if not self._nodes:
            raise ValueError("a hash ring needs at least one node")
        pairs = sorted((_point(f"{node}#{i}"), node) for node in self._nodes for i in range(VNODES))
        self._points = [p for p, _ in pairs]
        self._owners = [n for _, n in pairs]

    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes on the ring, sorted."""
        return self._nodes

    def owner(self, key: str) -> str:
        """The node that owns ``key``."""
        i = bisect.bisect_left(self._points, _point(key))
        return self._owners[i % len(self._owners)]
