"""Phoenix.Tracker: presences of processes per topic, replicated across the cluster.

The contract is in ``beamish.presence``.
"""

from __future__ import annotations

import base64
import functools
import inspect
import itertools
import struct
import time
import weakref
import zlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..actors import Actor, Exit, Node, NoProc, Pid, call, link, this_node, trap_exits, unlink
from ..cluster import Codec, EncodeError, Replicator
from ..replication import Diff, Replica
from ..supervision import Supervisor
from ._errors import AlreadyTracked, InvalidMeta, NotTracked

TopicDiff = dict[str, tuple[list[tuple[Any, dict[str, Any]]], list[tuple[Any, dict[str, Any]]]]]
"""What ``handle_diff`` gets: topic -> (joins, leaves), each a list of (key, meta)."""

_codec = Codec()
_refs = itertools.count()


def check_meta(meta: Any) -> dict[str, Any]:
    """``meta`` if it is a dict the cluster's wire can carry, else ``InvalidMeta``."""
    if not isinstance(meta, dict):
        raise InvalidMeta(f"a presence meta is a dict, not {type(meta).__name__}")
    try:
        _codec.encode(meta)
    except EncodeError as exc:
        raise InvalidMeta(f"the wire cannot carry this meta: {exc}") from None
    return meta


class Tracker:
    """Phoenix.Tracker's behaviour: subclass it, start it under a supervisor on every node,
    and ``track`` processes under topics and keys; ``handle_diff`` hears every join and
    leave, local or remote.

    Example:
        >>> import beamish
        >>> from beamish import presence
        >>> class Rooms(presence.Tracker):
        ...     def init(self, log):
        ...         self.log = log
        ...     def handle_diff(self, diff):
        ...         for topic, (joins, leaves) in diff.items():
        ...             self.log.append((topic, [k for k, _ in joins], [k for k, _ in leaves]))
        >>> log = []
        >>> async def main():
        ...     await Rooms.start_link(name="rooms", args=(log,))
        ...     me = beamish.self()
        ...     ref = await presence.track("rooms", me, "lobby", "alice", {"status": "here"})
        ...     listed = presence.list("rooms", "lobby")
        ...     await presence.untrack("rooms", me, "lobby", "alice")
        ...     return listed == [("alice", {"status": "here", "phx_ref": ref})], log
        >>> beamish.run(main)
        (True, [('lobby', ['alice'], []), ('lobby', [], ['alice'])])
    """

    def init(self, *args: Any) -> Any:
        """Set up this shard's state (``args`` from ``start_link``). Like every callback
        here, a plain ``def``: the shard serves every track of its topics, and must not
        wait."""
        if args:
            raise TypeError(f"{type(self).__name__}.init takes no arguments; got {args!r}")

    def handle_diff(self, diff: TopicDiff) -> Any:
        """Called in the shard, in order, for every change of what this node sees: topic ->
        (joins, leaves) of (key, meta). An update is a leave of the old meta and a join of
        the new. An exception crashes (and restarts) the shard."""

    def handle_info(self, message: Any) -> Any:
        """Any other message the shard process gets (default: ignored)."""

    @classmethod
    async def start_link(
        cls,
        *,
        name: str,
        pool_size: int = 1,
        args: Sequence[Any] = (),
        **options: Any,
    ) -> Pid:
        """Start the tracker ``name`` on this node: a supervisor of ``pool_size`` shards.

        ``options``: ``broadcast_period`` (1.5 s), ``down_period`` (30 s),
        ``permdown_period`` (1200 s), ``max_silent_periods`` (10), ``max_delta_sizes``
        ((100, 1000, 10000)), ``permdown_on_shutdown`` (False); see
        ``beamish.cluster.Replicator``.
        """
        return await Supervisor.start_link(
            shard_specs(cls, name, pool_size, tuple(args), options), name=name
        )

    @classmethod
    async def start(
        cls,
        *,
        name: str,
        pool_size: int = 1,
        args: Sequence[Any] = (),
        **options: Any,
    ) -> Pid:
        """Like :meth:`start_link`, not linked to the caller."""
        return await Supervisor.start(
            shard_specs(cls, name, pool_size, tuple(args), options), name=name
        )

    @classmethod
    def child_spec(
        cls,
        *,
        name: str,
        pool_size: int = 1,
        args: Sequence[Any] = (),
        **options: Any,
    ) -> dict[str, Any]:
        """The tracker as a child of your supervisor (the options of :meth:`start_link`)."""
        specs = shard_specs(cls, name, pool_size, tuple(args), options)
        return Supervisor.child_spec(specs, id=name, name=name)


def shard_specs(
    cls: type[Tracker], name: str, pool_size: int, args: tuple[Any, ...], options: dict[str, Any]
) -> list[dict[str, Any]]:
    if not isinstance(name, str):
        raise TypeError(f"a tracker's name is a str, not {type(name).__name__}")
    if type(pool_size) is not int or pool_size < 1:
        raise ValueError(f"pool_size must be a positive int, not {pool_size!r}")
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TypeError(f"unknown tracker options: {sorted(unknown)}")
    return [
        {
            "id": index,
            "start": (
                functools.partial(_Shard.start_link, name=shard_name(name, index)),
                (cls, name, index, pool_size, options, args),
            ),
            "restart": "permanent",
        }
        for index in range(pool_size)
    ]


_OPTIONS = frozenset(
    {
        "broadcast_period",
        "down_period",
        "permdown_period",
        "max_silent_periods",
        "max_delta_sizes",
        "permdown_on_shutdown",
    }
)


class _Pool(NamedTuple):
    shards: list[_Shard | None]


_pools: weakref.WeakKeyDictionary[Node, dict[str, _Pool]] = weakref.WeakKeyDictionary()


def shard_name(tracker: str, index: int) -> str:
    """The registered name (and replication scope) of a tracker's shard."""
    return f"{tracker}.shard{index}"


_last: list[Any] = [None, None]  # the last node asked and its pools: the fast path


def _pool(tracker: str) -> _Pool:
    node = this_node()
    pools: dict[str, _Pool]
    if _last[0] is node:
        pools = _last[1]
    else:
        pools = _pools.get(node, {})
        _last[:] = [node, pools] if node in _pools else [None, None]
    pool: _Pool | None = pools.get(tracker)
    if pool is None:
        raise NoProc(f"no tracker {tracker!r} runs on this node")
    return pool


def _shard_index(topic: str, pool_size: int) -> int:
    if pool_size == 1:
        return 0
    return zlib.crc32(topic.encode()) % pool_size


def _shard_for(tracker: str, topic: str) -> _Shard:
    shards = _pool(tracker).shards
    shard = shards[_shard_index(topic, len(shards))]
    if shard is None:
        raise NoProc(f"the shard of {topic!r} of tracker {tracker!r} is not running")
    return shard


Key = tuple[str, Pid, Any]  # (topic, pid, key): one replicated entry


class _Shard(Actor):
    """One shard: a replica of the tracker's presences for the topics that hash to it."""

    def init(  # type: ignore[override]
        self,
        cls: type[Tracker],
        tracker: str,
        index: int,
        pool_size: int,
        options: dict[str, Any],
        args: tuple[Any, ...],
    ) -> Any:
        for callback in ("init", "handle_diff", "handle_info"):
            if inspect.iscoroutinefunction(getattr(cls, callback)):
                raise TypeError(f"{cls.__name__}.{callback} must be a plain def (not async)")
        node = this_node()
        self.node = node
        self.node_hash = zlib.crc32(node.name.encode()) & 0xFFFF
        self.tracker = tracker
        self.index = index
        # topic -> entry (the replicated key) -> meta: what this node sees, kept from the
        # diffs; an entry of a replica that was replaced is dropped with it
        self.topics: dict[str, dict[Key, tuple[Replica, dict[str, Any]]]] = {}
        # the entries of each tracked pid; tracked pids are linked, as in Phoenix: their
        # exit untracks them, and a crash of the shard takes them down (they rejoin)
        self.pid_keys: dict[Pid, list[Key]] = {}
        trap_exits(True)
        self.callbacks = cls()
        replica_options = {k: v for k, v in options.items() if k in _OPTIONS}
        self.replica = Replicator(
            shard_name(tracker, index),
            on_diff=self._changed,
            accept=_is_presence,
            **replica_options,
        )
        pools = _pools.setdefault(node, {})
        _last[:] = [None, None]
        pool = pools.get(tracker)
        if pool is None or len(pool.shards) != pool_size:
            pool = pools[tracker] = _Pool([None] * pool_size)
        pool.shards[index] = self
        return self.callbacks.init(*args)

    # -- reads, on the caller's side --

    def presences(self, topic: str) -> list[tuple[Any, dict[str, Any]]]:
        entries = self.topics.get(topic)
        if not entries:
            return []
        return [(entry[2], seen[1]) for entry, seen in entries.items()]

    def get_by_key(self, topic: str, key: Any) -> list[tuple[Pid, dict[str, Any]]]:
        entries = self.topics.get(topic)
        if not entries:
            return []
        return [(entry[1], seen[1]) for entry, seen in entries.items() if entry[2] == key]

    # -- requests --

    def handle_call(self, request: Any, caller: Any) -> Any:
        op = request[0]
        if op == "track":
            _, pid, topic, key, meta = request
            entry: Key = (topic, pid, key)
            state = self.replica.state
            if state.get(entry) is not None:
                return ("error", AlreadyTracked(f"{pid} is already tracked on {topic!r}/{key!r}"))
            ref = self._new_ref()
            keys = self.pid_keys.get(pid)
            if keys is None:
                self.pid_keys[pid] = [entry]
                link(pid)
            else:
                keys.append(entry)
            meta = meta.copy()
            meta["phx_ref"] = ref
            self._changed(state.put(entry, meta))
            return ("ok", ref)
        if op == "update":
            _, pid, topic, key, change = request
            entry = (topic, pid, key)
            old = self.replica.state.get(entry)
            if old is None:
                return ("error", NotTracked(f"{pid} is not tracked on {topic!r}/{key!r}"))
            try:
                meta = check_meta(change(old) if callable(change) else change)
            except Exception as exc:  # the caller's function or meta: the caller's error
                return ("error", exc)
            ref = self._new_ref()
            new = {**meta, "phx_ref": ref, "phx_ref_prev": old["phx_ref"]}
            self._changed(self.replica.put(entry, new))
            return ("ok", ref)
        if op == "untrack":
            _, pid, topic, key = request
            self._untrack(pid, [(topic, pid, key)])
            return ("ok", None)
        if op == "untrack_all":
            self._untrack(request[1], list(self.pid_keys.get(request[1], ())))
            return ("ok", None)
        if op == "graceful_permdown":
            self.replica.graceful_permdown()
            return ("ok", None)
        raise ValueError(f"unknown tracker request {op!r}")

    def _new_ref(self) -> str:
        return base64.urlsafe_b64encode(
            _REF.pack(time.time_ns(), self.node_hash, next(_refs) & 0xFFFF)
        ).decode()

    def _untrack(self, pid: Pid, entries: list[Key]) -> None:
        keys = self.pid_keys.get(pid)
        if keys is None:
            return
        diff = Diff([], [])
        for entry in entries:
            if entry in keys:
                keys.remove(entry)
                diff.extend(self.replica.remove(entry))
        if not keys:
            del self.pid_keys[pid]
            unlink(pid)
        self._changed(diff)

    # -- messages --

    def handle_info(self, message: Any) -> Any:
        if self.replica.handle_info(message):
            return None
        if type(message) is Exit and message.pid in self.pid_keys:
            diff = Diff([], [])
            for entry in self.pid_keys.pop(message.pid):
                diff.extend(self.replica.remove(entry))
            self._changed(diff)
            return None
        return self.callbacks.handle_info(message)

    def _changed(self, diff: Diff) -> None:
        """Apply ``diff`` to the topic view, then tell the callbacks, grouped by topic."""
        if not diff:
            return
        topics = self.topics
        report: TopicDiff = {}
        for owner, entry, meta in diff.leaves:
            topic = entry[0]
            entries = topics.get(topic)
            if entries is not None:
                seen = entries.get(entry)
                if seen is not None and seen[0] == owner:
                    del entries[entry]
                    if not entries:
                        del topics[topic]
            found = report.get(topic)
            if found is None:
                report[topic] = ([], [(entry[2], meta)])
            else:
                found[1].append((entry[2], meta))
        for owner, entry, meta in diff.joins:
            topic = entry[0]
            entries = topics.get(topic)
            if entries is None:
                entries = topics[topic] = {}
            entries[entry] = (owner, meta)
            found = report.get(topic)
            if found is None:
                report[topic] = ([(entry[2], meta)], [])
            else:
                found[0].append((entry[2], meta))
        self.callbacks.handle_diff(report)

    def terminate(self, reason: Any) -> None:
        self.replica.close()
        pool = _pools.get(self.node, {}).get(self.tracker)
        if pool is not None and self.index < len(pool.shards) and pool.shards[self.index] is self:
            pool.shards[self.index] = None


_REF = struct.Struct(">QHH")


def _is_presence(entry: Any, meta: Any) -> bool:
    """What a peer may replicate into a tracker: ``(topic, pid, key) -> meta dict``."""
    return (
        type(entry) is tuple
        and len(entry) == 3
        and type(entry[0]) is str
        and type(entry[1]) is Pid
        and type(meta) is dict
        and type(meta.get("phx_ref")) is str
    )


# -- the public API --


def _outcome(answer: tuple[str, Any]) -> Any:
    status, value = answer
    if status == "error":
        raise value
    return value


def _check_topic(topic: Any) -> str:
    if not isinstance(topic, str):
        raise TypeError(f"a topic is a str, not {type(topic).__name__}")
    return topic


async def track(tracker: str, pid: Pid, topic: str, key: Any, meta: dict[str, Any]) -> str:
    """Track ``pid`` under ``topic`` and ``key`` with ``meta``; returns the ``phx_ref`` added
    to the meta. The presence leaves when ``pid`` exits.

    Raises:
        AlreadyTracked: ``pid`` is already tracked under this topic and key.
        InvalidMeta: ``meta`` is not a dict the wire can carry (the tracker never sees it).
    """
    check_meta(meta)
    shard = _shard_for(tracker, _check_topic(topic))
    return _outcome(await call(shard.pid, ("track", pid, topic, key, meta)))  # type: ignore[no-any-return]


async def untrack(tracker: str, pid: Pid, topic: str | None = None, key: Any = None) -> None:
    """Stop tracking ``pid`` under ``topic`` and ``key`` (nothing if it was not); without a
    topic, every presence of ``pid`` in this tracker."""
    if topic is None:
        for shard in _pool(tracker).shards:
            if shard is not None:
                _outcome(await call(shard.pid, ("untrack_all", pid)))
        return
    shard = _shard_for(tracker, _check_topic(topic))
    _outcome(await call(shard.pid, ("untrack", pid, topic, key)))


async def update(
    tracker: str,
    pid: Pid,
    topic: str,
    key: Any,
    meta: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]],
) -> str:
    """Replace the meta of a tracked presence with ``meta``, or with ``meta(old)`` if it is
    a function (it runs in the tracker shard: keep it quick); returns the new ``phx_ref``
    (the old one becomes ``phx_ref_prev``). Joins and leaves both report the change.

    Raises:
        NotTracked: nothing is tracked for ``pid`` under this topic and key.
        InvalidMeta: the new meta is not a dict the wire can carry.
    """
    if not callable(meta):
        check_meta(meta)
    shard = _shard_for(tracker, _check_topic(topic))
    return _outcome(await call(shard.pid, ("update", pid, topic, key, meta)))  # type: ignore[no-any-return]


def list_presences(tracker: str, topic: str) -> list[tuple[Any, dict[str, Any]]]:
    """Every presence of ``topic`` this node sees, as ``(key, meta)``; read on the caller's
    side, without a message. Presences of down nodes are not listed."""
    return _shard_for(tracker, topic).presences(topic)


def get_by_key(tracker: str, topic: str, key: Any) -> list[tuple[Pid, dict[str, Any]]]:
    """The presences of ``key`` in ``topic``, as ``(pid, meta)``."""
    return _shard_for(tracker, topic).get_by_key(topic, key)


async def graceful_permdown(tracker: str) -> None:
    """Tell every peer to drop this node's presences of ``tracker`` now (before a planned
    shutdown), instead of after the down period."""
    for shard in _pool(tracker).shards:
        if shard is not None:
            _outcome(await call(shard.pid, ("graceful_permdown",)))
