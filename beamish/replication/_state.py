"""The replicated state: per-owner versioned maps, with deltas and liveness (pure).

The contract is in ``beamish.replication``.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any, Literal, NamedTuple

Status = Literal["up", "down"]


class Replica(NamedTuple):
    """One run of one owner: its node name and the incarnation of the process that owns the
    entries. A restart under the same name has a larger incarnation: a new replica."""

    node: str
    incarnation: int


_last_incarnation = 0


def new_incarnation() -> int:
    """A fresh incarnation: wall-clock microseconds, strictly increasing in this process.

    >>> a, b = new_incarnation(), new_incarnation()
    >>> a < b
    True
    """
    global _last_incarnation
    _last_incarnation = max(_last_incarnation + 1, time.time_ns() // 1000)
    return _last_incarnation


class Entry(NamedTuple):
    """One entry as a diff reports it: who owns it, its key and its value."""

    owner: Replica
    key: Any
    value: Any


class Diff(NamedTuple):
    """What became visible (``joins``) and what stopped being visible (``leaves``).

    A changed value is its old entry in ``leaves`` and its new one in ``joins``.
    """

    joins: list[Entry]
    leaves: list[Entry]

    def __bool__(self) -> bool:
        return bool(self.joins or self.leaves)

    def extend(self, other: Diff) -> None:
        """Append ``other``'s joins and leaves to this diff's."""
        self.joins.extend(other.joins)
        self.leaves.extend(other.leaves)


def no_diff() -> Diff:
    """A new empty diff."""
    return Diff([], [])


class Delta(NamedTuple):
    """The changes ``owner`` made after version ``start`` up to version ``end``: the last
    change of each key, a put ``key -> (version, value)`` or a removal ``key -> version``."""

    owner: Replica
    start: int
    end: int
    puts: dict[Any, tuple[int, Any]]
    removes: dict[Any, int]

    def __len__(self) -> int:
        return len(self.puts) + len(self.removes)


class OwnerState(NamedTuple):
    """The whole of one owner's entries at ``version``."""

    owner: Replica
    version: int
    entries: dict[Any, Any]


class Merged(NamedTuple):
    """What a merge did: the visible changes, and the owners whose delta could not be
    applied because changes before it are missing (ask a peer for them)."""

    diff: Diff
    gaps: set[Replica]


class _Owner:
    __slots__ = ("entries", "status", "version")

    def __init__(self, status: Status) -> None:
        self.version = 0
        self.entries: dict[Any, Any] = {}
        self.status: Status = status


_MISSING: Any = object()


class State:
    """One replica's copy of every owner's entries, and its own writes.

    >>> a, b = State(Replica("a@h", 1)), State(Replica("b@h", 1))
    >>> _ = b.replica_up(a.me)
    >>> a.put("k", 1).joins
    [Entry(owner=Replica(node='a@h', incarnation=1), key='k', value=1)]
    >>> delta, changed = a.take_delta()
    >>> b.merge(delta).diff.joins[0].value
    1
    >>> b.get("k", a.me), a.version(a.me) == b.version(a.me) == 1
    (1, True)
    """

    def __init__(self, me: Replica, *, max_delta_size: int = 10_000) -> None:
        self.me = me
        self.max_delta_size = max_delta_size
        self._owners: dict[Replica, _Owner] = {me: _Owner("up")}
        self._mine = self._owners[me]
        self._latest: dict[str, int] = {me.node: me.incarnation}  # node -> newest incarnation
        self._key_versions: dict[Any, int] = {}  # own live key -> version of its last change
        self._tombstones: dict[Any, int] = {}  # own removed key -> version (oldest first)
        self._floor = 0  # delta_since(v) needs v >= floor (older tombstones are dropped)
        self._pending: dict[Any, None] = {}  # own keys changed since the last take_delta
        self._pending_start = 0
        self._pending_overflow = False

    # -- reads --

    def version(self, owner: Replica) -> int:
        """How many changes of ``owner`` this replica has (0 for an unknown owner)."""
        known = self._owners.get(owner)
        return known.version if known is not None else 0

    def get(self, key: Any, owner: Replica | None = None, default: Any = None) -> Any:
        """``owner``'s (by default this replica's) value for ``key``, visible or not."""
        known = self._owners.get(self.me if owner is None else owner)
        return default if known is None else known.entries.get(key, default)

    def owned(self, owner: Replica) -> Mapping[Any, Any]:
        """Every entry of ``owner`` this replica holds (read only; hidden ones included)."""
        known = self._owners.get(owner)
        return known.entries if known is not None else {}

    def visible(self) -> Iterator[Entry]:
        """Every entry of an owner that is up."""
        for owner, known in self._owners.items():
            if known.status == "up":
                for key, value in known.entries.items():
                    yield Entry(owner, key, value)

    def status(self, owner: Replica) -> Status | None:
        """``"up"``, ``"down"`` or None (unknown, or permanently down)."""
        known = self._owners.get(owner)
        return known.status if known is not None else None

    def replicas(self) -> dict[Replica, Status]:
        """Every known replica (this one included) and its status."""
        return {owner: known.status for owner, known in self._owners.items()}

    def clock(self) -> dict[Replica, int]:
        """The version of every up replica, this one included (down ones are left out, as
        in Phoenix: a peer that never knew them must not think it is behind)."""
        return {o: k.version for o, k in self._owners.items() if k.status == "up"}

    def is_stale(self, replica: Replica) -> bool:
        """True if a newer incarnation of ``replica``'s node is known."""
        return self._latest.get(replica.node, replica.incarnation) > replica.incarnation

    # -- own writes --

    def put(self, key: Hashable, value: Any) -> Diff:
        """Set this replica's ``key`` to ``value``; the visible change (empty, and no new
        version, if it already had that value)."""
        mine = self._mine
        old = mine.entries.get(key, _MISSING)
        if old is not _MISSING and old == value:
            return no_diff()
        mine.version += 1
        mine.entries[key] = value
        self._key_versions[key] = mine.version
        if self._tombstones:
            self._tombstones.pop(key, None)
        self._note_pending(key)
        joins = [Entry(self.me, key, value)]
        return Diff(joins, [] if old is _MISSING else [Entry(self.me, key, old)])

    def remove(self, key: Hashable) -> Diff:
        """Remove this replica's ``key``; the visible change (empty if it had none)."""
        mine = self._mine
        old = mine.entries.pop(key, _MISSING)
        if old is _MISSING:
            return no_diff()
        mine.version += 1
        del self._key_versions[key]
        tombstones = self._tombstones
        tombstones[key] = mine.version
        if len(tombstones) > self.max_delta_size:
            oldest = next(iter(tombstones))
            self._floor = tombstones.pop(oldest)
        self._note_pending(key)
        return Diff([], [Entry(self.me, key, old)])

    def _note_pending(self, key: Any) -> None:
        pending = self._pending
        if self._pending_overflow:
            return
        pending[key] = None
        if len(pending) > self.max_delta_size:
            self._pending_overflow = True
            pending.clear()

    # -- extraction --

    def take_delta(self) -> tuple[Delta | None, bool]:
        """The changes since the last take, and whether there were any. A delta over
        ``max_delta_size`` changes is not built (None, True): peers catch up by transfer."""
        mine = self._mine
        start, self._pending_start = self._pending_start, mine.version
        if self._pending_overflow:
            self._pending_overflow = False
            return None, True
        if not self._pending:
            return None, False
        keys, self._pending = self._pending, {}
        return self._build_delta(start, keys), True

    def delta_since(self, version: int) -> Delta | None:
        """This replica's changes after ``version``, or None if they are no longer all
        known (tombstones older than that were dropped): send :meth:`snapshot` instead."""
        if version < self._floor or version > self._mine.version:
            return None
        keys = [k for k, v in self._key_versions.items() if v > version]
        keys.extend(k for k, v in self._tombstones.items() if v > version)
        return self._build_delta(version, keys)

    def _build_delta(self, start: int, keys: Iterable[Any]) -> Delta:
        entries, versions, tombstones = self._mine.entries, self._key_versions, self._tombstones
        puts: dict[Any, tuple[int, Any]] = {}
        removes: dict[Any, int] = {}
        for key in keys:
            value = entries.get(key, _MISSING)
            if value is _MISSING:
                removes[key] = tombstones[key]
            else:
                puts[key] = (versions[key], value)
        return Delta(self.me, start, self._mine.version, puts, removes)

    def snapshot(self, owners: Iterable[Replica] | None = None) -> list[OwnerState]:
        """The full state of ``owners`` (default: every known one) that this replica has."""
        chosen = self._owners if owners is None else owners
        return [
            OwnerState(owner, known.version, dict(known.entries))
            for owner in chosen
            if (known := self._owners.get(owner)) is not None
        ]

    # -- merging --

    def merge(self, update: Delta | OwnerState | Iterable[Delta | OwnerState]) -> Merged:
        """Merge a peer's delta, one owner's full state, or several of them.

        Updates for this replica itself or for owners not known here (never heard of,
        stale or permanently down) are ignored; a delta that starts after the version held
        here is a gap, reported in ``Merged.gaps``.
        """
        merged = Merged(no_diff(), set())
        updates = [update] if isinstance(update, Delta | OwnerState) else update
        for one in updates:
            known = self._owners.get(one.owner)
            if known is None or one.owner == self.me:
                continue
            if isinstance(one, Delta):
                self._merge_delta(known, one, merged)
            else:
                self._merge_full(known, one, merged.diff)
        return merged

    def _merge_delta(self, known: _Owner, delta: Delta, merged: Merged) -> None:
        have = known.version
        if have >= delta.end:
            return
        if have < delta.start:
            merged.gaps.add(delta.owner)
            return
        entries, owner = known.entries, delta.owner
        report = known.status == "up"
        joins, leaves = merged.diff
        for key, (version, value) in delta.puts.items():
            if version > have:
                old = entries.get(key, _MISSING)
                if old is _MISSING or old != value:
                    entries[key] = value
                    if report:
                        if old is not _MISSING:
                            leaves.append(Entry(owner, key, old))
                        joins.append(Entry(owner, key, value))
        for key, version in delta.removes.items():
            if version > have:
                old = entries.pop(key, _MISSING)
                if old is not _MISSING and report:
                    leaves.append(Entry(owner, key, old))
        known.version = delta.end

    def _merge_full(self, known: _Owner, full: OwnerState, diff: Diff) -> None:
        if full.version <= known.version:
            return
        old_entries, new_entries = known.entries, dict(full.entries)
        known.entries, known.version = new_entries, full.version
        if known.status != "up":
            return
        owner = full.owner
        for key, old in old_entries.items():
            new = new_entries.get(key, _MISSING)
            if new is _MISSING or new != old:
                diff.leaves.append(Entry(owner, key, old))
        for key, new in new_entries.items():
            old = old_entries.get(key, _MISSING)
            if old is _MISSING or old != new:
                diff.joins.append(Entry(owner, key, new))

    # -- liveness (this replica's own view; not replicated) --

    def replica_up(self, replica: Replica) -> Diff:
        """Mark ``replica`` up: its kept entries become visible again (joins). A newer
        incarnation of a known node permanently downs the older one first; a stale
        incarnation is refused (empty diff, and :meth:`is_stale` is True)."""
        if replica.node == self.me.node or self.is_stale(replica):
            return no_diff()
        diff = no_diff()
        if self._latest.get(replica.node, -1) < replica.incarnation:
            for older in [r for r in self._owners if r.node == replica.node]:
                diff.extend(self.replica_permdown(older))
            self._latest[replica.node] = replica.incarnation
        known = self._owners.get(replica)
        if known is None:
            self._owners[replica] = _Owner("up")
        elif known.status == "down":
            known.status = "up"
            diff.joins.extend(Entry(replica, k, v) for k, v in known.entries.items())
        return diff

    def replica_down(self, replica: Replica) -> Diff:
        """Hide ``replica``'s entries (leaves); they are kept for a return."""
        known = self._owners.get(replica)
        if known is None or known.status == "down" or replica == self.me:
            return no_diff()
        known.status = "down"
        return Diff([], [Entry(replica, k, v) for k, v in known.entries.items()])

    def replica_permdown(self, replica: Replica) -> Diff:
        """Forget ``replica`` and its entries for good (leaves if it was up)."""
        if replica == self.me:
            return no_diff()
        known = self._owners.pop(replica, None)
        if known is None or known.status == "down":
            return no_diff()
        return Diff([], [Entry(replica, k, v) for k, v in known.entries.items()])
