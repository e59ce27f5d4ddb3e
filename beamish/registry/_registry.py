"""The registry's processes: the registry itself (partition 0) and its other partitions.

The contract is in ``beamish.registry``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..actors import Actor, Exit, Node, Pid, Stop, this_node, trap_exits
from ._table import Replication, Table, table_of, tables_of

__all__ = ["Registry", "RegistryOptions", "Resolve", "ScopeFactory", "set_cluster_scope"]

Keys = Literal["unique", "duplicate"]
Scope = Literal["local", "cluster"]
Resolve = Callable[[Any, Pid, Pid], None]
"""``resolve(key, loser, winner)``: told on the loser's node instead of the exit signal."""
ScopeFactory = Callable[[Table, "RegistryOptions"], Awaitable[Replication]]

_scopes: dict[int, ScopeFactory] = {}


def set_cluster_scope(node: Node, factory: ScopeFactory | None) -> None:
    """Install (or, with None, remove) how ``node`` replicates cluster-scoped registries.

    For ``beamish.cluster``, which calls it when distribution starts, as it installs the
    node's remote-delivery hook: the registry (L1) never imports the cluster (L2).
    ``await factory(table, options)`` runs in the registry's ``init`` and returns the
    :class:`Replication` of that registry's table (a process it starts linked to the
    registry ships the table's local entries to the other nodes and brings theirs in).
    """
    if factory is None:
        _scopes.pop(id(node), None)
        return
    if id(node) not in _scopes:
        weakref.finalize(node, _scopes.pop, id(node), None)
    _scopes[id(node)] = factory


@dataclass(frozen=True)
class RegistryOptions:
    """A registry's options, as ``Registry.child_spec`` and ``start_link`` take them."""

    name: str
    keys: Keys
    partitions: int = 1
    listeners: tuple[Pid | str, ...] = ()
    meta: Mapping[Any, Any] = field(default_factory=dict)
    scope: Scope = "local"
    resolve: Resolve | None = None
    replication: Mapping[str, Any] = field(default_factory=dict)
    """Options of the cluster scope's replication (``broadcast_period``,
    ``down_period``, ...; see ``beamish.cluster.Replicator``)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a registry's name is a non-empty str, got {self.name!r}")
        if self.keys not in ("unique", "duplicate"):
            raise ValueError(f'keys must be "unique" or "duplicate", got {self.keys!r}')
        if type(self.partitions) is not int or self.partitions < 1:
            raise ValueError(f"partitions must be an int >= 1, got {self.partitions!r}")
        if self.scope not in ("local", "cluster"):
            raise ValueError(f'scope must be "local" or "cluster", got {self.scope!r}')
        if self.resolve is not None and not callable(self.resolve):
            raise TypeError(f"resolve must be callable, got {self.resolve!r}")
        object.__setattr__(self, "listeners", tuple(self.listeners))
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "replication", dict(self.replication))
        if self.replication and self.scope != "cluster":
            raise ValueError("replication options need scope='cluster'")


class _Partition(Actor):
    """Watches the owners of entries (it is linked to each) and removes a process's
    entries when it exits."""

    def init(self, table: Table) -> None:
        trap_exits(True)
        self.table = table

    def handle_call(self, request: Any, caller: Any) -> Any:
        if request == "sync":  # answered once what reached the partition before is handled
            return None
        return super().handle_call(request, caller)

    def handle_info(self, message: Any) -> Any:
        if type(message) is Exit:
            self.table.drop_pid(message.pid)
            return None
        return super().handle_info(message)


class _RegistryServer(_Partition):
    """The registry's process: partition 0, owner of the table and of the other partitions."""

    async def init(self, options: RegistryOptions) -> None:  # type: ignore[override]
        node = this_node()
        table = Table(node, options.name, options.keys == "unique", options.listeners)
        table.meta.update(options.meta)
        super().init(table)
        partitions = [self.pid]
        for _ in range(options.partitions - 1):
            partitions.append(await _Partition.start_link(table))
        table.partitions = tuple(partitions)
        if options.scope == "cluster":
            factory = _scopes.get(id(node))
            if factory is None:
                raise RuntimeError(
                    f"registry {options.name!r} has scope='cluster' but this node is not "
                    "distributed: start distribution (beamish.cluster.start) first"
                )
            table.replication = await factory(table, options)
            partitions.append(table.replication.pid)  # stop with it, as with a partition
        # a table left by a registry that was killed (no terminate) is replaced
        tables = tables_of(node)
        left = tables.get(options.name)
        if left is not None:
            left.closed = True
        tables[options.name] = table
        self.linked = set(partitions[1:])

    def handle_info(self, message: Any) -> Any:
        if type(message) is Exit and message.pid in self.linked:
            return Stop(message.reason)  # a partition crashed: restart them all
        return super().handle_info(message)

    def terminate(self, reason: Any) -> None:
        table = self.table
        tables = tables_of(table.node)
        if tables.get(table.name) is table:
            del tables[table.name]
        table.closed = True
        if table.replication is not None:
            with contextlib.suppress(Exception):
                table.replication.close()


class Registry:
    """Elixir's ``Registry``: start one per node under a supervisor, then use the functions
    of ``beamish.registry`` with its name. See the package docstring."""

    @classmethod
    def child_spec(
        cls,
        *,
        name: str,
        keys: Keys,
        partitions: int = 1,
        listeners: Sequence[Pid | str] = (),
        meta: Mapping[Any, Any] | None = None,
        scope: Scope = "local",
        resolve: Resolve | None = None,
        replication: Mapping[str, Any] | None = None,
        id: Any = None,
    ) -> dict[str, Any]:
        """A child spec that starts the registry under a supervisor (id: its name).

        Args:
            name: the registry's name: a local name of its process, and the handle every
                function of ``beamish.registry`` takes.
            keys: ``"unique"`` (a key has at most one entry) or ``"duplicate"``.
            partitions: how many processes watch the owners of entries (>= 1).
            listeners: names or pids told ``Registered``/``Unregistered`` for each entry.
            meta: the registry's initial metadata (see ``meta``).
            scope: ``"local"`` (this node) or ``"cluster"`` (every node that runs it;
                needs ``beamish.cluster.start`` first).
            resolve: cluster scope: ``resolve(key, loser, winner)`` runs on the loser's
                node after a conflict, instead of the exit signal
                ``("name_conflict", key, winner)``.
            replication: cluster scope: options of the replication (``broadcast_period``
                seconds, default 0.1; ``down_period``; see ``beamish.cluster.Replicator``).
            id: the child's id (default: ``name``).

        Raises:
            TypeError, ValueError: an option is not valid (nothing starts).

        Example:
            >>> spec = Registry.child_spec(name="rooms", keys="unique")
            >>> spec["id"], spec["type"]
            ('rooms', 'supervisor')
        """
        options = RegistryOptions(
            name, keys, partitions, tuple(listeners), meta or {}, scope, resolve, replication or {}
        )
        return {
            "id": name if id is None else id,
            "start": (_start_link_named, (options,)),
            "type": "supervisor",
        }

    @classmethod
    async def start_link(
        cls,
        *,
        name: str,
        keys: Keys,
        partitions: int = 1,
        listeners: Sequence[Pid | str] = (),
        meta: Mapping[Any, Any] | None = None,
        scope: Scope = "local",
        resolve: Resolve | None = None,
        replication: Mapping[str, Any] | None = None,
    ) -> Pid:
        """Start a registry linked to the caller; returns its pid once it is ready. The
        options are those of :meth:`child_spec`.

        Raises:
            NameTaken: a process of this node is registered as ``name``.
            StartError: a cluster-scoped registry on a node without distribution.
        """
        options = RegistryOptions(
            name, keys, partitions, tuple(listeners), meta or {}, scope, resolve, replication or {}
        )
        return await _start_link_named(options)

    @staticmethod
    def table(name: str) -> Table:
        """The table of the registry ``name`` on this node: a handle whose
        :meth:`Table.lookup` reads an entry without finding the registry by name each
        time (``lookup`` on a hot path). It serves this run of the registry; after a
        restart, take it again (the old one raises ``UnknownRegistry``).

        Raises:
            UnknownRegistry: no registry ``name`` runs on this node.

        Example:
            >>> import beamish
            >>> from beamish import registry
            >>> async def main():
            ...     await Registry.start_link(name="subs", keys="duplicate")
            ...     registry.register("subs", "news", 1)
            ...     return [value for _pid, value in Registry.table("subs").lookup("news")]
            >>> beamish.run(main)
            [1]
        """
        return table_of(name)

    @classmethod
    async def start(
        cls,
        *,
        name: str,
        keys: Keys,
        partitions: int = 1,
        listeners: Sequence[Pid | str] = (),
        meta: Mapping[Any, Any] | None = None,
        scope: Scope = "local",
        resolve: Resolve | None = None,
        replication: Mapping[str, Any] | None = None,
    ) -> Pid:
        """As :meth:`start_link`, not linked to the caller."""
        options = RegistryOptions(
            name, keys, partitions, tuple(listeners), meta or {}, scope, resolve, replication or {}
        )
        return await _RegistryServer.start(options, name=options.name)


async def _start_link_named(options: RegistryOptions) -> Pid:
    return await _RegistryServer.start_link(options, name=options.name)
