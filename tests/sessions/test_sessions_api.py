"""The reference's scenarios (session_process_test, integration_test, default process,
stats): start/stop/call/cast, custom modules, session_id() inside, invalid ids, not found."""

import pytest
from sessionkit import AsyncCounter, Counter, Linked, start_sessions

import beamish
from beamish import sessions
from beamish.supervision import which_children
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio


async def test_the_subtree_runs_registry_supervisor_and_server(node):
    """Sessions starts a registry, a DynamicSupervisor and a server, each named."""
    sup = await start_sessions()
    children = await which_children(sup)
    assert [c.id for c in children] == ["registry", "sessions", "server"]
    assert all(c.pid is not None for c in children)
    assert beamish.whereis("sessions.sessions") == children[1].pid
    assert beamish.whereis("sessions.server") == children[2].pid


async def test_start_session(node):
    """Not started, then started: a pid, and started() says so."""
    await start_sessions()
    session_id = sessions.new_id()
    assert not sessions.started(session_id)
    pid = await sessions.start(session_id, Counter, {"value": 0})
    assert isinstance(pid, beamish.Pid)
    assert beamish.is_alive(pid)
    assert sessions.started(session_id)
    assert sessions.find(session_id) == pid


async def test_start_twice_is_already_started(node):
    """A second start of one id: SessionAlreadyStarted with the pid; exist_ok returns it."""
    await start_sessions()
    pid = await sessions.start("user_123")
    with pytest.raises(sessions.SessionAlreadyStarted) as info:
        await sessions.start("user_123")
    assert info.value.pid == pid
    assert await sessions.start("user_123", exist_ok=True) == pid


async def test_stop_session(node):
    """stop: the process exits normally and the id is free again."""
    await start_sessions()
    pid = await sessions.start("s1", Counter)
    ref = beamish.monitor(pid)
    await sessions.stop("s1")
    down = await assert_receive(beamish.Down)
    assert (down.ref, down.reason) == (ref, "normal")
    assert not sessions.started("s1")
    assert sessions.find("s1") is None
    assert await sessions.start("s1", Counter) != pid


async def test_call(node):
    """call returns handle_call's reply (reference: get_value 123)."""
    await start_sessions()
    await sessions.start("s", Counter, {"value": 123})
    assert await sessions.call("s", "get_value") == 123


async def test_cast(node):
    """cast runs handle_cast; a call after it sees the change (mailbox order)."""
    await start_sessions()
    await sessions.start("s", Counter, {"value": 0})
    assert await sessions.call("s", "get_value") == 0
    await sessions.cast("s", "add_one")
    assert await sessions.call("s", "get_value") == 1


async def test_async_callbacks(node):
    """Async init_state, handle_call and handle_cast work through the behaviour."""
    await start_sessions()
    await sessions.start("s", AsyncCounter, 5)
    await sessions.cast("s", 2)
    assert await sessions.call("s", "value") == 7


async def test_session_id_inside(node):
    """self.session_id() inside the session is its id, for both test modules."""
    await start_sessions()
    for module in (Counter, Linked):
        session_id = sessions.new_id()
        await sessions.start(session_id, module)
        assert await sessions.call(session_id, "get_my_session_id") == session_id


async def test_list_sessions(node):
    """list(): (id, pid) pairs of running sessions; a stopped one is gone from it."""
    await start_sessions()
    assert sessions.list() == []
    pid1 = await sessions.start("one", Counter)
    pid2 = await sessions.start("two", Counter)
    assert sorted(sessions.list()) == sorted([("one", pid1), ("two", pid2)])
    await sessions.stop("one")
    assert sessions.list() == [("two", pid2)]


async def test_list_by_module(node):
    """list_by_module filters by the exact class (reference: TestProcess vs TestProcessLink)."""
    await start_sessions()
    await sessions.start("a", Counter)
    await sessions.start("b", Linked)
    assert sessions.list_by_module(Counter) == ["a"]
    assert sessions.list_by_module(Linked) == ["b"]
    assert sessions.list_by_module(AsyncCounter) == []


async def test_stats(node):
    """stats: counts, by module, memory (positive with sessions, zero without), limits."""
    await start_sessions(max_sessions=50, ttl=600)
    empty = sessions.stats()
    assert (empty["count"], empty["local"], empty["memory"], empty["avg_memory"]) == (0, 0, 0, 0)
    await sessions.start("a", Counter)
    await sessions.start("b", Linked)
    await sessions.start("c", Linked)
    stats = sessions.stats()
    assert stats["count"] == stats["local"] == 3
    assert stats["by_module"] == {
        sessions._process.module_name(Counter): 1,
        sessions._process.module_name(Linked): 2,
    }
    assert stats["memory"] > 0
    assert stats["avg_memory"] == stats["memory"] // 3
    assert stats["limits"] == {"max_sessions": 50, "ttl": 600, "rate_limit": None}


async def test_info(node):
    """info: what the session says of itself."""
    await start_sessions()
    pid = await sessions.start("me", Counter)
    info = await sessions.info("me")
    assert info["id"] == "me"
    assert info["pid"] == pid
    assert info["module"].endswith(":Counter")
    assert info["node"] == node.name
    assert info["watchers"] == 0


@pytest.mark.parametrize("bad", ["invalid@session", "", "a" * 65, None, 42])
async def test_invalid_id_is_refused_at_start(node, bad):
    """start with an invalid id: InvalidSessionId, nothing started (reference)."""
    await start_sessions()
    with pytest.raises(sessions.InvalidSessionId) as info:
        await sessions.start(bad)
    assert info.value.session_id == bad
    assert sessions.list() == []


async def test_not_found_for_call_cast_stop_touch_info(node):
    """call, cast, stop, touch, info of an id that runs nothing: SessionNotFound."""
    await start_sessions()
    for operation in (
        lambda: sessions.call("does_not_exist", "get_state"),
        lambda: sessions.cast("does_not_exist", ("put", "k", "v")),
        lambda: sessions.stop("does_not_exist"),
        lambda: sessions.touch("does_not_exist"),
        lambda: sessions.info("does_not_exist"),
        lambda: sessions.watch("does_not_exist", "k"),
    ):
        with pytest.raises(sessions.SessionNotFound) as info:
            await operation()
        assert info.value.session_id == "does_not_exist"


async def test_invalid_id_in_call_says_invalid(node):
    """call with an invalid id says it is invalid, not merely not found."""
    await start_sessions()
    with pytest.raises(sessions.InvalidSessionId):
        await sessions.call("no way", "x")


async def test_call_timeout(node):
    """A session that does not answer: SessionTimeout (a TimeoutError), and it still runs."""
    await start_sessions()
    pid = await sessions.start("slow", Counter)
    with pytest.raises(sessions.SessionTimeout) as info:
        await sessions.call("slow", "slow", timeout=2)
    assert isinstance(info.value, TimeoutError)
    assert info.value.timeout == 2
    assert beamish.is_alive(pid)


async def test_call_crash(node):
    """A crash in handle_call: SessionCrashed with the exception; the session is gone and
    not restarted."""
    await start_sessions()
    pid = await sessions.start("fragile", Counter)
    ref = beamish.monitor(pid)
    with pytest.raises(sessions.SessionCrashed) as info:
        await sessions.call("fragile", "crash")
    assert isinstance(info.value.reason, RuntimeError)
    await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert not sessions.started("fragile")


async def test_init_state_crash_is_session_crashed(node):
    """init_state that raises: start raises SessionCrashed; the id stays free."""

    class Broken(sessions.SessionProcess):
        def init_state(self, args):
            raise ValueError("no")

    await start_sessions()
    with pytest.raises(sessions.SessionCrashed) as info:
        await sessions.start("b", Broken)
    assert isinstance(info.value.reason, ValueError)
    assert not sessions.started("b")


async def test_custom_module(node):
    """A custom module's init_state and handle_call (reference integration test)."""

    class Custom(sessions.SessionProcess):
        def init_state(self, args):
            return {"custom": True, **args}

        def handle_call(self, request, caller):
            if request == "custom_call":
                return ("custom_response", self.state)
            return None

    await start_sessions()
    await sessions.start("custom_module_test", Custom, {"test": "data"})
    assert await sessions.call("custom_module_test", "custom_call") == (
        "custom_response",
        {"custom": True, "test": "data"},
    )
    await sessions.stop("custom_module_test")


async def test_overriding_init_is_refused():
    """A SessionProcess that overrides init is a TypeError at class creation."""
    with pytest.raises(TypeError, match="init_state"):

        class Wrong(sessions.SessionProcess):
            def init(self, *args):
                pass


async def test_default_key_value_session(node):
    """The default session: put/get/delete by call and cast, get_state, ping (reference)."""
    await start_sessions()
    await sessions.start("kv", args={"seed": 1})
    assert await sessions.call("kv", "ping") == "pong"
    assert await sessions.call("kv", "get_state") == {"seed": 1}
    await sessions.cast("kv", ("put", "user_id", 123))
    await sessions.cast("kv", ("put", "username", "test_user"))
    assert await sessions.call("kv", ("put", "k1", "v1")) == "ok"
    assert await sessions.call("kv", "get_state") == {
        "seed": 1,
        "user_id": 123,
        "username": "test_user",
        "k1": "v1",
    }
    await sessions.cast("kv", ("delete", "username"))
    assert await sessions.call("kv", ("delete", "k1")) == "ok"
    assert await sessions.call("kv", ("get", "username")) is None
    assert await sessions.call("kv", ("get", "username", "none")) == "none"
    assert await sessions.call("kv", "get_state") == {"seed": 1, "user_id": 123}


async def test_two_sessions_trees_by_name(node):
    """Two Sessions under different names keep their ids apart."""
    await start_sessions(name="web")
    await start_sessions(name="api")
    await sessions.start("x", Counter, {"value": 1}, sessions="web")
    await sessions.start("x", Counter, {"value": 2}, sessions="api")
    assert await sessions.call("x", "get_value", sessions="web") == 1
    assert await sessions.call("x", "get_value", sessions="api") == 2


async def test_no_sessions_tree_is_a_clear_error(node):
    """Using the API without a Sessions in the tree says what to add."""
    with pytest.raises(RuntimeError, match=r"Sessions\.child_spec"):
        sessions.find("x")


async def test_bad_options_fail_at_child_spec():
    """child_spec checks its options at once."""
    with pytest.raises(ValueError, match="placement"):
        sessions.Sessions.child_spec(placement="random")
    with pytest.raises(ValueError, match="ttl"):
        sessions.Sessions.child_spec(ttl=0)
    with pytest.raises(TypeError, match="SessionProcess"):
        sessions.Sessions.child_spec(session=beamish.Actor)
    with pytest.raises(ValueError, match="snapshots"):
        sessions.Sessions.child_spec(snapshots="postgres://x")
