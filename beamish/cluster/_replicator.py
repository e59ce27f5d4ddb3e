"""Ships one replicated ``State`` over the mesh for the process that owns it.

The pure protocol is ``beamish.replication.Gossip``; this is its thin shell: timers from
the node clock, messages through the cluster, node events. It lives inside an actor (the
owner of the entries), which forwards its messages here.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from ..actors import NoProc, cancel_timer, send_after, this_node
from ..actors import self as self_pid
from ..replication import Diff, Gossip, Replica, ReplicationError, State, new_incarnation
from ._errors import EncodeError, FrameError
from ._mesh import Cluster, NodeDown, NodeUp

_log = logging.getLogger("beamish.cluster")

TAG = "beamish.replication"


class _Tick:
    __slots__ = ()


class Replicator:
    """One replica of ``scope``, run by the calling process: its own entries, a copy of
    every peer's, and the gossip that keeps them in step.

    Create it in the owning actor's ``init``; pass it every message first. Every node runs
    one process registered (locally) under the name ``scope``: the replicator registers the
    calling process so if it is not yet.

    Example:
        >>> import beamish
        >>> from beamish import cluster
        >>> class Table(beamish.Actor):
        ...     def init(self):
        ...         self.replica = cluster.Replicator("doc.table", on_diff=self.changed)
        ...     def changed(self, diff):
        ...         pass  # joins and leaves that came from peers, downs and ups
        ...     def handle_call(self, request, caller):
        ...         key, value = request
        ...         return self.replica.put(key, value).joins[0].value
        ...     def handle_info(self, message):
        ...         if not self.replica.handle_info(message):
        ...             return super().handle_info(message)
        >>> async def main():
        ...     pid = await Table.start()
        ...     return await beamish.call(pid, ("k", 1))
        >>> beamish.run(main)
        1

    Semantics:
        - Writes (:meth:`put`, :meth:`remove`) change this replica's own entries at once and
          return their :class:`~beamish.replication.Diff`; they are NOT passed to
          ``on_diff``. Peers learn them from the next heartbeat (every
          ``broadcast_period`` seconds).
        - ``on_diff(diff)`` is called, in the owning process, for everything else that
          changes what is visible here: a peer's delta or transfer, a peer that comes up,
          goes down (after ``down_period`` seconds of silence; hidden) or permanently down
          (after ``permdown_period``; deleted), or a peer's restart (a new incarnation
          replaces the old one at once).
        - Peers are the processes registered as ``scope`` on the connected nodes; a node
          that does not run ``scope`` drops (and counts) what it is sent. When a node
          connects it is told about this replica at once, so a healed partition is repaired
          within a broadcast period or two, not after ``max_silent_periods``.
        - Without distribution it works on its own; a cluster started later is picked up
          at the next tick.
        - A malformed message from a peer is logged and dropped whole, as is one that
          carries entries of another owner, or an entry ``accept(key, value)`` refuses
          (the owning actor's check of what its peers may put in its table).
    """

    def __init__(
        self,
        scope: str,
        *,
        on_diff: Callable[[Diff], None] | None = None,
        broadcast_period: float = 1.5,
        down_period: float | None = None,
        permdown_period: float = 1200.0,
        max_silent_periods: int = 10,
        max_delta_sizes: Sequence[int] = (100, 1000, 10_000),
        permdown_on_shutdown: bool = False,
        accept: Callable[[Any, Any], bool] | None = None,
    ) -> None:
        node = this_node()
        pid = self_pid()
        owner = node.whereis(scope)
        if owner is None:
            node.register(scope, pid)
        elif owner != pid:
            raise ValueError(f"{scope!r} is registered to {owner!r}, not to the caller")
        if not max_delta_sizes:
            raise ValueError("max_delta_sizes must name at least one size")
        self.scope = scope
        self.pid = pid
        self.on_diff = on_diff
        self.permdown_on_shutdown = permdown_on_shutdown
        self._node = node
        self.state = State(
            Replica(node.name, new_incarnation()), max_delta_size=max(max_delta_sizes)
        )
        self.gossip = Gossip(
            self.state,
            now=node.clock.now(),
            broadcast_period=broadcast_period,
            down_period=down_period,
            permdown_period=permdown_period,
            max_silent_periods=max_silent_periods,
            accept=accept,
        )
        self._cluster: Cluster | None = None
        self._tick = _Tick()
        self._timer = send_after(pid, self._tick, random.uniform(0, broadcast_period * 0.25))
        self._watch_cluster()

    # -- writes and reads --

    @property
    def me(self) -> Replica:
        """This replica."""
        return self.state.me

    def put(self, key: Hashable, value: Any) -> Diff:
        """Set this replica's ``key`` to ``value`` (the value must be wire-safe)."""
        return self.state.put(key, value)

    def remove(self, key: Hashable) -> Diff:
        """Remove this replica's ``key`` (an empty diff if it had none)."""
        return self.state.remove(key)

    # -- the owning process's messages --

    def handle_info(self, message: Any) -> bool:
        """Handle ``message`` if it is the replicator's (a tick, a peer's message, a node
        event); True if it was."""
        if message is self._tick:
            self._on_tick()
            return True
        if type(message) is tuple and len(message) == 3 and message[0] == TAG:
            if message[1] == self.scope:
                self._on_peer(message[2])
                return True
            return False
        if type(message) is NodeUp:
            self._run(self.gossip.peer_connected(message.node))
            return True
        return type(message) is NodeDown  # liveness comes from heartbeats, as Phoenix

    def close(self) -> None:
        """Stop gossiping (call it from ``terminate``); with ``permdown_on_shutdown`` peers
        drop this replica's entries at once instead of after the down period."""
        cancel_timer(self._timer)
        if self.permdown_on_shutdown:
            self._run(self.gossip.graceful_permdown())
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.monitor_nodes(self.pid, False)
            self._cluster = None

    def graceful_permdown(self) -> None:
        """Tell peers to drop this replica's entries now."""
        self._run(self.gossip.graceful_permdown())

    def flush(self) -> None:
        """Send the pending delta now instead of at the next tick (picking up a cluster
        started since): for tables that replicate each change at once, as pg, global
        names and the cluster registry do; the heartbeat then only repairs losses."""
        self._watch_cluster()
        self._run(self.gossip.tick(self._node.clock.now()))

    # -- internals --

    def _watch_cluster(self) -> None:
        remote = self._node.remote
        cluster = remote if isinstance(remote, Cluster) else None
        if cluster is self._cluster:
            return
        self._cluster = cluster
        if cluster is not None:
            cluster.monitor_nodes(self.pid, True)
            for peer in cluster.nodes():
                self._run(self.gossip.peer_connected(peer))

    def _on_tick(self) -> None:
        self._watch_cluster()
        self._run(self.gossip.tick(self._node.clock.now()))
        self._timer = send_after(self.pid, self._tick, self.gossip.broadcast_period)

    def _on_peer(self, message: Any) -> None:
        try:
            step = self.gossip.receive(message, self._node.clock.now())
        except ReplicationError as exc:
            _log.error("%s dropped a malformed replication message: %s", self.scope, exc)
            return
        self._run(step)

    def _run(self, step: Any) -> None:
        if step.diff and self.on_diff is not None:
            self.on_diff(step.diff)
        for dest, message in step.out:
            self._send(dest, (TAG, self.scope, message))

    def _send(self, dest: str | None, message: Any) -> None:
        cluster = self._cluster
        if cluster is None:
            return
        try:
            if dest is None:
                connections = list(cluster.connections.values())
                if connections:
                    payload = cluster.codec.encode(("send_name", self.scope, message))
                    if len(payload) > cluster.max_frame:
                        raise FrameError(f"{len(payload)} bytes is over the frame limit")
                    for conn in connections:
                        conn.send_encoded(payload)
            else:
                with contextlib.suppress(NoProc):
                    self._node.send((self.scope, dest), message)
        except (EncodeError, FrameError) as exc:
            # a delta too big or a value the wire cannot carry: peers catch up by transfer
            _log.error("%s could not send a replication message: %s", self.scope, exc)
