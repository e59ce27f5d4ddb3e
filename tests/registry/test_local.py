"""The local registry: Elixir's Registry API, entries that vanish with their process, via."""

import pytest

import beamish
from beamish import Actor, Down, registry
from beamish.registry import (
    ANY,
    AlreadyRegistered,
    Registered,
    Registry,
    UnknownRegistry,
    Unregistered,
    Var,
)
from beamish.supervision import Supervisor, child_spec, which_children
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


async def _idle():
    await beamish.receive()


async def _registers(name, key, value=None):
    """A process that registers ``key`` and then waits for ``stop`` (or anything)."""
    registry.register(name, key, value)
    await beamish.receive()


async def _spawn_registered(name, key, value=None):
    """Spawn a process that holds ``key`` in ``name``; returns its pid once it does."""
    me = beamish.self()

    async def body():
        registry.register(name, key, value)
        beamish.send(me, ("ready", beamish.self()))
        await beamish.receive()

    pid = beamish.spawn(body)
    await assert_receive(("ready", pid))
    return pid


class Echo(Actor):
    """Replies to a call with ``(tag, request)``; records casts and infos for a call."""

    def init(self, tag="echo"):
        self.tag = tag
        self.seen = []

    def handle_call(self, request, caller):
        if request == "seen":
            return self.seen
        return (self.tag, request)

    def handle_cast(self, request):
        self.seen.append(("cast", request))

    def handle_info(self, message):
        self.seen.append(("info", message))


async def test_register_lookup_unregister_unique(node):
    """A unique key maps to the caller and its value; unregister removes it."""
    await Registry.start_link(name="r", keys="unique")
    owner = registry.register("r", "k", {"v": 1})
    assert owner == beamish.whereis("r")
    assert registry.lookup("r", "k") == [(beamish.self(), {"v": 1})]
    assert registry.whereis("r", "k") == beamish.self()
    assert registry.keys("r", beamish.self()) == ["k"]
    assert registry.values("r", "k", beamish.self()) == [{"v": 1}]
    assert registry.count("r") == 1
    registry.unregister("r", "k")
    assert registry.lookup("r", "k") == []
    assert registry.whereis("r", "k") is None
    assert registry.count("r") == 0
    assert registry.keys("r", beamish.self()) == []


async def test_a_taken_unique_key_raises_already_registered(node):
    """Registering a key another live process holds raises AlreadyRegistered(holder)."""
    await Registry.start_link(name="r", keys="unique")
    other = await _spawn_registered("r", "k")
    with pytest.raises(AlreadyRegistered) as info:
        registry.register("r", "k")
    assert info.value.pid == other
    assert isinstance(info.value, beamish.NameTaken)
    registry.register("r", "mine")
    with pytest.raises(AlreadyRegistered) as again:
        registry.register("r", "mine")
    assert again.value.pid == beamish.self()


async def test_duplicate_keys_keep_every_entry_in_order(node):
    """A duplicate registry keeps several entries per key, several per process too."""
    await Registry.start_link(name="d", keys="duplicate")
    other = await _spawn_registered("d", "topic", "theirs")
    registry.register("d", "topic", 1)
    registry.register("d", "topic", 2)
    me = beamish.self()
    assert registry.lookup("d", "topic") == [(other, "theirs"), (me, 1), (me, 2)]
    assert registry.keys("d", me) == ["topic", "topic"]
    assert registry.values("d", "topic", me) == [1, 2]
    assert registry.count("d") == 3
    registry.unregister("d", "topic")
    assert registry.lookup("d", "topic") == [(other, "theirs")]
    with pytest.raises(ValueError, match="unique"):
        registry.whereis("d", "topic")
    with pytest.raises(ValueError, match="unique"):
        registry.update_value("d", "topic", lambda v: v)


@pytest.mark.parametrize("partitions", [1, 4])
async def test_entries_vanish_when_their_process_exits(node, partitions):
    """A process's entries go when it exits, whatever partition watches it."""
    await Registry.start_link(
        name="r", keys="duplicate", partitions=partitions, listeners=[beamish.self()]
    )
    pids = [await _spawn_registered("r", ("k", i % 3), i) for i in range(12)]
    for _ in pids:
        await assert_receive(Registered)
    for pid in pids[:6]:
        beamish.exit(pid, "kill")
    for pid in pids[:6]:
        message = await assert_receive(lambda m, pid=pid: type(m) is Unregistered and m.pid == pid)
        assert message.registry == "r"
    remaining = {pid for key in range(3) for pid, _ in registry.lookup("r", ("k", key))}
    assert remaining == set(pids[6:])
    assert registry.count("r") == 6


async def test_a_unique_lookup_hides_a_dead_holder_at_once(node):
    """Before the partition has removed a dead holder's entry, lookup already skips it, and
    another process may take the key (Elixir checks liveness the same way)."""
    await Registry.start_link(name="r", keys="unique")
    pid = await _spawn_registered("r", "k")
    ref = beamish.monitor(pid)
    beamish.exit(pid, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    assert registry.lookup("r", "k") == []
    registry.register("r", "k", "new")
    assert registry.lookup("r", "k") == [(beamish.self(), "new")]
    assert registry.keys("r", pid) == []


async def test_listeners_hear_registrations_and_removals(node):
    """Listeners (names or pids) get Registered and Unregistered, with registry and key."""
    beamish.register("watcher")
    await Registry.start_link(name="r", keys="unique", listeners=["watcher"])
    registry.register("r", "a", 1)
    me = beamish.self()
    assert await assert_receive(Registered) == Registered("r", "a", me, 1)
    registry.unregister("r", "a")
    assert await assert_receive(Unregistered) == Unregistered("r", "a", me)


async def test_update_value_changes_only_the_callers_entry(node):
    """update_value returns (new, old) for the caller's key, None for a key it lacks."""
    await Registry.start_link(name="r", keys="unique")
    await _spawn_registered("r", "theirs", 0)
    registry.register("r", "mine", 1)
    assert registry.update_value("r", "mine", lambda v: v + 1) == (2, 1)
    assert registry.lookup("r", "mine") == [(beamish.self(), 2)]
    assert registry.update_value("r", "theirs", lambda v: v + 1) is None
    assert registry.update_value("r", "absent", lambda v: v) is None


async def test_match_select_and_counts_follow_patterns_and_guards(node):
    """match/count_match/select/count_select/unregister_match apply ANY, Var and guards."""
    await Registry.start_link(name="d", keys="duplicate")
    for value in [("en", 1), ("fr", 2), ("en", 3), {"lang": "de", "n": 4}]:
        registry.register("d", "news", value)
    registry.register("d", "other", ("en", 9))
    me = beamish.self()
    assert registry.match("d", "news", ("en", ANY)) == [(me, ("en", 1)), (me, ("en", 3))]
    assert registry.match("d", "news", {"lang": "de"}) == [(me, {"lang": "de", "n": 4})]
    big = registry.match("d", "news", (ANY, Var("n")), lambda b: b["n"] >= 2)
    assert [v for _, v in big] == [("fr", 2), ("en", 3)]
    assert registry.count_match("d", "news", ("en", ANY)) == 2
    assert registry.count_match("d", "news", ANY, lambda b: 1 / 0) == 0  # a raising guard
    keys = registry.select("d", (Var("k"), ANY, ("en", ANY)), result=lambda b: b["k"])
    assert sorted(keys) == ["news", "news", "other"]
    assert registry.count_select("d") == 5
    assert registry.select("d", (Var("k"), Var("p"), ("fr", ANY))) == [("news", me, ("fr", 2))]
    registry.unregister_match("d", "news", ("en", ANY))
    assert [v for _, v in registry.lookup("d", "news")] == [("fr", 2), {"lang": "de", "n": 4}]


async def test_dispatch_calls_back_with_the_entries_only_when_there_are_some(node):
    """dispatch runs fn in the caller with the key's entries; not at all for none."""
    await Registry.start_link(name="d", keys="duplicate")
    calls = []
    registry.dispatch("d", "nobody", calls.append)
    assert calls == []
    registry.register("d", "t", "x")
    registry.dispatch("d", "t", calls.append)
    assert calls == [[(beamish.self(), "x")]]


async def test_meta_put_get_delete(node):
    """Meta given at start, put_meta, meta with and without a default, delete_meta."""
    await Registry.start_link(name="r", keys="unique", meta={"started": True})
    assert registry.meta("r", "started") is True
    registry.put_meta("r", ("custom", 1), "x")
    assert registry.meta("r", ("custom", 1)) == "x"
    registry.delete_meta("r", "started")
    with pytest.raises(KeyError):
        registry.meta("r", "started")
    assert registry.meta("r", "started", "default") == "default"


async def test_via_is_a_destination_for_send_call_cast_monitor_and_exit(node):
    """via(registry, key) resolves in send, call, cast, monitor and exit."""
    await Registry.start_link(name="r", keys="unique")
    pid = await Echo.start_link("e", name=registry.via("r", "echo", {"role": "demo"}))
    assert registry.lookup("r", "echo") == [(pid, {"role": "demo"})]
    name = registry.via("r", "echo")
    assert await beamish.call(name, "hi") == ("e", "hi")
    beamish.cast(name, "c")
    beamish.send(name, "i")
    assert await beamish.call(name, "seen") == [("cast", "c"), ("info", "i")]
    ref = beamish.monitor(name)
    beamish.trap_exits(True)
    beamish.exit(name, "shutdown")
    down = await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    assert down.pid == pid
    with pytest.raises(beamish.NoProc):
        beamish.send(registry.via("r", "echo"), "nobody there")
    with pytest.raises(beamish.Exited):
        await beamish.call(registry.via("r", "echo"), "hi", timeout=1)


async def test_a_taken_via_name_fails_the_start_and_leaves_the_holder(node):
    """Starting a second process under a taken via name raises NameTaken; the first stays."""
    await Registry.start_link(name="r", keys="unique")
    first = await Echo.start_link(name=registry.via("r", "one"))
    with pytest.raises(beamish.NameTaken):
        await Echo.start_link(name=registry.via("r", "one"))
    assert registry.whereis("r", "one") == first


async def test_a_failed_init_gives_the_via_name_back(node):
    """A process whose init fails does not keep its via name."""

    class Failing(Actor):
        def init(self):
            raise RuntimeError("no")

    await Registry.start_link(name="r", keys="unique")
    with pytest.raises(beamish.StartError):
        await Failing.start(name=registry.via("r", "f"))
    assert registry.lookup("r", "f") == []
    await Echo.start(name=registry.via("r", "f"))


async def test_supervised_registry_and_children_named_through_it(node):
    """A supervisor starts the registry first, then children named by via; a restarted
    child registers its name again."""
    children = [
        Registry.child_spec(name="rooms", keys="unique", partitions=2),
        child_spec((Echo, "lobby"), name=registry.via("rooms", "lobby"), id="lobby"),
    ]
    sup = await Supervisor.start_link(children)
    ids = [info.id for info in await which_children(sup)]
    assert ids == ["rooms", "lobby"]
    first = registry.whereis("rooms", "lobby")
    ref = beamish.monitor(first)
    beamish.exit(first, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    restarted = {info.id: info.pid for info in await which_children(sup)}["lobby"]
    assert await beamish.call(registry.via("rooms", "lobby"), "x", timeout=2) == ("lobby", "x")
    assert registry.whereis("rooms", "lobby") == restarted
    assert registry.whereis("rooms", "lobby") not in (None, first)


async def test_a_crashed_registry_takes_its_registered_processes_down(node):
    """Partitions are linked to owners (Elixir): a registry killed kills them too."""
    reg = await Registry.start(name="r", keys="unique", partitions=3)
    pids = [await _spawn_registered("r", i) for i in range(6)]
    refs = {beamish.monitor(pid): pid for pid in pids}
    beamish.exit(reg, "kill")
    for _ in pids:
        down = await assert_receive(Down)
        assert down.ref in refs
        assert down.reason == "killed"


async def test_an_unregistered_process_is_unlinked_from_the_registry(node):
    """A process that unregisters all its keys no longer dies with the registry."""
    reg = await Registry.start(name="r", keys="unique")
    me = beamish.self()

    async def body():
        registry.register("r", "a")
        registry.register("r", "b")
        registry.unregister("r", "a")
        registry.unregister("r", "b")
        beamish.send(me, "done")
        await beamish.receive()

    pid = beamish.spawn(body)
    await assert_receive("done")
    ref = beamish.monitor(pid)
    ref_reg = beamish.monitor(reg)
    beamish.exit(reg, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref_reg)
    await refute_receive(lambda m: type(m) is Down and m.ref == ref)
    assert beamish.is_alive(pid)


async def test_a_stopped_registry_is_unknown(node):
    """Functions on a registry that is not running raise UnknownRegistry (a LookupError)."""
    reg = await Registry.start(name="r", keys="unique")
    await beamish.stop(reg)
    with pytest.raises(UnknownRegistry):
        registry.lookup("r", "k")
    with pytest.raises(UnknownRegistry):
        registry.register("r", "k")
    with pytest.raises(LookupError):
        registry.count("never")


async def test_reads_work_outside_any_process_in_the_node(node):
    """lookup is a plain read: it works in a task of the node that is not a process."""
    await Registry.start_link(name="r", keys="unique")
    registry.register("r", "k", 1)
    found = []

    async def task():
        found.append(registry.lookup("r", "k"))

    async with __import__("anyio").create_task_group() as tg:
        tg.start_soon(task)
    assert found == [[(beamish.self(), 1)]]


async def test_options_are_checked_when_the_spec_is_built(node):
    """Bad options fail at child_spec, before any process starts."""
    with pytest.raises(ValueError, match="keys"):
        Registry.child_spec(name="r", keys="many")
    with pytest.raises(ValueError, match="partitions"):
        Registry.child_spec(name="r", keys="unique", partitions=0)
    with pytest.raises(TypeError, match="name"):
        Registry.child_spec(name="", keys="unique")
    with pytest.raises(ValueError, match="scope"):
        Registry.child_spec(name="r", keys="unique", scope="planet")


async def test_cluster_scope_without_distribution_fails_to_start(node):
    """scope='cluster' on a node without the cluster is a clear start error."""
    with pytest.raises(beamish.StartError, match="not distributed"):
        await Registry.start(name="r", keys="unique", scope="cluster")


async def test_a_killed_registry_is_unknown_until_it_restarts(node):
    """After a registry is killed (no terminate runs), writes raise UnknownRegistry instead
    of linking the caller to a dead partition."""
    reg = await Registry.start(name="r", keys="unique")
    ref = beamish.monitor(reg)
    beamish.exit(reg, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    with pytest.raises(UnknownRegistry):
        registry.register("r", "k")
    await Registry.start(name="r", keys="unique")
    registry.register("r", "k")
    assert registry.whereis("r", "k") == beamish.self()


async def test_a_table_handle_reads_what_lookup_reads(node):
    """Registry.table(name).lookup answers as registry.lookup does: a dead unique holder is
    hidden before its partition has removed it; duplicate entries come in order."""
    await Registry.start_link(name="u", keys="unique")
    await Registry.start_link(name="d", keys="duplicate")
    unique, duplicate = Registry.table("u"), Registry.table("d")
    registry.register("u", "mine", 1)
    registry.register("d", "news", "a")
    registry.register("d", "news", "b")
    assert unique.lookup("mine") == registry.lookup("u", "mine") == [(beamish.self(), 1)]
    assert duplicate.lookup("news") == registry.lookup("d", "news")
    assert [value for _, value in duplicate.lookup("news")] == ["a", "b"]
    assert unique.lookup("nobody") == []
    assert duplicate.lookup("nobody") == []
    pid = await _spawn_registered("u", "k")
    assert unique.lookup("k") == [(pid, None)]
    ref = beamish.monitor(pid)
    beamish.exit(pid, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    assert unique.lookup("k") == []


async def test_a_table_handle_serves_one_run_of_its_registry(node):
    """A handle kept across a stop, or across a kill and restart, raises UnknownRegistry
    rather than reading a table nobody maintains any more; a new handle reads the new run."""
    with pytest.raises(UnknownRegistry):
        Registry.table("r")
    reg = await Registry.start(name="r", keys="unique")
    stopped = Registry.table("r")
    await beamish.stop(reg)
    with pytest.raises(UnknownRegistry):
        stopped.lookup("k")

    reg = await Registry.start(name="r", keys="unique")
    killed = Registry.table("r")
    ref = beamish.monitor(reg)
    beamish.exit(reg, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    await Registry.start(name="r", keys="unique")
    with pytest.raises(UnknownRegistry):
        killed.lookup("k")
    registry.register("r", "k", 2)
    assert Registry.table("r").lookup("k") == [(beamish.self(), 2)]
