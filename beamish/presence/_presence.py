"""Phoenix.Presence: presences grouped by key, in the shape phoenix.js expects.

The contract is in ``beamish.presence``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..actors import Pid
from ..pubsub import local_broadcast
from . import _tracker
from ._errors import InvalidMeta
from ._tracker import TopicDiff, Tracker

Presences = dict[str, dict[str, Any]]
"""``{key: {"metas": [meta, ...], ...fields added by fetch}}``"""

Fetch = Callable[[str, Presences], Presences]
OnDiff = Callable[[str, dict[str, Presences]], Any]


class PresenceDiff(NamedTuple):
    """What subscribers of a topic get for each change (the default ``on_diff``):
    ``payload`` is ``{"joins": {...}, "leaves": {...}}``, as ``presence_diff`` carries it."""

    topic: str
    payload: dict[str, Presences]


def broadcast_diff(topic: str, payload: dict[str, Presences]) -> None:
    """The default ``on_diff``: ``PresenceDiff(topic, payload)`` to this node's subscribers
    of ``topic`` (every node reports what it sees itself, as Phoenix does)."""
    local_broadcast(topic, PresenceDiff(topic, payload))


def group(entries: Sequence[tuple[Any, dict[str, Any]]]) -> Presences:
    """``(key, meta)`` pairs grouped as phoenix.js expects: ``{key: {"metas": [...]}}``."""
    grouped: Presences = {}
    for key, meta in entries:
        found = grouped.get(key)
        if found is None:
            grouped[key] = {"metas": [meta]}
        else:
            found["metas"].append(meta)
    return grouped


def _check_json(meta: Any) -> None:
    if not isinstance(meta, dict):
        raise InvalidMeta(f"a presence meta is a dict, not {type(meta).__name__}")
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise InvalidMeta(f"a presence meta must be JSON for phoenix.js: {exc}") from None


class _PresenceTracker(Tracker):
    def init(self, fetch: Fetch | None, on_diff: OnDiff) -> None:
        self.fetch = fetch
        self.on_diff = on_diff

    def handle_diff(self, diff: TopicDiff) -> None:
        for topic, (joins, leaves) in diff.items():
            payload = {"joins": group(joins), "leaves": group(leaves)}
            if self.fetch is not None:
                payload = {
                    "joins": self.fetch(topic, payload["joins"]) if joins else {},
                    "leaves": self.fetch(topic, payload["leaves"]) if leaves else {},
                }
            self.on_diff(topic, payload)


class Presence:
    """Phoenix.Presence: who is in each topic, across the cluster, for phoenix.js.

    Example:
        >>> import beamish
        >>> from beamish import presence, pubsub
        >>> lobby = presence.Presence("lobby_presence")
        >>> async def main():
        ...     await lobby.start_link()
        ...     await pubsub.subscribe("room:1")
        ...     await lobby.track(beamish.self(), "room:1", "alice", {"device": "phone"})
        ...     diff = await beamish.receive(timeout=1)
        ...     [meta] = lobby.list("room:1")["alice"]["metas"]
        ...     return sorted(diff.payload["joins"]), meta["device"], len(meta["phx_ref"])
        >>> beamish.run(main)
        (['alice'], 'phone', 16)
    """

    def __init__(
        self,
        name: str,
        *,
        fetch: Fetch | None = None,
        on_diff: OnDiff | None = None,
        pool_size: int = 1,
        **tracker_options: Any,
    ) -> None:
        self.name = name
        self.fetch = fetch
        self.on_diff: OnDiff = on_diff if on_diff is not None else broadcast_diff
        self.pool_size = pool_size
        self.tracker_options = tracker_options
        _tracker.shard_specs(_PresenceTracker, name, pool_size, (), tracker_options)

    def child_spec(self) -> dict[str, Any]:
        """This presence's tracker as a child of your supervisor (start one on every node)."""
        return _PresenceTracker.child_spec(
            name=self.name,
            pool_size=self.pool_size,
            args=(self.fetch, self.on_diff),
            **self.tracker_options,
        )

    async def start_link(self) -> Pid:
        """Start this presence's tracker on this node, linked to the caller."""
        return await _PresenceTracker.start_link(
            name=self.name,
            pool_size=self.pool_size,
            args=(self.fetch, self.on_diff),
            **self.tracker_options,
        )

    async def track(self, pid: Pid, topic: str, key: Any, meta: dict[str, Any]) -> str:
        """Track ``pid`` as ``key`` (stringified, as Phoenix does) in ``topic``; returns the
        ``phx_ref`` added to ``meta``. ``InvalidMeta`` unless meta is a JSON-able dict."""
        _check_json(meta)
        return await _tracker.track(self.name, pid, topic, str(key), meta)

    async def untrack(self, pid: Pid, topic: str | None = None, key: Any = None) -> None:
        """Stop tracking ``pid`` as ``key`` in ``topic`` (every presence of pid without a
        topic)."""
        await _tracker.untrack(self.name, pid, topic, None if key is None else str(key))

    async def update(
        self,
        pid: Pid,
        topic: str,
        key: Any,
        meta: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]],
    ) -> str:
        """Replace the meta (or apply ``meta(old)``); a new ``phx_ref``, the old one as
        ``phx_ref_prev``."""
        if callable(meta):
            change = meta

            def checked(old: dict[str, Any]) -> dict[str, Any]:
                new = change(old)
                _check_json(new)
                return new

            return await _tracker.update(self.name, pid, topic, str(key), checked)
        _check_json(meta)
        return await _tracker.update(self.name, pid, topic, str(key), meta)

    def list(self, topic: str) -> Presences:
        """``{key: {"metas": [...]}}`` of every presence in ``topic`` this node sees,
        through ``fetch`` (the ``presence_state`` payload)."""
        presences = group(_tracker.list_presences(self.name, topic))
        if self.fetch is not None and presences:
            return self.fetch(topic, presences)
        return presences

    def get_by_key(self, topic: str, key: Any) -> dict[str, Any]:
        """``{"metas": [...]}`` of ``key`` in ``topic`` (through ``fetch``), or ``{}``."""
        key = str(key)
        metas = [meta for _, meta in _tracker.get_by_key(self.name, topic, key)]
        if not metas:
            return {}
        presences = {key: {"metas": metas}}
        if self.fetch is not None:
            presences = self.fetch(topic, presences)
        return presences.get(key, {})
