"""Tracker and Presence on one node: the API, phoenix.js shapes, bad input."""

import pytest

import beamish
from beamish import presence, pubsub, supervision
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


class Log(presence.Tracker):
    """Sends every diff to ``watcher`` as (topic, joins, leaves) of (key, meta)."""

    def init(self, watcher):
        self.watcher = watcher

    def handle_diff(self, diff):
        for topic, (joins, leaves) in diff.items():
            beamish.send(self.watcher, ("diff", topic, joins, leaves))


async def idle():
    await beamish.receive(lambda m: m == "stop")


async def test_track_list_get_by_key_untrack(node):
    """Track adds phx_ref and reports a join; list and get_by_key read it; untrack leaves."""
    await Log.start_link(name="t", args=(beamish.self(),))
    pid = beamish.spawn(idle)
    ref = await presence.track("t", pid, "room", "alice", {"s": 1})
    assert isinstance(ref, str)
    assert len(ref) == 16
    meta = {"s": 1, "phx_ref": ref}
    assert await assert_receive(("diff", "room", [("alice", meta)], []))
    assert presence.list("t", "room") == [("alice", meta)]
    assert presence.get_by_key("t", "room", "alice") == [(pid, meta)]
    assert presence.get_by_key("t", "room", "bob") == []
    assert presence.list("t", "other") == []
    await presence.untrack("t", pid, "room", "alice")
    assert await assert_receive(("diff", "room", [], [("alice", meta)]))
    assert presence.list("t", "room") == []
    await presence.untrack("t", pid, "room", "alice")  # nothing tracked: nothing happens
    await refute_receive(lambda m: m[0] == "diff")


async def test_update_sets_a_new_ref_and_phx_ref_prev(node):
    """update with a meta or a function: a leave of the old meta and a join of the new."""
    await Log.start_link(name="t", args=(beamish.self(),))
    pid = beamish.spawn(idle)
    first = await presence.track("t", pid, "room", "k", {"n": 1})
    await assert_receive(lambda m: m[0] == "diff")
    second = await presence.update("t", pid, "room", "k", lambda meta: {"n": meta["n"] + 1})
    _, _, joins, leaves = await assert_receive(lambda m: m[0] == "diff")
    assert leaves == [("k", {"n": 1, "phx_ref": first})]
    assert joins == [("k", {"n": 2, "phx_ref": second, "phx_ref_prev": first})]
    third = await presence.update("t", pid, "room", "k", {"n": 9})
    assert presence.list("t", "room") == [("k", {"n": 9, "phx_ref": third, "phx_ref_prev": second})]


async def test_errors_are_the_callers_and_the_tracker_keeps_running(node):
    """Double track, update of nothing, a meta the wire cannot carry, a meta function that
    raises: each raises in the caller; the tracker and its presences are unharmed."""
    sup = await Log.start_link(name="t", args=(beamish.self(),))
    pid = beamish.spawn(idle)
    await presence.track("t", pid, "room", "k", {})
    with pytest.raises(presence.AlreadyTracked):
        await presence.track("t", pid, "room", "k", {})
    with pytest.raises(presence.NotTracked):
        await presence.update("t", pid, "room", "other", {})
    with pytest.raises(presence.InvalidMeta):
        await presence.track("t", pid, "room", "k2", {"f": lambda: 1})
    with pytest.raises(presence.InvalidMeta):
        await presence.track("t", pid, "room", "k2", ["not", "a", "dict"])
    with pytest.raises(presence.InvalidMeta):
        await presence.update("t", pid, "room", "k", lambda meta: {"f": object()})
    with pytest.raises(ZeroDivisionError):
        await presence.update("t", pid, "room", "k", lambda meta: 1 / 0)
    with pytest.raises(TypeError):
        await presence.track("t", pid, b"bytes topic", "k", {})
    assert [key for key, _ in presence.list("t", "room")] == ["k"]
    assert beamish.is_alive(sup)
    with pytest.raises(beamish.NoProc):
        presence.list("nope", "room")


async def test_a_tracked_process_that_exits_leaves_every_topic(node):
    """A tracked process's exit removes all its presences, reported as leaves."""
    await Log.start_link(name="t", args=(beamish.self(),))
    pid = beamish.spawn(idle)
    await presence.track("t", pid, "a", "k", {})
    await presence.track("t", pid, "b", "k", {})
    await assert_receive(lambda m: m[0] == "diff" and m[1] == "a")
    await assert_receive(lambda m: m[0] == "diff" and m[1] == "b")
    beamish.send(pid, "stop")
    left = {(await assert_receive(lambda m: m[0] == "diff"))[1] for _ in range(2)}
    assert left == {"a", "b"}
    assert presence.list("t", "a") == presence.list("t", "b") == []


async def test_untrack_all_and_shards(node):
    """With several shards, topics spread over them and untrack without a topic removes a
    pid from all."""
    await Log.start_link(name="t", pool_size=4, args=(beamish.self(),))
    pid = beamish.spawn(idle)
    topics = [f"topic:{i}" for i in range(12)]
    for topic in topics:
        await presence.track("t", pid, topic, "k", {})
    shards = {presence.shard_name("t", i) for i in range(4)}
    assert all(beamish.whereis(name) is not None for name in shards)
    await presence.untrack("t", pid)
    assert all(presence.list("t", topic) == [] for topic in topics)


async def test_a_crashed_shard_takes_its_tracked_processes_and_restarts_empty(node):
    """As in Phoenix: tracked processes are linked to the shard; the supervisor restarts
    the shard, which starts empty (a new replica)."""
    sup = await Log.start_link(name="t", args=(beamish.self(),))
    pid = beamish.spawn(idle)
    ref = beamish.monitor(pid)
    await presence.track("t", pid, "room", "k", {})
    shard = beamish.whereis(presence.shard_name("t", 0))
    beamish.exit(shard, "kill")
    await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    # the shard's exit reached the supervisor before our Down: this call comes after it
    [child] = await supervision.which_children(sup)
    assert child.pid not in (None, shard)
    assert beamish.whereis(presence.shard_name("t", 0)) == child.pid
    assert presence.list("t", "room") == []


async def test_presence_shapes_for_phoenix_js(node):
    """Presence.list groups metas per key; diffs go to topic subscribers as PresenceDiff
    {"joins", "leaves"}; update puts the key in both; fetch adds fields."""

    def fetch(topic, presences):
        return {key: {**entry, "user": {"name": key.upper()}} for key, entry in presences.items()}

    lobby = presence.Presence("lobby", fetch=fetch)
    await lobby.start_link()
    await pubsub.subscribe("room:1")
    me = beamish.self()
    tab1 = await lobby.track(me, "room:1", "alice", {"tab": 1})
    diff = await assert_receive(presence.PresenceDiff)
    assert diff.topic == "room:1"
    assert diff.payload == {
        "joins": {"alice": {"metas": [{"tab": 1, "phx_ref": tab1}], "user": {"name": "ALICE"}}},
        "leaves": {},
    }
    other = beamish.spawn(idle)
    tab2 = await lobby.track(other, "room:1", "alice", {"tab": 2})
    await assert_receive(presence.PresenceDiff)
    listed = lobby.list("room:1")
    assert listed["alice"]["user"] == {"name": "ALICE"}
    assert sorted(m["phx_ref"] for m in listed["alice"]["metas"]) == sorted([tab1, tab2])
    new = await lobby.update(me, "room:1", "alice", {"tab": 1, "away": True})
    diff = await assert_receive(presence.PresenceDiff)
    assert diff.payload["leaves"]["alice"]["metas"] == [{"tab": 1, "phx_ref": tab1}]
    assert diff.payload["joins"]["alice"]["metas"] == [
        {"tab": 1, "away": True, "phx_ref": new, "phx_ref_prev": tab1}
    ]
    assert lobby.get_by_key("room:1", "bob") == {}
    assert len(lobby.get_by_key("room:1", "alice")["metas"]) == 2
    with pytest.raises(presence.InvalidMeta):
        await lobby.track(me, "room:1", "bob", {"raw": b"bytes are not JSON"})
    await lobby.untrack(me, "room:1", "alice")
    diff = await assert_receive(presence.PresenceDiff)
    assert diff.payload["joins"] == {}
    assert list(diff.payload["leaves"]) == ["alice"]


async def test_presence_on_diff_is_pluggable(node):
    """A custom on_diff gets (topic, payload) instead of the pubsub broadcast."""
    me = beamish.self()
    custom = presence.Presence("custom", on_diff=lambda t, p: beamish.send(me, ("got", t, p)))
    await custom.start_link()
    ref = await custom.track(me, "t", 42, {})
    assert await assert_receive(lambda m: m[0] == "got") == (
        "got",
        "t",
        {"joins": {"42": {"metas": [{"phx_ref": ref}]}}, "leaves": {}},
    )


async def test_a_peer_message_the_tracker_cannot_take_is_dropped(node):
    """Replication messages from a (buggy or hostile) peer with entries that are not
    presences, or that are malformed, are dropped; the shard keeps running and lists
    nothing of them."""
    sup = await Log.start_link(name="t", args=(beamish.self(),))
    scope = presence.shard_name("t", 0)
    shard = beamish.whereis(scope)
    evil = [
        ("hb", "evil@h", 1, ("d", "evil@h", 1, 0, 1, [("not a presence", 1, {})], []), []),
        ("hb", "evil@h", 1, ("d", "evil@h", 1, 0, 1, [(("t", "pid?", "k"), 1, {})], []), []),
        ("hb", "evil@h", 1, ("d", "evil@h", 1, 0, 1, "garbage", []), []),
        ("tack", "evil@h", 1, [("s", "other@h", 1, 1, [])]),
        ("hb", "evil@h"),
        "nonsense",
    ]
    for message in evil:
        beamish.send(scope, ("beamish.replication", scope, message))
    pid = beamish.spawn(idle)
    await presence.track("t", pid, "t", "k", {})  # handled after every message above
    assert [key for key, _ in presence.list("t", "t")] == ["k"]
    assert beamish.whereis(scope) == shard
    assert beamish.is_alive(sup)
