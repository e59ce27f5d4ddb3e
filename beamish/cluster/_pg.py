"""Process groups (Erlang's ``pg``): named groups of processes, replicated across the cluster.

The contract is in ``beamish.cluster`` (process groups).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, NamedTuple

import anyio

from ..actors import Actor, Down, NameTaken, NoProc, Pid, Ref, call, demonitor, monitor, this_node
from ..actors import self as self_pid
from ..actors import stop as stop_process
from ..actors.lowlevel import actor_of
from ._mesh import NodeDown
from ._replicator import Replicator

SERVER = "beamish.pg"
_log = logging.getLogger("beamish.cluster")


class GroupChange(NamedTuple):
    """Sent to ``monitor_group`` watchers: pids that joined and left ``group``."""

    group: Any
    joined: list[Pid]
    left: list[Pid]


def _expand(counts: dict[Pid, int]) -> list[Pid]:
    return [pid for pid, count in counts.items() for _ in range(count)]


class GroupTable:
    """The pure replica: which pid of which node is in which group, how many times.

    >>> t = GroupTable()
    >>> a = Pid("a@h", 1, 0)
    >>> t.join("g", [a, a])
    [<a@h.1.0>, <a@h.1.0>]
    >>> t.leave("g", [a]), t.members("g")
    ([<a@h.1.0>], [<a@h.1.0>])
    """

    def __init__(self) -> None:
        self.groups: dict[Any, dict[str, dict[Pid, int]]] = {}  # group -> node -> pid -> n
        self.pids: dict[Pid, dict[Any, int]] = {}  # pid -> group -> n
        self.nodes: dict[str, set[Pid]] = {}  # node -> its pids with memberships
        # Member lists as broadcasts read them, built once per change of the group:
        # group -> all members, and (group, node) -> that node's members.
        self._members: dict[Any, list[Pid]] = {}
        self._node_members: dict[tuple[Any, str], list[Pid]] = {}

    def members(self, group: Any) -> list[Pid]:
        """Every member of ``group``, a pid once per membership (a shared, cached list:
        do not change it)."""
        cached = self._members.get(group)
        if cached is None:
            by_node = self.groups.get(group)
            if not by_node:
                return []
            cached = self._members[group] = [
                pid for counts in by_node.values() for pid in _expand(counts)
            ]
        return cached

    def node_members(self, group: Any, node: str) -> list[Pid]:
        """The members of ``group`` on ``node`` (a shared, cached list: do not change it)."""
        cached = self._node_members.get((group, node))
        if cached is None:
            counts = self.groups.get(group, {}).get(node)
            if not counts:
                return []
            cached = self._node_members[group, node] = _expand(counts)
        return cached

    def _changed(self, group: Any, node: str) -> None:
        self._members.pop(group, None)
        self._node_members.pop((group, node), None)

    def member_nodes(self, group: Any) -> list[str]:
        return list(self.groups.get(group, ()))

    def join(self, group: Any, pids: Iterable[Pid]) -> list[Pid]:
        """Add one membership per pid given; the pids added."""
        joined = []
        for pid in pids:
            counts = self.groups.setdefault(group, {}).setdefault(pid.node, {})
            counts[pid] = counts.get(pid, 0) + 1
            self._changed(group, pid.node)
            mine = self.pids.setdefault(pid, {})
            mine[group] = mine.get(group, 0) + 1
            self.nodes.setdefault(pid.node, set()).add(pid)
            joined.append(pid)
        return joined

    def leave(self, group: Any, pids: Iterable[Pid]) -> list[Pid]:
        """Remove one membership per pid given (if it has one); the pids removed."""
        left = []
        for pid in pids:
            mine = self.pids.get(pid)
            if not mine or group not in mine:
                continue
            by_node = self.groups[group]
            counts = by_node[pid.node]
            counts[pid] -= 1
            mine[group] -= 1
            self._changed(group, pid.node)
            if not counts[pid]:
                del counts[pid], mine[group]
                if not counts:
                    del by_node[pid.node]
                    if not by_node:
                        del self.groups[group]
                if not mine:
                    del self.pids[pid]
                    owned = self.nodes[pid.node]
                    owned.discard(pid)
                    if not owned:
                        del self.nodes[pid.node]
            left.append(pid)
        return left

    def remove_pid(self, pid: Pid) -> dict[Any, list[Pid]]:
        """Take ``pid`` out of every group; group -> the memberships removed."""
        changes = {}
        for group, count in list(self.pids.get(pid, {}).items()):
            changes[group] = self.leave(group, [pid] * count)
        return changes

    def remove_node(self, node: str) -> dict[Any, list[Pid]]:
        """Drop every entry owned by ``node``; group -> the memberships removed."""
        changes: dict[Any, list[Pid]] = {}
        for pid in list(self.nodes.get(node, ())):
            for group, left in self.remove_pid(pid).items():
                changes.setdefault(group, []).extend(left)
        return changes

    def snapshot(self, node: str) -> dict[Any, list[Pid]]:
        """The entries ``node`` owns, as group -> pids (a pid once per membership)."""
        return {
            group: _expand(by_node[node])
            for group, by_node in self.groups.items()
            if node in by_node
        }


class ProcessGroups(Actor):
    """This node's process-group server and replica, registered as ``"beamish.pg"``; the
    contract is in ``beamish.cluster`` (process groups).

    Memberships ride on the replication core (``Replicator``): this node owns the entries
    ``(group, pid) -> count`` of its own processes and sends each change at once (a
    ``flush`` after every write, as Erlang's pg broadcasts its joins); the table of every
    node's members is built from what the core reports. A node that disconnects is marked
    down at once, so its members leave every group here (and return with its next
    heartbeat after a reconnect).
    """

    def init(self) -> None:
        self.node = this_node()
        self.table = GroupTable()
        self.members_mon: dict[Ref, Pid] = {}  # monitors of local members
        self.member_refs: dict[Pid, Ref] = {}
        self.watches: dict[Any, dict[Ref, Pid]] = {}  # group -> monitor_group ref -> watcher
        self.watch_groups: dict[Ref, Any] = {}
        self.watchers_mon: dict[Pid, Ref] = {}  # monitors of watchers, to forget dead ones
        self.replica = Replicator(SERVER, on_diff=self._on_diff, broadcast_period=BROADCAST_PERIOD)

    # -- this node's memberships, out --

    def _publish(self, group: Any, pids: Iterable[Pid]) -> None:
        for pid in set(pids):
            count = self.table.pids.get(pid, {}).get(group, 0)
            if count:
                self.replica.put((group, pid), count)
            else:
                self.replica.remove((group, pid))

    # -- the other nodes' memberships, in --

    def _on_diff(self, diff: Any) -> None:
        net: dict[tuple[Any, Pid], int] = {}
        for _owner, (group, pid), count in diff.leaves:
            net[group, pid] = net.get((group, pid), 0) - count
        for _owner, (group, pid), count in diff.joins:
            net[group, pid] = net.get((group, pid), 0) + count
        joined: dict[Any, list[Pid]] = {}
        left: dict[Any, list[Pid]] = {}
        for (group, pid), change in net.items():
            if change > 0:
                joined.setdefault(group, []).extend(self.table.join(group, [pid] * change))
            elif change < 0:
                left.setdefault(group, []).extend(self.table.leave(group, [pid] * -change))
        self._notify(left, left=True)
        self._notify(joined, left=False)

    def _node_down(self, node: str) -> None:
        state = self.replica.state
        for replica, status in state.replicas().items():
            if replica.node == node and status == "up":
                self._on_diff(state.replica_down(replica))

    def _forget_peers(self) -> None:
        state = self.replica.state
        for replica in list(state.replicas()):
            if replica != state.me:
                self._on_diff(state.replica_permdown(replica))

    # -- change notification --

    def _notify(self, changes: dict[Any, list[Pid]], left: bool) -> None:
        for group, pids in changes.items():
            watchers = self.watches.get(group)
            if watchers and pids:
                event = GroupChange(group, [], pids) if left else GroupChange(group, pids, [])
                for watcher in watchers.values():
                    self.node.send(watcher, event)

    def _after_local_leave(self, pids: Iterable[Pid]) -> None:
        for pid in set(pids):
            if pid not in self.table.pids:
                ref = self.member_refs.pop(pid, None)
                if ref is not None:
                    self.members_mon.pop(ref, None)
                    demonitor(ref, flush=True)

    # -- requests from local processes --

    def handle_call(self, request: Any, caller: Any) -> Any:
        op = request[0]
        if op == "join":
            _, group, pids = request
            pids = [pid for pid in pids if self.node.is_local(pid)]
            for pid in pids:
                if pid not in self.member_refs:
                    ref = monitor(pid)
                    self.member_refs[pid] = ref
                    self.members_mon[ref] = pid
            joined = self.table.join(group, pids)
            self._notify({group: joined}, left=False)
            self._publish(group, joined)
            self.replica.flush()
            return None
        if op == "leave":
            _, group, pids = request
            left = self.table.leave(group, [pid for pid in pids if self.node.is_local(pid)])
            self._after_local_leave(left)
            self._notify({group: left}, left=True)
            if left:
                self._publish(group, left)
                self.replica.flush()
            return bool(left)
        if op == "monitor":
            _, group, watcher = request
            ref = self.node.make_ref()
            self.watches.setdefault(group, {})[ref] = watcher
            self.watch_groups[ref] = group
            if watcher not in self.watchers_mon:
                self.watchers_mon[watcher] = monitor(watcher)
            return ref
        if op == "demonitor":
            return self._demonitor(request[1])
        if op == "distribute":
            self.replica.flush()  # picks the cluster up now, not at the next tick
            return None
        if op == "undistribute":
            self._forget_peers()
            return None
        if op == "ping":  # a round trip: everything sent here before has been handled
            return request[1]
        raise ValueError(f"unknown pg request {request!r}")

    def _demonitor(self, ref: Ref) -> bool:
        group = self.watch_groups.pop(ref, None)
        if group is None:
            return False
        watchers = self.watches[group]
        del watchers[ref]
        if not watchers:
            del self.watches[group]
        return True

    # -- members' and watchers' exits, node events, replication --

    def handle_info(self, message: Any) -> Any:
        kind = type(message)
        if kind is Down:
            self._down(message)
            return None
        if kind is NodeDown:
            self._node_down(message.node)
        if self.replica.handle_info(message) or kind is NodeDown:
            return None
        if isinstance(message, tuple) and message and message[0] in _OLD_PEER_OPS:
            _log.error("%s dropped a message of the old pg protocol: %.200r", SERVER, message)
            return None
        return super().handle_info(message)

    def _down(self, message: Down) -> None:
        pid = self.members_mon.pop(message.ref, None)
        if pid is not None:
            del self.member_refs[pid]
            changes = self.table.remove_pid(pid)
            self._notify(changes, left=True)
            for group in changes:
                self.replica.remove((group, pid))
            self.replica.flush()
            return
        if self.watchers_mon.get(message.pid) == message.ref:
            del self.watchers_mon[message.pid]
            for ref, group in list(self.watch_groups.items()):
                if self.watches[group].get(ref) == message.pid:
                    self._demonitor(ref)

    def terminate(self, reason: Any) -> None:
        self.replica.close()


_OLD_PEER_OPS = frozenset({"pg_join", "pg_leave", "pg_exit", "pg_sync"})
# Changes go out at once (flush); the heartbeat only repairs what a lost message missed.
BROADCAST_PERIOD = 1.0


# -- starting and stopping the server (beamish.cluster.start does this) --


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[None]:
    """Run this node's pg server while the block lasts (``beamish.cluster.start`` does).

    A server already started locally on first use is made distributed instead, and goes
    back to local groups when the block ends.
    """
    node = this_node()
    existing = node.whereis(SERVER)
    pid = None
    if existing is not None:
        await call(existing, ("distribute",))
    else:
        pid = await ProcessGroups.start(name=SERVER)
    try:
        yield
    finally:
        with anyio.move_on_after(_STOP_TIMEOUT), anyio.CancelScope(shield=True):
            if pid is not None:
                with contextlib.suppress(NoProc):  # gone already if the node shut down
                    await stop_process(pid, timeout=_STOP_TIMEOUT)
            elif (existing := node.whereis(SERVER)) is not None:
                with contextlib.suppress(Exception):
                    await call(existing, ("undistribute",))


_STOP_TIMEOUT = 5.0


async def _server() -> Pid:
    node = this_node()
    pid = node.whereis(SERVER)
    if pid is not None:
        return pid
    try:
        return await ProcessGroups.start(name=SERVER)
    except NameTaken:
        pid = node.whereis(SERVER)
        assert pid is not None
        return pid


def _replica() -> ProcessGroups | None:
    node = this_node()
    pid = node.whereis(SERVER)
    server = actor_of(node, pid) if pid is not None else None
    return server if isinstance(server, ProcessGroups) else None


def _local_pids(pids: Pid | Iterable[Pid] | None) -> list[Pid]:
    node = this_node()
    if pids is None:
        return [self_pid()]
    listed = [pids] if isinstance(pids, Pid) else list(pids)
    for pid in listed:
        if not isinstance(pid, Pid) or not node.is_local(pid):
            raise ValueError(f"only local processes can join or leave a group, not {pid!r}")
    return listed


# -- the public API --


async def join(group: Any, pids: Pid | Iterable[Pid] | None = None) -> None:
    """Add the caller (or the local ``pids``) to ``group``, once more each.

    >>> import beamish
    >>> from beamish import cluster
    >>> async def main():
    ...     await cluster.join(("room", 1))
    ...     await cluster.join(("room", 1))
    ...     return len(cluster.members(("room", 1)))
    >>> beamish.run(main)
    2
    """
    await call(await _server(), ("join", group, _local_pids(pids)))


async def leave(group: Any, pids: Pid | Iterable[Pid] | None = None) -> bool:
    """Remove one membership of the caller (or of each local pid) from ``group``; False if
    none of them was a member.

    >>> import beamish
    >>> from beamish import cluster
    >>> async def main():
    ...     await cluster.join("g")
    ...     return await cluster.leave("g"), await cluster.leave("g"), cluster.members("g")
    >>> beamish.run(main)
    (True, False, [])
    """
    return await call(await _server(), ("leave", group, _local_pids(pids)))  # type: ignore[no-any-return]


def members(group: Any) -> list[Pid]:
    """Every member of ``group`` this node knows of, on every node (a pid once per join).

    >>> import beamish
    >>> from beamish import cluster
    >>> async def main():
    ...     await cluster.join("g", [beamish.self(), beamish.spawn(beamish.sleep, 60)])
    ...     return len(cluster.members("g")), cluster.members("nobody")
    >>> beamish.run(main)
    (2, [])
    """
    replica = _replica()
    return list(replica.table.members(group)) if replica is not None else []


def local_members(group: Any) -> list[Pid]:
    """The members of ``group`` that live on this node.

    >>> import beamish
    >>> from beamish import cluster
    >>> async def main():
    ...     await cluster.join("g")
    ...     return cluster.local_members("g") == [beamish.self()]
    >>> beamish.run(main)
    True
    """
    replica = _replica()
    if replica is None:
        return []
    return list(replica.table.node_members(group, replica.node.name))


def member_nodes(group: Any) -> list[str]:
    """The nodes (this one included) where ``group`` has members, by this node's replica.

    >>> import beamish
    >>> from beamish import cluster
    >>> async def main():
    ...     await cluster.join("g")
    ...     return cluster.member_nodes("g") == [beamish.this_node().name]
    >>> beamish.run(main)
    True
    """
    replica = _replica()
    return replica.table.member_nodes(group) if replica is not None else []


def which_groups() -> list[Any]:
    """Every group with at least one member, as this node knows them.

    >>> import beamish
    >>> from beamish import cluster
    >>> async def main():
    ...     await cluster.join("a")
    ...     return cluster.which_groups()
    >>> beamish.run(main)
    ['a']
    """
    replica = _replica()
    return list(replica.table.groups) if replica is not None else []


async def monitor_group(group: Any) -> Ref:
    """From now on the caller gets ``GroupChange(group, joined, left)`` for each change.

    >>> import beamish
    >>> from beamish import cluster
    >>> async def main():
    ...     ref = await cluster.monitor_group("g")
    ...     await cluster.join("g")
    ...     change = await beamish.receive()
    ...     await cluster.demonitor_group(ref)
    ...     return change.joined == [beamish.self()], change.left
    >>> beamish.run(main)
    (True, [])
    """
    return await call(await _server(), ("monitor", group, self_pid()))  # type: ignore[no-any-return]


async def demonitor_group(ref: Ref) -> bool:
    """Stop the ``GroupChange`` messages of ``monitor_group``; False if ``ref`` is unknown."""
    return await call(await _server(), ("demonitor", ref))  # type: ignore[no-any-return]
