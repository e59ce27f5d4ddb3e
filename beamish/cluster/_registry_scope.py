"""Cluster-scoped registries: ``Registry(..., scope="cluster")`` on the replication core.

>>> senior((3, Pid("b@h", 1, 0)), (3, Pid("a@h", 9, 0)))[1]
<a@h.9.0>

The registry (L1) never imports the cluster (L2): ``cluster.start`` installs
:func:`replicate` on the node with ``registry.set_cluster_scope``, as it installs the
remote-delivery hook, and a registry started with ``scope="cluster"`` asks for it in its
``init``. Each node owns the entries of its own processes: the registry's table holds
them, and a :class:`ScopeServer` (one per registry per node, linked to the registry)
writes them into its ``Replicator`` under ``(key, pid)`` (a unique key's value as
``(stamp, value)``, a duplicate key's as the tuple of that pid's values), sends each batch of
changes at once (``flush``), and puts the other nodes' entries into the table as they
arrive. Callers never wait for it: ``register`` writes the table and marks ``(key, pid)``
dirty, the first mark of a batch sends the server one ``"flush"`` message.

Unique keys: local-first. ``register`` checks only this node's view; after a partition
heals two nodes may each hold a key. Every node then shows the same winner, the entry with
the smaller ``(stamp, pid)`` (``stamp``: the registering node's Lamport time), and the
loser's own node removes its entry and tells it, once: the exit signal
``("name_conflict", key, winner)``, or ``resolve(key, loser, winner)`` when the registry
has one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..actors import Actor, Pid, exit, send, this_node
from ..registry import RegistryOptions, Table
from ._errors import EncodeError
from ._mesh import Cluster
from ._replicator import Replicator
from ._wire import Codec

__all__ = ["NAME_CONFLICT", "ScopeServer", "replicate", "senior"]

_log = logging.getLogger("beamish.registry.cluster")

NAME_CONFLICT = "name_conflict"
BROADCAST_PERIOD = 1.0  # seconds between heartbeats; changes are flushed at once

Stamped = tuple[int, Pid]


def senior(a: Stamped, b: Stamped) -> Stamped:
    """The claim that wins a unique key: the smaller ``(stamp, pid)``."""
    return a if a <= b else b


@dataclass(eq=False)
class ClusterScope:
    """A table's :class:`beamish.registry.Replication`: what callers touch (no message
    but one ``flush`` per batch of changes) and what the server reads."""

    table: Table
    options: RegistryOptions
    codec: Codec
    pid: Pid = field(init=False)
    clock: int = 0
    stamps: dict[tuple[Any, Pid], int] = field(default_factory=dict)  # own unique claims
    dirty: dict[tuple[Any, Pid], None] = field(default_factory=dict)  # to ship, in order

    def check(self, key: Any, value: Any) -> None:
        try:
            self.codec.encode((key, value))
        except EncodeError as exc:
            raise TypeError(
                f"registry {self.table.name!r} spans the cluster: its keys and values must "
                f"cross the wire, and {key!r:.80} -> {value!r:.80} cannot ({exc})"
            ) from exc

    def changed(self, key: Any, pid: Pid) -> None:
        claim = (key, pid)
        if self.table.unique and claim not in self.stamps:
            self.clock += 1
            self.stamps[claim] = self.clock
        if not self.dirty:
            send(self.pid, "flush")
        self.dirty[claim] = None

    def close(self) -> None:
        self.dirty.clear()


class ScopeServer(Actor):
    """Ships one cluster-scoped registry's local entries and brings in the others'."""

    def init(self, scope: ClusterScope) -> None:
        self.scope = scope
        self.table = scope.table
        self.me = this_node().name
        # remote claims on unique keys: key -> {pid: (stamp, value)}
        self.claims: dict[Any, dict[Pid, tuple[int, Any]]] = {}
        options = {"broadcast_period": BROADCAST_PERIOD} | dict(scope.options.replication)
        self.replica = Replicator(
            f"beamish.registry.{scope.options.name}", on_diff=self.on_diff, **options
        )

    def handle_info(self, message: Any) -> Any:
        if message == "flush":
            self.flush()
            return None
        if self.replica.handle_info(message):
            return None
        return super().handle_info(message)

    def terminate(self, reason: Any) -> None:
        self.replica.close()

    # -- this node's entries, out --

    def flush(self) -> None:
        scope, table = self.scope, self.table
        dirty = list(scope.dirty)
        scope.dirty.clear()
        for claim in dirty:
            key, pid = claim
            values = table.values_of(key, pid)
            if not values:
                scope.stamps.pop(claim, None)
                self.replica.remove(claim)
            elif table.unique:
                self.replica.put(claim, (scope.stamps.get(claim, 0), values[0]))
            else:
                self.replica.put(claim, tuple(values))
        self.replica.flush()  # ship the batch now: registrations travel at once

    # -- the other nodes' entries, in --

    def on_diff(self, diff: Any) -> None:
        touched: dict[Any, None] = {}
        for _owner, claim, payload in diff.leaves:
            key, pid = claim
            if self.table.unique:
                held = self.claims.get(key)
                if held is not None and held.get(pid) == payload:
                    del held[pid]
                    if not held:
                        del self.claims[key]
                    touched[key] = None
            else:
                self.table.delete(key, pid)
        for _owner, claim, payload in diff.joins:
            key, pid = claim
            if self.table.unique:
                stamp, _value = payload
                self.scope.clock = max(self.scope.clock, stamp)
                self.claims.setdefault(key, {})[pid] = payload
                touched[key] = None
            else:
                for value in payload:
                    self.table.put(key, pid, value)
        for key in touched:
            self.settle(key)

    def settle(self, key: Any) -> None:
        """Show the winner of ``key`` among the remote claims and the local one; a local
        loser loses its entry and is told."""
        table, scope = self.table, self.scope
        shown = table.entries.get(key)
        local: tuple[Stamped, Any] | None = None
        if shown is not None and table.node.is_local(shown[0]):
            pid = shown[0]
            local = ((scope.stamps.get((key, pid), 0), pid), shown[1])
        best: tuple[Stamped, Any] | None = local
        for pid, (stamp, value) in self.claims.get(key, {}).items():
            if best is None or senior((stamp, pid), best[0]) != best[0]:
                best = ((stamp, pid), value)
        if best is None:
            if shown is not None:
                table.delete(key, shown[0])
            return
        (_stamp, winner), value = best
        if local is not None and local[0][1] != winner:
            loser = local[0][1]
            table.delete(key, loser)
            scope.stamps.pop((key, loser), None)
            scope.dirty.pop((key, loser), None)
            self.replica.remove((key, loser))
            self.tell(key, loser, winner)
        shown = table.entries.get(key)
        if shown is None or shown[0] != winner or shown[1] != value:
            table.put(key, winner, value)

    def tell(self, key: Any, loser: Pid, winner: Pid) -> None:
        resolve = self.scope.options.resolve
        if resolve is None:
            exit(loser, (NAME_CONFLICT, key, winner))
            return
        try:
            resolve(key, loser, winner)
        except Exception:
            _log.exception("resolve for %r in registry %r failed", key, self.table.name)


async def replicate(table: Table, options: RegistryOptions) -> ClusterScope:
    """The cluster scope of one registry's table: its server, started linked to the
    registry (this runs in the registry's ``init``)."""
    remote = this_node().remote
    if not isinstance(remote, Cluster):
        raise RuntimeError("a cluster-scoped registry needs distribution (beamish.cluster.start)")
    scope = ClusterScope(table, options, remote.codec)
    scope.pid = await ScopeServer.start_link(scope)
    return scope
