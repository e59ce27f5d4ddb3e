"""The replication protocol between replicas of one scope: heartbeats, transfers, downs (pure).

The contract is in ``beamish.replication``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ._state import Delta, Diff, OwnerState, Replica, State, no_diff


class ReplicationError(ValueError):
    """A replication message that is not well formed (it is dropped, nothing else)."""


class Step(NamedTuple):
    """What one protocol event produced: the visible changes, and the messages to send as
    ``(node, message)`` pairs (``node`` None: every peer of the scope)."""

    diff: Diff
    out: list[tuple[str | None, tuple[Any, ...]]]


Wire = tuple[Any, ...]


# -- wire forms: plain tuples and lists of values the cluster's codec carries --


def delta_to_wire(delta: Delta) -> Wire:
    """``delta`` as plain wire values."""
    puts = [(key, version, value) for key, (version, value) in delta.puts.items()]
    removes = list(delta.removes.items())
    owner = delta.owner
    return ("d", owner.node, owner.incarnation, delta.start, delta.end, puts, removes)


def owner_state_to_wire(full: OwnerState) -> Wire:
    """``full`` as plain wire values."""
    owner = full.owner
    return ("s", owner.node, owner.incarnation, full.version, list(full.entries.items()))


def _replica(node: Any, incarnation: Any) -> Replica:
    if type(node) is not str or type(incarnation) is not int:
        raise ReplicationError(f"not a replica: {node!r:.80}, {incarnation!r:.80}")
    return Replica(node, incarnation)


def _version(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ReplicationError(f"not a version: {value!r:.80}")
    return value


def _seq(value: Any) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise ReplicationError(f"expected a list, not {type(value).__name__}")
    return value


def update_from_wire(wire: Any) -> Delta | OwnerState:
    """A delta or owner state from its wire form (``ReplicationError`` if malformed)."""
    try:
        if wire[0] == "d" and len(wire) == 7:
            _, node, inc, start, end, puts, removes = wire
            start, end = _version(start), _version(end)
            if start > end:
                raise ReplicationError("a delta that ends before it starts")
            put_map = {}
            for key, version, value in _seq(puts):
                put_map[key] = (_version(version), value)
            remove_map = {key: _version(version) for key, version in _seq(removes)}
            return Delta(_replica(node, inc), start, end, put_map, remove_map)
        if wire[0] == "s" and len(wire) == 5:
            _, node, inc, version, entries = wire
            return OwnerState(_replica(node, inc), _version(version), dict(_seq(entries)))
    except ReplicationError:
        raise
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise ReplicationError(f"malformed update: {exc}") from exc
    raise ReplicationError(f"not an update: {wire!r:.80}")


def clock_to_wire(clock: dict[Replica, int]) -> list[tuple[str, int, int]]:
    """A clock as plain wire values."""
    return [(replica.node, replica.incarnation, version) for replica, version in clock.items()]


def clock_from_wire(wire: Any) -> dict[Replica, int]:
    """A clock from its wire form (``ReplicationError`` if malformed)."""
    try:
        return {_replica(node, inc): _version(version) for node, inc, version in _seq(wire)}
    except ReplicationError:
        raise
    except (TypeError, ValueError) as exc:
        raise ReplicationError(f"malformed clock: {exc}") from exc


# -- the protocol --


class Gossip:
    """One replica's side of the protocol, as a pure machine: feed it ticks and messages
    with the current time, send what it returns.

    >>> a = Gossip(State(Replica("a@h", 1)), now=0.0)
    >>> b = Gossip(State(Replica("b@h", 1)), now=0.0)
    >>> _ = a.state.put("k", "v")
    >>> step = a.tick(1.5)
    >>> [(dest, message[0]) for dest, message in step.out]
    [(None, 'hb')]
    >>> b.receive(step.out[0][1], 1.5).diff.joins[0].value
    'v'
    """

    def __init__(
        self,
        state: State,
        *,
        now: float,
        broadcast_period: float = 1.5,
        down_period: float | None = None,
        permdown_period: float = 1200.0,
        max_silent_periods: int = 10,
        accept: Callable[[Any, Any], bool] | None = None,
    ) -> None:
        if down_period is None:
            down_period = broadcast_period * max_silent_periods * 2
        if broadcast_period <= 0:
            raise ValueError("broadcast_period must be positive")
        if down_period < 2 * broadcast_period:
            raise ValueError("down_period must be at least twice the broadcast_period")
        if permdown_period <= down_period:
            raise ValueError("permdown_period must be larger than the down_period")
        if max_silent_periods < 1:
            raise ValueError("max_silent_periods must be at least 1")
        self.state = state
        self.accept = accept
        self.broadcast_period = broadcast_period
        self.down_period = down_period
        self.permdown_period = permdown_period
        self.max_silent_periods = max_silent_periods
        self.heard: dict[Replica, float] = {}  # peer -> when its last heartbeat came
        self._silent = max_silent_periods  # the first tick always sends a heartbeat
        self._behind: dict[Replica, int] = {}  # peer -> its version we lack: ask at a tick
        self._asked: dict[Replica, float] = {}  # peer -> when we last asked it
        self._pushed: dict[str, tuple[int, float]] = {}  # node -> (our version, when) pushed
        self._greeting: set[str] = set()  # nodes (re)connected whose first heartbeat is due
        self._started = now

    # -- messages this replica sends --

    def heartbeat(self, delta: Delta | None = None) -> Wire:
        """A heartbeat message: who we are, the delta (if any) and our clock."""
        me = self.state.me
        wire_delta = delta_to_wire(delta) if delta is not None else None
        return ("hb", me.node, me.incarnation, wire_delta, clock_to_wire(self.state.clock()))

    def tick(self, now: float) -> Step:
        """Every ``broadcast_period``: send the pending delta (or, after
        ``max_silent_periods`` quiet ticks, an empty heartbeat), ask lagging peers for a
        transfer, and down or permdown the silent ones."""
        out: list[tuple[str | None, Wire]] = []
        delta, changed = self.state.take_delta()
        if delta is not None and self._pushed_to_every_peer(delta.end):
            delta = None  # each peer has these changes from a push: the clock says enough
        self._silent += 1
        if changed or self._silent >= self.max_silent_periods:
            out.append((None, self.heartbeat(delta)))
            self._silent = 0
        for peer, version in list(self._behind.items()):
            if self.state.version(peer) >= version or self.state.status(peer) is None:
                del self._behind[peer]  # what we asked for has come
            elif now - self._asked.get(peer, -math.inf) >= 2 * self.broadcast_period:
                del self._behind[peer]
                out.append((peer.node, self._transfer_request(peer, now)))
        return Step(self._detect_downs(now), out)

    def peer_connected(self, node: str) -> Step:
        """A node connected: tell it about us at once (it may have been partitioned). Its
        first heartbeat back (its greeting) gets what it lacks of ours pushed at once."""
        self._greeting.add(node)
        return Step(no_diff(), [(node, self.heartbeat())])

    def graceful_permdown(self) -> Step:
        """Leaving for good: peers drop our entries at once instead of after the down period."""
        me = self.state.me
        return Step(no_diff(), [(None, ("bye", me.node, me.incarnation))])

    def _transfer_request(self, peer: Replica, now: float) -> Wire:
        self._asked[peer] = now
        me = self.state.me
        return ("treq", me.node, me.incarnation, clock_to_wire(self.state.clock()))

    def _want_transfer(
        self, peer: Replica, version: int, now: float, out: list[tuple[str | None, Wire]]
    ) -> None:
        """Ask ``peer`` for its entries up to ``version``, at most once every two broadcast
        periods (an answer on its way is not asked for twice; a lost one is asked again)."""
        asked = self._asked.get(peer)
        if asked is None or now - asked >= 2 * self.broadcast_period:
            out.append((peer.node, self._transfer_request(peer, now)))
        else:
            self._behind[peer] = max(version, self._behind.get(peer, 0))

    def _detect_downs(self, now: float) -> Diff:
        diff = no_diff()
        state = self.state
        for peer, last in list(self.heard.items()):
            status = state.status(peer)
            silence = now - last
            if status is None:
                del self.heard[peer]
            elif silence > self.permdown_period:
                diff.extend(state.replica_permdown(peer))
                del self.heard[peer]
                self._asked.pop(peer, None)
            elif silence > self.down_period and status == "up":
                diff.extend(state.replica_down(peer))
        return diff

    # -- messages from peers --

    def receive(self, message: Any, now: float) -> Step:
        """Handle a peer's message (``ReplicationError`` if it is malformed)."""
        if not isinstance(message, tuple) or len(message) < 3:
            raise ReplicationError(f"not a replication message: {message!r:.80}")
        kind = message[0]
        sender = _replica(message[1], message[2])
        state = self.state
        if sender.node == state.me.node or state.is_stale(sender):
            return Step(no_diff(), [])
        if kind == "hb" and len(message) == 5:
            return self._heartbeat(sender, message[3], message[4], now)
        if kind == "treq" and len(message) == 4:
            clock = clock_from_wire(message[3])
            if self._pushed_recently(sender.node, now):
                clock[state.me] = state.version(state.me)  # on its way: no second copy
            transfer = self._transfer(clock)
            self._greeting.discard(sender.node)  # it asked: nothing more to push unasked
            if not transfer[3]:
                return Step(no_diff(), [])
            self._pushed[sender.node] = (state.version(state.me), now)
            return Step(no_diff(), [(sender.node, transfer)])
        if kind == "tack" and len(message) == 4:
            updates = [self._from(sender, wire) for wire in _seq(message[3])]
            out: list[tuple[str | None, Wire]] = []
            merged = state.merge(updates)
            if merged.gaps:
                self._want_transfer(sender, state.version(sender) + 1, now, out)
            return Step(merged.diff, out)
        if kind == "bye" and len(message) == 3:
            self.heard.pop(sender, None)
            return Step(state.replica_permdown(sender), [])
        raise ReplicationError(f"unknown replication message {kind!r:.40}")

    def _heartbeat(self, sender: Replica, wire_delta: Any, wire_clock: Any, now: float) -> Step:
        state = self.state
        delta = self._from(sender, wire_delta) if wire_delta is not None else None
        clock = clock_from_wire(wire_clock)
        diff = state.replica_up(sender) if state.status(sender) != "up" else no_diff()
        if state.is_stale(sender):
            return Step(diff, [])
        self.heard[sender] = now
        out: list[tuple[str | None, Wire]] = []
        wanted = clock.get(sender, 0)
        if delta is not None:
            merged = state.merge(delta)
            diff.extend(merged.diff)
            wanted = max(wanted, delta.end if isinstance(delta, Delta) else delta.version)
        if state.version(sender) < wanted:
            self._want_transfer(sender, wanted, now, out)
        me = state.me
        greeting = sender.node in self._greeting
        self._greeting.discard(sender.node)
        if me not in clock:  # it has not heard of us (our heartbeats to it were lost)
            out.append((sender.node, self.heartbeat()))
        elif (
            greeting
            and clock[me] < state.version(me)
            and not self._pushed_recently(sender.node, now)
        ):
            # its first heartbeat since it (re)connected: what it lacks of ours changed
            # while we were apart (a healed partition), so push it now rather than wait for
            # its request. Later heartbeats are not: a clock behind ours then mostly means
            # deltas on their way, and a lost one is asked for (a gap, or our clock).
            out.append((sender.node, self._transfer(clock)))
            self._pushed[sender.node] = (state.version(me), now)
        return Step(diff, out)

    def _from(self, sender: Replica, wire: Any) -> Delta | OwnerState:
        """A peer's update, checked: only its own entries, each one ``accept``-ed."""
        update = update_from_wire(wire)
        if update.owner != sender:
            raise ReplicationError(f"{sender} sent entries of {update.owner}")
        accept = self.accept
        if accept is not None:
            pairs = (
                ((k, v) for k, (_, v) in update.puts.items())
                if isinstance(update, Delta)
                else update.entries.items()
            )
            for key, value in pairs:
                if not accept(key, value):
                    raise ReplicationError(f"{sender} sent an entry not accepted: {key!r:.80}")
        return update

    def _pushed_to_every_peer(self, version: int) -> bool:
        """Whether our entries up to ``version`` went to every peer that is up by a push."""
        me, pushed = self.state.me, self._pushed
        peers = [r for r, status in self.state.replicas().items() if r != me and status == "up"]
        return bool(peers) and all(pushed.get(r.node, (-1, 0.0))[0] >= version for r in peers)

    def _pushed_recently(self, node: str, now: float) -> bool:
        """Whether our current version went to ``node`` less than two periods ago."""
        pushed = self._pushed.get(node)
        return (
            pushed is not None
            and pushed[0] == self.state.version(self.state.me)
            and now - pushed[1] < 2 * self.broadcast_period
        )

    def _transfer(self, their_clock: dict[Replica, int]) -> Wire:
        """A transfer of our own entries to a peer whose clock is behind ours: a delta from
        our change log when we still have it, else our full state. (Only owners send their
        entries: a peer hears every owner it shows directly, so relaying through third
        parties would only send the same entries twice.)"""
        state = self.state
        me = state.me
        version = state.version(me)
        theirs = their_clock.get(me)
        updates: list[Wire] = []
        if theirs is None or theirs < version:
            delta = state.delta_since(theirs) if theirs is not None else None
            if delta is not None and len(delta) <= len(state.owned(me)):
                updates.append(delta_to_wire(delta))
            else:
                updates.extend(owner_state_to_wire(full) for full in state.snapshot([me]))
        return ("tack", me.node, me.incarnation, updates)
