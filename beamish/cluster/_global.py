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
from ._replicator import Replicator

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
    contract is in ``beamish.cluster`` (cluster-wide names).

    The names ride on the replication core (``Replicator``): this node owns the entries of
    its own processes (``name -> (pid, stamp, custom)``) and sends each change at once; it
    keeps every node's claims and shows, per name, the senior one. A node that
    disconnects is marked down at once, so its names vanish here (and come back with its
    next heartbeat after a reconnect). The loser of a conflict is decided, and told, by
    its own node: by the rule, or by the verdict of the senior entry's ``resolve``.
    """

    def __init__(self) -> None:
        self.names: dict[Any, Entry] = {}  # the view: the winning claim of each name
        self.claims: dict[Any, dict[Pid, Entry]] = {}  # every node's claims, by name
        self.clock = 0
        self._resolvers: dict[Any, Resolve] = {}
        self._watches: dict[Any, Ref] = {}  # own name -> monitor on its process
        self._watched: dict[Ref, Any] = {}
        self._pending: dict[Any, tuple[Entry, Pid]] = {}  # own loser awaiting a verdict
        self._decided: set[tuple[Any, Pid]] = set()  # (name, loser) pairs resolve saw
        self._node = this_node()

    def init(self) -> None:
        self.replica = Replicator(SERVER, on_diff=self._on_diff, broadcast_period=BROADCAST_PERIOD)

    def terminate(self, reason: Any) -> None:
        self.replica.close()

    # -- the API's requests --

    def handle_call(self, request: Any, caller: Caller) -> Any:
        if request == "sync":
            self.replica.flush()
            return None
        if request[0] == "register":
            _, name, pid, resolve = request
            return self._register(name, pid, resolve)
        if request[0] == "unregister":
            return self._unregister(request[1])
        return super().handle_call(request, caller)

    # -- what the other servers (and the resolver) send --

    def handle_cast(self, request: Any) -> None:
        try:
            self._from_peer(request)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            # a peer is trusted but not infallible: drop the message, keep the server
            _log.warning("global name server dropped a bad message %r: %r", request, exc)

    def _from_peer(self, request: Any) -> None:
        op = request[0]
        if op == "verdict":
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
        if isinstance(message, Down):
            name = self._watched.pop(message.ref, None)
            if name is not None:
                self._watches.pop(name, None)
                self._resolvers.pop(name, None)
                self._drop_own(name, message.pid)
            return None
        if isinstance(message, NodeDown):
            state = self.replica.state
            for replica, status in state.replicas().items():
                if replica.node == message.node and status == "up":
                    self._on_diff(state.replica_down(replica))
        if self.replica.handle_info(message) or isinstance(message, NodeDown | NodeUp):
            return None
        return super().handle_info(message)

    # -- this node's claims --

    def _local(self, pid: Pid) -> bool:
        return self._node.is_local(pid)

    def _register(self, name: Any, pid: Pid, resolve: Resolve | None) -> tuple[Any, ...]:
        if not self._local(pid) or not is_alive(pid):
            return ("noproc",)
        current = self.names.get(name)
        if current is not None:
            return ("ok",) if current.pid == pid else ("taken", current.pid)
        pending = self._pending.get(name)
        if pending is not None:  # our own claim waits for a verdict: the name is taken
            return ("taken", pending[1])
        self.clock += 1
        entry = Entry(pid, self.clock, resolve is not None)
        if resolve is not None:
            self._resolvers[name] = resolve
        ref = monitor(pid)
        self._watches[name] = ref
        self._watched[ref] = name
        self.claims.setdefault(name, {})[pid] = entry
        self.names[name] = entry
        self.replica.put(name, tuple(entry))
        self.replica.flush()
        return ("ok",)

    def _own_claim(self, name: Any) -> Entry | None:
        for entry in self.claims.get(name, {}).values():
            if self._local(entry.pid):
                return entry
        return None

    def _unregister(self, name: Any) -> bool:
        own = self._own_claim(name)
        if own is None:
            return False
        self._unwatch(name)
        self._drop_own(name, own.pid)
        return True

    def _drop_own(self, name: Any, pid: Pid) -> None:
        """Take back this node's claim of ``name`` by ``pid`` (its process exited, it was
        unregistered, it lost)."""
        held = self.claims.get(name, {})
        if held.pop(pid, None) is None:
            return
        if not held:
            del self.claims[name]
        pending = self._pending.get(name)
        if pending is not None and pending[0].pid == pid:
            del self._pending[name]
        self.replica.remove(name)
        self.replica.flush()
        self._settle(name)

    def _unwatch(self, name: Any) -> None:
        self._resolvers.pop(name, None)
        ref = self._watches.pop(name, None)
        if ref is not None:
            self._watched.pop(ref, None)
            demonitor(ref, flush=True)

    # -- every node's claims, in --

    def _on_diff(self, diff: Any) -> None:
        touched: dict[Any, None] = {}
        for _owner, name, value in diff.leaves:
            entry = Entry(*value)
            held = self.claims.get(name)
            if held is not None and held.get(entry.pid) == entry:
                del held[entry.pid]
                if not held:
                    del self.claims[name]
                touched[name] = None
        for _owner, name, value in diff.joins:
            entry = Entry(*value)
            self.clock = max(self.clock, entry.stamp)
            self.claims.setdefault(name, {})[entry.pid] = entry
            touched[name] = None
        for name in touched:
            self._settle(name)

    def _settle(self, name: Any) -> None:
        """Show the senior claim of ``name``; if ours lost, give it up (or wait for the
        verdict of a winner that holds a ``resolve``); if ours won over a rival and holds a
        ``resolve``, decide."""
        held = self.claims.get(name, {})
        if not held:
            self.names.pop(name, None)
            self._pending.pop(name, None)
            return
        win = min(held.values(), key=lambda e: (e.stamp, e.pid))
        self.names[name] = win
        own = self._own_claim(name)
        pending = self._pending.get(name)
        if pending is not None and (own is None or pending[1] not in held):
            del self._pending[name]  # the rival went away: the verdict cannot come
            pending = None
        if own is None:
            return
        if own != win:
            if win.custom:  # the winner's owner decides: wait for its verdict
                if pending is None:
                    self._pending[name] = (own, win.pid)
                return
            self._lose(name, own, win.pid)
            return
        for rival in [e for e in held.values() if e != own]:
            if own.custom and (name, rival.pid) not in self._decided:
                self._decided.add((name, rival.pid))
                self._decide(name, own, rival)

    def _lose(self, name: Any, own: Entry, winner: Pid | None) -> None:
        self._unwatch(name)
        self._tell(own.pid, name, winner)
        self._drop_own(name, own.pid)

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
        with contextlib.suppress(NoProc):
            cast(
                (SERVER, lose.pid.node),
                ("verdict", name, tuple(winner) if winner else None, losers),
            )
        self._apply_verdict(name, winner, losers)

    def _apply_verdict(self, name: Any, winner: Entry | None, losers: list[Pid]) -> None:
        for loser in losers:
            if not self._local(loser):
                continue
            own = self.claims.get(name, {}).get(loser)
            if own is None:
                continue
            pending = self._pending.get(name)
            if pending is not None and pending[0].pid == loser:
                del self._pending[name]
            self._lose(name, own, winner.pid if winner is not None else None)
        if winner is not None and self._local(winner.pid):
            pending = self._pending.get(name)
            if pending is not None and pending[0].pid == winner.pid:
                del self._pending[name]  # ours won by the verdict; the rival gives up

    def _tell(self, loser: Pid, name: Any, winner: Pid | None) -> None:
        send(loser, GlobalNameConflict(name, winner))
        telemetry.execute(
            GLOBAL_CONFLICT,
            {"count": 1},
            {"node": self._node.name, "name": name, "winner": winner, "loser": loser},
        )


# Changes go out at once (flush); the heartbeat only repairs what a lost message missed.
BROADCAST_PERIOD = 1.0


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
