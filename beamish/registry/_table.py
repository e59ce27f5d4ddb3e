"""One registry's table on one node: the entries, their index by pid, and meta.

The table is plain data that the functions of ``beamish.registry`` read and write on the
caller's side, as Elixir's Registry reads and writes its ETS tables: no message to the
registry's process. The process's partitions only watch the owners (they are linked to
every process with an entry) and remove a process's entries when it exits.

A table of a cluster-scoped registry also holds the entries of other nodes, which its
:class:`Replication` (installed by ``beamish.cluster``) puts and deletes as they arrive.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

from ..actors import Node, NoProc, Pid, link, send, this_node, unlink
from ._errors import AlreadyRegistered, UnknownRegistry

__all__ = [
    "Registered",
    "Replication",
    "Table",
    "Unregistered",
    "table_of",
    "tables_of",
]

Entry = tuple[Pid, Any]


class Registered(NamedTuple):
    """Sent to a registry's listeners when ``pid`` registers ``key`` with ``value``."""

    registry: str
    key: Any
    pid: Pid
    value: Any


class Unregistered(NamedTuple):
    """Sent to a registry's listeners when ``pid``'s entry under ``key`` is removed
    (``unregister``, the process exited, or, cluster-wide, its node went away)."""

    registry: str
    key: Any
    pid: Pid


class Replication(Protocol):
    """What a cluster-scoped table tells the cluster: its own node's changes.

    ``beamish.cluster`` implements it (see :func:`beamish.registry.set_cluster_scope`). The
    table calls :meth:`changed` after each change to the entries of a local process, on the
    caller's side, so it must not block: the replication reads the entries of ``pid`` under
    ``key`` from the table when it ships them.
    """

    pid: Pid
    """The process that replicates the table; the registry stops if it exits."""

    def check(self, key: Any, value: Any) -> None:
        """Raise ``TypeError`` if ``key`` and ``value`` cannot be replicated (before the
        table changes)."""
        ...

    def changed(self, key: Any, pid: Pid) -> None: ...

    def close(self) -> None: ...


# node id -> registry name -> table. Keyed by id so that the read path is two C-level dict
# lookups (a WeakKeyDictionary builds a weakref per lookup); a finalizer drops the entry
# when the node is collected, before its id can be reused.
_by_node: dict[int, dict[str, Table]] = {}
_NO_TABLES: dict[str, Table] = {}  # read-only: what a node without registries has


def tables_of(node: Node) -> dict[str, Table]:
    """The registry tables of ``node`` (created on first use)."""
    tables = _by_node.get(id(node))
    if tables is None:
        tables = _by_node[id(node)] = {}
        weakref.finalize(node, _by_node.pop, id(node), None)
    return tables


def table_of(registry: str) -> Table:
    """The table of the registry named ``registry`` on the current node."""
    tables = _by_node.get(id(this_node()), _NO_TABLES)
    table = tables.get(registry)
    if table is None:
        raise UnknownRegistry(f"no registry named {registry!r} runs on this node")
    if table.is_alive(table.partitions[0]):
        return table
    del tables[registry]  # its process was killed: no terminate removed it
    table.closed = True
    raise UnknownRegistry(f"no registry named {registry!r} runs on this node")


class Table:
    """The entries of one registry on one node. See the module docstring."""

    __slots__ = (
        "by_pid",
        "closed",
        "entries",
        "is_alive",
        "listeners",
        "meta",
        "name",
        "node",
        "node_name",
        "partitions",
        "replication",
        "size",
        "unique",
    )

    def __init__(
        self, node: Node, name: str, unique: bool, listeners: tuple[Pid | str, ...]
    ) -> None:
        self.node = node
        self.node_name = node.name
        self.is_alive = node.is_alive
        self.name = name
        self.unique = unique
        self.listeners = listeners
        # unique: key -> (pid, value); duplicate: key -> [(pid, value), ...] in order
        self.entries: dict[Any, Any] = {}
        self.by_pid: dict[Pid, list[Any]] = {}  # pid -> its keys, one per entry
        self.meta: dict[Any, Any] = {}
        self.partitions: tuple[Pid, ...] = ()
        self.replication: Replication | None = None
        self.size = 0
        self.closed = False  # its registry stopped, or a restart replaced the table

    # -- the caller's writes --

    def partition_of(self, pid: Pid) -> Pid:
        partitions = self.partitions
        return partitions[hash(pid) % len(partitions)] if len(partitions) > 1 else partitions[0]

    def register(self, key: Any, pid: Pid, value: Any) -> Pid:
        """``pid`` (the calling process) registers ``key``; returns its partition."""
        hash(key)
        if self.replication is not None:
            self.replication.check(key, value)
        entries = self.entries
        if self.unique:
            held = entries.get(key)
            if held is not None:
                holder = held[0]
                if holder == pid or self.live(holder):
                    raise AlreadyRegistered(holder, key)
                self.delete(key, holder)  # exited; its partition has not cleaned up yet
            entries[key] = (pid, value)
        else:
            bucket = entries.get(key)
            if bucket is None:
                entries[key] = [(pid, value)]
            else:
                bucket.append((pid, value))
        self.size += 1
        partitions = self.partitions
        owner = partitions[0] if len(partitions) == 1 else self.partition_of(pid)
        keys = self.by_pid.get(pid)
        if keys is None:
            self.by_pid[pid] = [key]
            link(owner)
        else:
            keys.append(key)
        if self.listeners:
            self.tell(Registered(self.name, key, pid, value))
        if self.replication is not None:
            self.replication.changed(key, pid)
        return owner

    def unregister(
        self,
        key: Any,
        pid: Pid,
        keep: Callable[[Any], bool] | None = None,
        caller: bool = True,
    ) -> None:
        """Remove ``pid``'s entries under ``key`` (those whose value ``keep`` rejects, if
        given). ``caller``: ``pid`` is the calling process, which unlinks from its
        partition when it holds no entry any more (as Elixir's ``unregister``)."""
        if self.delete(key, pid, keep) and self.replication is not None:
            self.replication.changed(key, pid)
        if caller and pid not in self.by_pid:
            with contextlib.suppress(NoProc):
                unlink(self.partition_of(pid))

    def update(self, key: Any, pid: Pid, fn: Callable[[Any], Any]) -> tuple[Any, Any] | None:
        held = self.entries.get(key)
        if held is None or held[0] != pid:
            return None
        old = held[1]
        new = fn(old)
        if self.replication is not None:
            self.replication.check(key, new)
        self.entries[key] = (pid, new)
        if self.replication is not None:
            self.replication.changed(key, pid)
        return new, old

    # -- shared by the caller, the partitions and replication --

    def live(self, pid: Pid) -> bool:
        """Whether ``pid`` may still hold entries: a local process that is alive, or any
        process of another node (its node's word, replicated, decides)."""
        node = self.node
        return node.is_alive(pid) if node.is_local(pid) else True

    def put(self, key: Any, pid: Pid, value: Any) -> None:
        """Add an entry without the checks of :meth:`register` (replication's arrivals).
        On a unique key, the entry replaces the one shown (the caller resolved the
        conflict and deleted the other first)."""
        if self.unique:
            held = self.entries.get(key)
            if held is not None:
                if held[0] == pid:
                    self.entries[key] = (pid, value)
                    return
                self.delete(key, held[0])
            self.entries[key] = (pid, value)
        else:
            self.entries.setdefault(key, []).append((pid, value))
        self.size += 1
        self.by_pid.setdefault(pid, []).append(key)
        if self.listeners:
            self.tell(Registered(self.name, key, pid, value))

    def delete(self, key: Any, pid: Pid, keep: Callable[[Any], bool] | None = None) -> list[Any]:
        """Remove ``pid``'s entries under ``key`` (only those ``keep`` rejects, if given);
        returns the values removed."""
        removed: list[Any] = []
        entries = self.entries
        if self.unique:
            held = entries.get(key)
            if held is None or held[0] != pid or (keep is not None and keep(held[1])):
                return removed
            del entries[key]
            removed.append(held[1])
        else:
            bucket = entries.get(key)
            if bucket is None:
                return removed
            kept = []
            for entry in bucket:
                if entry[0] == pid and (keep is None or not keep(entry[1])):
                    removed.append(entry[1])
                else:
                    kept.append(entry)
            if not removed:
                return removed
            if kept:
                entries[key] = kept
            else:
                del entries[key]
        self.size -= len(removed)
        keys = self.by_pid[pid]
        for _ in removed:
            keys.remove(key)
        if not keys:
            del self.by_pid[pid]
        if self.listeners:
            for _ in removed:
                self.tell(Unregistered(self.name, key, pid))
        return removed

    def drop_pid(self, pid: Pid) -> None:
        """Remove every entry of ``pid`` (it exited): what its partition does."""
        keys = self.by_pid.get(pid)
        if keys is None:
            return
        for key in dict.fromkeys(keys):
            if self.delete(key, pid) and self.replication is not None:
                self.replication.changed(key, pid)

    def values_of(self, key: Any, pid: Pid) -> list[Any]:
        """The values of ``pid``'s entries under ``key`` (dead holders included)."""
        if self.unique:
            held = self.entries.get(key)
            return [held[1]] if held is not None and held[0] == pid else []
        return [value for owner, value in self.entries.get(key, ()) if owner == pid]

    def tell(self, message: Registered | Unregistered) -> None:
        for listener in self.listeners:
            with contextlib.suppress(NoProc):
                send(listener, message)

    # -- reads --

    def lookup(self, key: Any) -> list[Entry]:
        """The entries under ``key``, as :func:`beamish.registry.lookup` returns them: a
        dict read, plus (unique keys) the liveness of a local holder.

        A table is a handle the caller may keep (``Registry.table(name)``) to skip finding
        the registry by name on every read. It belongs to one run of the registry: once
        that stops (or restarts), ``lookup`` raises ``UnknownRegistry``.

        Example:
            >>> import beamish
            >>> from beamish.registry import Registry, register
            >>> async def main():
            ...     await Registry.start_link(name="rooms", keys="unique")
            ...     rooms = Registry.table("rooms")
            ...     register("rooms", "lobby", "hi")
            ...     return rooms.lookup("lobby") == [(beamish.self(), "hi")], rooms.lookup("x")
            >>> beamish.run(main)
            (True, [])
        """
        if self.closed:
            raise UnknownRegistry(f"registry {self.name!r} stopped: take Registry.table again")
        if self.unique:
            held = self.entries.get(key)
            if held is None:
                return []
            # a local holder that has exited but whose partition has not yet handled its
            # exit signal still has its entry: Elixir's lookup checks Process.alive? too
            if held[0][0] == self.node_name and not self.is_alive(held[0]):
                return []
            return [held]
        return list(self.entries.get(key, ()))

    def items(self) -> Iterator[tuple[Any, Pid, Any]]:
        """Every entry as ``(key, pid, value)``."""
        if self.unique:
            for key, (pid, value) in list(self.entries.items()):
                yield key, pid, value
        else:
            for key, bucket in list(self.entries.items()):
                for pid, value in bucket:
                    yield key, pid, value
