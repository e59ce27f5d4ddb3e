"""Cluster-wide names (Erlang's ``global``): one name, one process, on every connected node.

>>> a = Entry(Pid("a@h", 7, 1), stamp=3)
>>> b = Entry(Pid("b@h", 2, 1), stamp=3)
>>> senior(a, b) is a, senior(b, Entry(Pid("c@h", 9, 1), stamp=1)).pid
(True, <c@h.9.1>)

The contract is in ``beamish.cluster`` (cluster-wide names).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import anyio

from .. import telemetry
from ..actors import (
    Actor,
    Caller,
    Down,
    Exited,
    NameTaken,
    NoProc,
    Pid,
    Ref,
    call,
    cast,
    demonitor,
    is_alive,
    monitor,
    send,
    stop,
    this_node,
)
from ..actors import self as self_pid
from ..actors.lowlevel import actor_of
from ._mesh import Cluster, NodeDown, NodeUp

__all__ = [
    "GLOBAL_CONFLICT",
    "SERVER",
    "Entry",
    "GlobalNameConflict",
    "GlobalNames",
    "GlobalResolver",
    "global_names",
    "register_name",
    "registered_names",
    "send_name",
    "senior",
    "sync_names",
    "unregister_name",
    "whereis_name",
]

_log = logging.getLogger("beamish.cluster.global")

SERVER = "beamish.global"
GLOBAL_CONFLICT = telemetry.CLUSTER_GLOBAL_CONFLICT

Resolve = Callable[[Any, Pid, Pid], Pid | None]


class GlobalNameConflict(NamedTuple):
    """Sent to a process that lost its global ``name`` to ``winner`` (None: to nobody)."""

    name: Any
    winner: Pid | None


class Entry(NamedTuple):
    """One registration as the servers replicate it."""

    pid: Pid
    stamp: int
    """The owner's Lamport time when it registered the name."""
    custom: bool = False
    """Whether the owner holds a ``resolve`` callback for it."""


def senior(a: Entry, b: Entry) -> Entry:
    """The entry that wins by default: the smaller ``(stamp, pid)``."""
    return a if (a.stamp, a.pid) <= (b.stamp, b.pid) else b


class GlobalNames(Actor):
    """The per-node server of cluster-wide names, registered as ``"beamish.global"``; the
    contract is in ``beamish.cluster`` (cluster-wide names)."""

    def __init__(self) -> None:
        self.names: dict[Any, Entry] = {}
        self.clock = 0
        self._resolvers: dict[Any, Resolve] = {}
        self._watches: dict[Any, Ref] = {}  # own name -> monitor on its process
        self._watched: dict[Ref, Any] = {}
        self._pending: dict[Any, tuple[Entry, Pid]] = {}  # own loser awaiting a verdict
        self._node = this_node()

    def init(self) -> None:
        _cluster().monitor_nodes(self.pid)
        for peer in _cluster().nodes():  # connected before this server started: sync both ways
            cast((SERVER, peer), ("sync", self._node.name, self._own(), True))

    # -- the API's requests --

    def handle_call(self, request: Any, caller: Caller) -> Any:
        if request == "sync":
            return None
        if request[0] == "register":
            _, name, pid, resolve = request
            return self._register(name, pid, resolve)
        if request[0] == "unregister":
            return self._unregister(request[1])
        return super().handle_call(request, caller)

    # -- what the other servers send --

    def handle_cast(self, request: Any) -> None:
        try:
            self._from_peer(request)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            # a peer is trusted but not infallible: drop the message, keep the server
            _log.warning("global name server dropped a bad message %r: %r", request, exc)

    def _from_peer(self, request: Any) -> None:
        op = request[0]
        if op == "add":
            _, name, entry = request
            self._merge(name, Entry(*entry))
        elif op == "del":
            _, name, pid = request
            self._forget(name, pid)
        elif op == "sync":
            _, origin, entries, answer = request
            self._sync(origin, entries)
            if answer:
                cast((SERVER, origin), ("sync", self._node.name, self._own(), False))
        elif op == "verdict":
            _, name, winner, losers = request
            self._apply_verdict(name, Entry(*winner) if winner is not None else None, losers)
        elif op == "claim":  # from GlobalResolver.register_name: nobody waits for an answer
            _, name, pid = request
            result = self._register(name, pid, None)
            if result[0] == "taken":
                self._tell(pid, name, result[1])
        elif op == "unregister":
            self._unregister(request[1])
        else:
            raise ValueError(f"unknown operation {op!r}")

    def handle_info(self, message: Any) -> Any:
        if isinstance(message, NodeUp):
            cast((SERVER, message.node), ("sync", self._node.name, self._own(), False))
        elif isinstance(message, NodeDown):
            for name, entry in list(self.names.items()):
                if entry.pid.node == message.node:
                    self._forget(name, entry.pid)
            for name, (_own, rival) in list(self._pending.items()):
                if rival.node == message.node and name in self._pending:
                    self._reclaim(name)
        elif isinstance(message, Down):
            name = self._watched.pop(message.ref, None)
            if name is not None:
                self._watches.pop(name, None)
                self._resolvers.pop(name, None)
                pending = self._pending.get(name)
                if pending is not None and pending[0].pid == message.pid:
                    del self._pending[name]
                if self._forget(name, message.pid) or pending is not None:
                    self._broadcast(("del", name, message.pid))
        else:
            return super().handle_info(message)
        return None

    # -- the table --

    def _local(self, pid: Pid) -> bool:
        return self._node.is_local(pid)

    def _own(self) -> list[tuple[Any, tuple[Any, ...]]]:
        return [(name, tuple(e)) for name, e in self.names.items() if self._local(e.pid)]

    def _broadcast(self, message: tuple[Any, ...]) -> None:
        for peer in _cluster().nodes():
            cast((SERVER, peer), message)

    def _register(self, name: Any, pid: Pid, resolve: Resolve | None) -> tuple[Any, ...]:
        if not self._local(pid) or not is_alive(pid):
            return ("noproc",)
        current = self.names.get(name)
        if current is not None:
            return ("ok",) if current.pid == pid else ("taken", current.pid)
        self.clock += 1
        entry = Entry(pid, self.clock, resolve is not None)
        self.names[name] = entry
        if resolve is not None:
            self._resolvers[name] = resolve
        ref = monitor(pid)
        self._watches[name] = ref
        self._watched[ref] = name
        self._broadcast(("add", name, tuple(entry)))
        return ("ok",)

    def _unregister(self, name: Any) -> bool:
        entry = self.names.get(name)
        pending = self._pending.pop(name, None)
        if pending is not None:
            entry = pending[0]
        elif entry is None or not self._local(entry.pid):
            return False
        else:
            del self.names[name]
        self._unwatch(name)
        self._broadcast(("del", name, entry.pid))
        return True

    def _unwatch(self, name: Any) -> None:
        self._resolvers.pop(name, None)
        ref = self._watches.pop(name, None)
        if ref is not None:
            self._watched.pop(ref, None)
            demonitor(ref, flush=True)

    def _forget(self, name: Any, pid: Pid) -> bool:
        """Drop ``name -> pid`` if that is the mapping; an own entry that lost to ``pid``
        and waits for a verdict that can no longer come takes the name back."""
        entry = self.names.get(name)
        if entry is None or entry.pid != pid:
            return False
        del self.names[name]
        pending = self._pending.get(name)
        if pending is not None and pending[1] == pid:
            self._reclaim(name)
        return True

    def _reclaim(self, name: Any) -> None:
        own, _rival = self._pending.pop(name)
        self._merge(name, own)

    def _sync(self, origin: str, entries: list[tuple[Any, tuple[Any, ...]]]) -> None:
        fresh = {name: Entry(*entry) for name, entry in entries}
        for name, entry in list(self.names.items()):
            if entry.pid.node == origin and name not in fresh:
                self._forget(name, entry.pid)
        for name, entry in fresh.items():
            if entry.pid.node == origin:  # a node speaks only for its own processes
                self._merge(name, entry)

    def _merge(self, name: Any, entry: Entry) -> None:
        """Take in ``entry`` from its owner; on a conflict, apply the rule."""
        self.clock = max(self.clock, entry.stamp)
        current = self.names.get(name)
        if current is None or current.pid == entry.pid or current.pid.node == entry.pid.node:
            self.names[name] = entry  # the owner's word on its own processes is final
            if self._local(entry.pid):
                self._broadcast(("add", name, tuple(entry)))
            return
        win = senior(current, entry)
        lose = entry if win is current else current
        self.names[name] = win
        if self._local(win.pid):
            if win is entry:
                self._broadcast(("add", name, tuple(entry)))
            if win.custom:
                self._decide(name, win, lose)
        elif self._local(lose.pid):
            if win.custom:  # the winner's owner decides: wait for its verdict
                self._pending[name] = (lose, win.pid)
            else:
                self._unwatch(name)
                self._tell(lose.pid, name, win.pid)
                self._broadcast(("del", name, lose.pid))

    def _decide(self, name: Any, win: Entry, lose: Entry) -> None:
        resolve = self._resolvers.get(name)
        choice: Pid | None = win.pid
        if resolve is not None:
            try:
                choice = resolve(name, win.pid, lose.pid)
            except Exception:
                _log.exception("resolve for global name %r failed: %r wins", name, win.pid)
        winner: Entry | None
        if choice == win.pid:
            winner, losers = win, [lose.pid]
        elif choice == lose.pid:
            winner, losers = lose, [win.pid]
        else:
            winner, losers = None, [win.pid, lose.pid]
        self._broadcast(("verdict", name, tuple(winner) if winner else None, losers))
        self._apply_verdict(name, winner, losers)

    def _apply_verdict(self, name: Any, winner: Entry | None, losers: list[Pid]) -> None:
        current = self.names.get(name)
        if current is not None and current.pid in losers:
            del self.names[name]
        for loser in losers:
            if not self._local(loser):
                continue
            pending = self._pending.get(name)
            if pending is not None and pending[0].pid == loser:
                del self._pending[name]
            self._unwatch(name)
            self._tell(loser, name, winner.pid if winner is not None else None)
            self._broadcast(("del", name, loser))  # for peers the verdict did not reach
        if winner is None:
            return
        pending = self._pending.get(name)
        if pending is not None and pending[0].pid == winner.pid:
            del self._pending[name]
        self._merge(name, winner)

    def _tell(self, loser: Pid, name: Any, winner: Pid | None) -> None:
        send(loser, GlobalNameConflict(name, winner))
        telemetry.execute(
            GLOBAL_CONFLICT,
            {"count": 1},
            {"node": self._node.name, "name": name, "winner": winner, "loser": loser},
        )


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Pid]:
    """Run this node's ``GlobalNames`` server for the length of the block."""
    pid = await GlobalNames.start(name=SERVER)
    try:
        yield pid
    finally:
        with anyio.move_on_after(10, shield=True), contextlib.suppress(NoProc):
            await stop(pid)


def _cluster() -> Cluster:
    remote = this_node().remote
    if not isinstance(remote, Cluster):
        raise RuntimeError("this node is not distributed: use beamish.cluster.start(...)")
    return remote


def _server() -> GlobalNames:
    node = this_node()
    pid = node.whereis(SERVER)
    server = actor_of(node, pid) if pid is not None else None
    if not isinstance(server, GlobalNames):
        raise RuntimeError("no global names here: start distribution with beamish.cluster.start")
    return server


def _owner(pid: Pid) -> Any:
    return SERVER if this_node().is_local(pid) else (SERVER, pid.node)


async def register_name(name: Any, pid: Pid | None = None, resolve: Resolve | None = None) -> None:
    """Register ``name`` (any hashable value the wire carries) for ``pid`` (the caller by
    default) across the cluster; ``NameTaken`` if another process holds it, ``NoProc`` if
    ``pid`` is not alive. ``resolve(name, pid1, pid2) -> winner`` decides conflicts.

    ``await cluster.register_name(("room", 7))``
    """
    hash(name)
    _server()
    if pid is None:
        pid = self_pid()
    result = await call(_owner(pid), ("register", name, pid, resolve))
    if result[0] == "taken":
        raise NameTaken(f"{name!r} is registered to {result[1]!r} in the cluster")
    if result[0] == "noproc":
        raise NoProc(f"cannot register {name!r}: {pid!r} is not alive")


async def unregister_name(name: Any) -> bool:
    """Remove a global name, wherever its process lives; False if it was not registered.

    ``await cluster.unregister_name("leader")``
    """
    server = _server()
    entry = server.names.get(name)
    owner = SERVER if entry is None or name in server._pending else _owner(entry.pid)  # noqa: SLF001
    return bool(await call(owner, ("unregister", name)))


def whereis_name(name: Any) -> Pid | None:
    """The pid registered as ``name`` in the cluster, as this node knows it, or None.

    ``cluster.whereis_name("leader")``
    """
    entry = _server().names.get(name)
    return entry.pid if entry is not None else None


def registered_names() -> list[Any]:
    """Every global name this node knows of.

    ``"leader" in cluster.registered_names()``
    """
    return list(_server().names)


def send_name(name: Any, message: Any) -> None:
    """Send ``message`` to the process registered as ``name`` (``NoProc`` if none).

    ``cluster.send_name("leader", ("vote", 3))``
    """
    pid = whereis_name(name)
    if pid is None:
        raise NoProc(f"no process is registered globally as {name!r}")
    send(pid, message)


async def sync_names() -> None:
    """Wait until every connected server has handled what this node's server sent it so
    far (replication, verdicts), and this node's server has handled what it received.

    ``await cluster.sync_names()``
    """
    await call(SERVER, "sync")
    for peer in _cluster().nodes():
        with contextlib.suppress(Exited):
            await call((SERVER, peer), "sync")


@dataclass(frozen=True, slots=True)
class GlobalResolver:
    """Global names as a :class:`beamish.Resolver`, for ``via(global_names(), name)``.

    Its ``register_name`` and ``unregister_name`` cannot wait, so they ask the server and
    return: a registration that turns out to be taken is answered with a
    ``GlobalNameConflict`` sent to ``pid``. Use the async functions to wait for the result.
    """

    def whereis_name(self, key: Any) -> Pid | None:
        return whereis_name(key)

    def register_name(self, key: Any, pid: Pid) -> None:
        current = whereis_name(key)
        if current is not None and current != pid:
            raise NameTaken(f"{key!r} is registered to {current!r} in the cluster")
        cast(_owner(pid), ("claim", key, pid))

    def unregister_name(self, key: Any) -> None:
        current = whereis_name(key)
        cast(_owner(current) if current is not None else SERVER, ("unregister", key))


def global_names() -> GlobalResolver:
    """The cluster's global names as a resolver: ``call(via(global_names(), "db"), req)``."""
    return GlobalResolver()
