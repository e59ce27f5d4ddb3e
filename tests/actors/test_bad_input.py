"""Bad input and failing user code: the runtime reports it and keeps working."""

import functools
import logging
import subprocess
import sys

import anyio
import pytest

import beamish
from beamish import Actor, Down, Exited, MailboxFull, StartError, telemetry
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry, refute_receive

pytestmark = pytest.mark.anyio


class Boom(Exception):
    """The user error the callbacks raise."""


class Bystander(Actor):
    """An unrelated server that must keep answering while others crash."""

    def handle_call(self, request, caller):
        return ("ok", request)


class Faulty(Actor):
    """Raises Boom from the callback named by ``where``."""

    def init(self, where):
        self.where = where
        if where == "init":
            raise Boom("in init")

    def handle_call(self, request, caller):
        if self.where == "handle_call":
            raise Boom("in handle_call")
        return "fine"

    def handle_cast(self, request):
        if self.where == "handle_cast":
            raise Boom("in handle_cast")

    def handle_info(self, message):
        if self.where == "handle_info":
            raise Boom("in handle_info")

    def terminate(self, reason):
        if self.where == "terminate":
            raise Boom("in terminate")


async def _quick():
    """Exit normally at once."""


def _down_of(ref):
    return lambda m: type(m) is Down and m.ref == ref


async def test_send_to_unknown_name_raises_noproc(node):
    """Sending to a name that nobody registered raises NoProc (a LookupError)."""
    with pytest.raises(beamish.NoProc):
        beamish.send("nobody_registered_this", "hello")
    with pytest.raises(LookupError):
        beamish.send(("nobody_registered_this", node.name), "hello")


async def test_send_to_dead_pid_is_dropped(node):
    """Sending to a pid that exited is silently dropped, as in Erlang."""
    pid, ref = beamish.spawn_monitor(_quick)
    await assert_receive(_down_of(ref))
    assert beamish.send(pid, "into the void") is None


async def test_bad_destination_is_a_type_error(node):
    """A destination that is neither a pid nor a name raises TypeError."""
    with pytest.raises(TypeError):
        beamish.send(12345, "hello")


async def test_register_errors(node):
    """register rejects a taken name, a second name for a process, and dead pids."""
    pid = await Bystander.start()
    beamish.register("first", pid)
    with pytest.raises(beamish.NameTaken):
        beamish.register("first", pid)
    with pytest.raises(beamish.NameTaken):
        beamish.register("second", pid)
    await beamish.stop(pid)
    with pytest.raises(beamish.NoProc):
        beamish.register("third", pid)
    assert beamish.unregister("first") is False  # released when the process exited


@pytest.mark.parametrize(
    "where", ["init", "handle_call", "handle_cast", "handle_info", "terminate"]
)
async def test_callback_exception_is_contained_and_reported(node, caplog, where):
    """An exception in any callback is logged with its traceback, emitted as PROCESS_CRASH,
    and leaves the node and other processes working."""
    caplog.set_level(logging.ERROR)
    bystander = await Bystander.start()
    with capture_telemetry(telemetry.PROCESS_CRASH):
        if where == "init":
            with pytest.raises(StartError) as info:
                await Faulty.start(where)
            assert isinstance(info.value.reason, Boom)
        else:
            pid = await Faulty.start(where)
            ref = beamish.monitor(pid)
            if where == "handle_call":
                with pytest.raises(Exited) as info:
                    await beamish.call(pid, "x")
                assert isinstance(info.value.reason, Boom)
            elif where == "handle_cast":
                beamish.cast(pid, "x")
            elif where == "handle_info":
                beamish.send(pid, "x")
            else:
                await beamish.stop(pid)
            down = await assert_receive(_down_of(ref))
            if where != "terminate":
                assert isinstance(down.reason, Boom)
        event = await assert_receive(
            lambda m: isinstance(m, TelemetryEvent) and m.event == telemetry.PROCESS_CRASH
        )
    assert isinstance(event.metadata["reason"], Boom)
    assert event.metadata["kind"] == "Boom"
    assert str(event.metadata["reason"]) == f"in {where}"
    records = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], Boom)]
    assert records, caplog.text
    assert "Traceback" in caplog.text
    assert f"in {where}" in caplog.text
    # The node and the other processes carry on.
    assert await beamish.call(bystander, 1) == ("ok", 1)
    fresh = await Bystander.start()
    assert await beamish.call(fresh, 2) == ("ok", 2)


async def test_plain_process_crash_is_reported(node, caplog):
    """A crash in a plain spawned process is logged and emitted as PROCESS_CRASH."""
    caplog.set_level(logging.ERROR)
    error = Boom("plain")

    async def crasher():
        raise error

    with capture_telemetry(telemetry.PROCESS_CRASH):
        pid, ref = beamish.spawn_monitor(crasher)
        assert (await assert_receive(_down_of(ref))).reason is error
        event = await assert_receive(TelemetryEvent)
    assert event.metadata["pid"] == pid
    assert event.metadata["reason"] is error
    assert any(r.exc_info and r.exc_info[1] is error for r in caplog.records)


async def test_quiet_exits_are_not_crashes(node, caplog):
    """normal, shutdown and killed exits emit no PROCESS_CRASH and log no error."""
    caplog.set_level(logging.ERROR)

    async def idle():
        await beamish.receive(lambda m: False)

    with capture_telemetry(telemetry.PROCESS_CRASH):
        for reason in ["shutdown", ("shutdown", 1), "kill"]:
            pid, ref = beamish.spawn_monitor(idle)
            beamish.exit(pid, reason)
            await assert_receive(_down_of(ref))
        pid, ref = beamish.spawn_monitor(_quick)
        await assert_receive(_down_of(ref))
        await refute_receive(TelemetryEvent, 1.0)
    assert not [r for r in caplog.records if r.name.startswith("beamish")]


async def test_raising_telemetry_handler_is_detached(node, caplog):
    """A telemetry handler that raises is detached and logged; the emitter is unaffected."""
    caplog.set_level(logging.ERROR)
    calls = []
    failures = []

    def bad_handler(event, measurements, metadata, config):
        calls.append(event)
        raise Boom("bad handler")

    telemetry.attach("test.bad_handler", telemetry.PROCESS_SPAWN, bad_handler)
    telemetry.attach(
        "test.failure_watch",
        telemetry.HANDLER_FAILURE,
        lambda e, m, md, c: failures.append(md["handler_id"]),
    )
    try:
        _pid, ref = beamish.spawn_monitor(_quick)
        assert (await assert_receive(_down_of(ref))).reason == "normal"
        _pid, ref = beamish.spawn_monitor(_quick)
        assert (await assert_receive(_down_of(ref))).reason == "normal"
        assert calls == [telemetry.PROCESS_SPAWN]  # called once, then detached
        assert "test.bad_handler" not in telemetry.list_handlers()
        assert failures == ["test.bad_handler"]
        assert any(r.exc_info and isinstance(r.exc_info[1], Boom) for r in caplog.records)
        assert await beamish.call(await Bystander.start(), "x") == ("ok", "x")
    finally:
        telemetry.detach("test.bad_handler")
        telemetry.detach("test.failure_watch")


async def _hold(gate, me):
    """Leave the mailbox alone until ``gate`` is set, then report what it holds."""
    await gate.wait()
    held = []
    while True:
        try:
            held.append(beamish.receive_nowait())
        except beamish.WouldBlock:
            break
    beamish.send(me, ("held", held))


@pytest.mark.parametrize(
    ("policy", "kept", "dropped"),
    [("drop_newest", [1, 2, 3], [4, 5]), ("drop_oldest", [3, 4, 5], [1, 2])],
)
async def test_bounded_mailbox_drops(node, policy, kept, dropped):
    """A full bounded mailbox drops by its policy, with one MAILBOX_DROP event per drop."""
    gate = anyio.Event()
    pid = beamish.spawn(_hold, gate, beamish.self(), mailbox_limit=3, overflow=policy)
    with capture_telemetry(telemetry.MAILBOX_DROP):
        for n in range(1, 6):
            beamish.send(pid, n)
        events = [await assert_receive(TelemetryEvent) for _ in dropped]
        await refute_receive(TelemetryEvent, 1.0)
    assert [e.metadata["message"] for e in events] == dropped
    assert all(e.metadata["policy"] == policy for e in events)
    assert all(e.metadata["pid"] == pid for e in events)
    assert all(e.measurements["count"] == 1 for e in events)
    gate.set()
    assert await assert_receive(lambda m: m[0] == "held") == ("held", kept)


async def test_bounded_mailbox_exit_policy(node):
    """The "exit" policy makes the receiver exit with MailboxFull on overflow."""
    gate = anyio.Event()
    pid, ref = beamish.spawn_monitor(_hold, gate, beamish.self(), mailbox_limit=3, overflow="exit")
    with capture_telemetry(telemetry.MAILBOX_DROP):
        for n in range(1, 5):
            beamish.send(pid, n)
        down = await assert_receive(_down_of(ref))
        event = await assert_receive(TelemetryEvent)
        await refute_receive(TelemetryEvent, 1.0)
    assert isinstance(down.reason, MailboxFull)
    assert event.metadata["policy"] == "exit"
    assert event.metadata["message"] == 4
    gate.set()


async def test_bounded_actor_mailbox(node):
    """An Actor's class-level mailbox_limit bounds its mailbox."""

    class Small(Actor):
        mailbox_limit = 2
        overflow = "drop_newest"

    pid = await Small.start()
    assert beamish.process_info(pid).mailbox_limit == 2


@pytest.mark.parametrize(
    ("limit", "policy"), [(0, "drop_newest"), (-1, "drop_oldest"), (3, "block")]
)
async def test_bad_mailbox_bound(node, limit, policy):
    """A non-positive bound or an unknown overflow policy is rejected at spawn."""
    with pytest.raises(ValueError, match="mailbox"):
        beamish.spawn(beamish.sleep, 0, mailbox_limit=limit, overflow=policy)


async def test_receive_outside_a_process():
    """Process functions called outside any node raise NotInProcess."""
    with pytest.raises(beamish.NotInProcess):
        beamish.self()
    with pytest.raises(beamish.NotInProcess):
        beamish.receive()
    with pytest.raises(beamish.NotInProcess):
        beamish.send("x", 1)


# -- bad arguments: one clear error in the caller, before anything runs (issue 10, item 9) --


class Quiet(Actor):
    """A server that records each instance made, to show when a class gets instantiated."""

    made: list = []  # noqa: RUF012  (shared on purpose: counts instances)

    def __init__(self):
        Quiet.made.append(self)


def _sync_worker(log):
    """A plain function: spawning it must not run it."""
    log.append("ran")


@pytest.mark.parametrize("how", ["spawn", "spawn_link", "spawn_monitor"])
async def test_spawn_rejects_a_sync_function_without_calling_it(node, how):
    """spawn(sync_fn, ...) raises TypeError naming the function, and never runs it."""
    log = []
    before = node.processes()
    with pytest.raises(TypeError, match=rf"{how} needs an async function.*_sync_worker"):
        getattr(beamish, how)(_sync_worker, log)
    assert log == []
    assert node.processes() == before


@pytest.mark.parametrize("how", ["spawn", "spawn_link", "spawn_monitor"])
async def test_spawn_rejects_an_actor_class_without_instantiating_it(node, how):
    """spawn(SomeActor) raises TypeError pointing at SomeActor.start, making no instance."""
    Quiet.made.clear()
    with pytest.raises(TypeError, match=r"class Quiet.*Quiet\.start"):
        getattr(beamish, how)(Quiet)
    assert Quiet.made == []


async def test_spawn_rejects_a_coroutine_object(node):
    """spawn(fn()) (a coroutine, not a function) says so, and closes the coroutine."""

    async def job():
        pass

    coro = job()
    with pytest.raises(TypeError, match="coroutine object"):
        beamish.spawn(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning later


async def test_spawn_accepts_every_kind_of_async_callable(node):
    """An async def, a partial of one, a wrapped one and an async __call__ all spawn."""

    async def reply(to, tag):
        beamish.send(to, tag)

    @functools.wraps(reply)
    def wrapped(to, tag):
        return reply(to, tag)

    class AsyncCallable:
        async def __call__(self, to, tag):
            beamish.send(to, tag)

    me = beamish.self()
    beamish.spawn(reply, me, "plain")
    beamish.spawn(functools.partial(reply, me), "partial")
    beamish.spawn(wrapped, me, "wrapped")
    beamish.spawn(AsyncCallable(), me, "object")
    got = {await assert_receive(str) for _ in range(4)}
    assert got == {"plain", "partial", "wrapped", "object"}


PID_ONLY = {
    "link": beamish.link,
    "unlink": beamish.unlink,
    "is_alive": beamish.is_alive,
    "process_info": beamish.process_info,
    "register": lambda pid: beamish.register("another_name", pid),
}


@pytest.mark.parametrize("fn", list(PID_ONLY))
async def test_pid_only_functions_reject_names(node, fn):
    """link, unlink, is_alive, process_info and register(name, pid) given a name for the pid
    raise TypeError (Erlang's badarg), instead of treating the name as a dead pid."""
    pid = await Bystander.start(name="bystander")
    beamish.trap_exits(True)
    with pytest.raises(TypeError, match=rf"{fn} needs a pid, got the name 'bystander'"):
        PID_ONLY[fn]("bystander")
    with pytest.raises(TypeError, match=f"{fn} needs a pid"):
        PID_ONLY[fn](("bystander", node.name))
    with pytest.raises(TypeError, match=f"{fn} needs a pid"):
        PID_ONLY[fn](42)
    await refute_receive(beamish.Exit, 1.0)  # no "noproc" exit from a pretend-dead pid
    assert beamish.is_alive(pid)
    assert beamish.process_info(pid).name == "bystander"


BAD_TIMEOUTS = ["5", [1], True, float("nan")]


def _timeout_calls(pid):
    """Every public function that takes a timeout, given a bad one."""
    return {
        "call": lambda t: beamish.call(pid, "x", timeout=t),
        "receive": lambda t: beamish.receive(timeout=t),
        "stop": lambda t: beamish.stop(pid, timeout=t),
        "start": lambda t: Bystander.start(timeout=t),
        "start_link": lambda t: Bystander.start_link(timeout=t),
        "send_after": lambda t: beamish.send_after(pid, "x", t),
        "sleep": lambda t: beamish.sleep(t),
    }


@pytest.mark.parametrize("bad", BAD_TIMEOUTS, ids=repr)
@pytest.mark.parametrize("fn", list(_timeout_calls(None)))
async def test_bad_timeout_is_one_clear_error_in_the_caller(node, caplog, fn, bad):
    """A non-numeric (or bool, or NaN) timeout raises at once, naming the argument; nothing
    starts, stops or crashes."""
    caplog.set_level(logging.ERROR)
    pid = await Bystander.start()
    before = node.processes()
    argument = "seconds" if fn in ("send_after", "sleep") else "timeout"
    attempt = _timeout_calls(pid)[fn]

    async def attempt_and_await():
        result = attempt(bad)
        if hasattr(result, "__await__"):
            await result

    with pytest.raises((TypeError, ValueError), match=f"{argument} must be a number of seconds"):
        await attempt_and_await()
    assert node.processes() == before
    assert await beamish.call(pid, 1) == ("ok", 1)
    assert not [r for r in caplog.records if r.name.startswith("beamish")]


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        (123, TypeError, "name must be None, a str, via"),
        (b"bytes", TypeError, "name must be None, a str, via"),
        (("a", "b", "c"), TypeError, "name must be None, a str, via"),
        ("", ValueError, "must not be empty"),
        (("far", "other@host"), ValueError, "registers only on its own node"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("how", ["start", "start_link"])
async def test_bad_start_name_is_one_clear_error_in_the_caller(
    node, caplog, how, name, error, match
):
    """A name that is not a str, (name, this node) or via(...) raises in the caller, as
    Elixir's GenServer validates :name; no process starts, nothing is logged."""
    caplog.set_level(logging.ERROR)
    before = node.processes()
    with pytest.raises(error, match=match):
        await getattr(Bystander, how)(name=name)
    assert node.processes() == before
    assert not [r for r in caplog.records if r.name.startswith("beamish")]


class DictResolver:
    """A minimal via resolver: a dict, raising NameTaken for a taken key."""

    def __init__(self):
        self.names = {}

    def whereis_name(self, key):
        return self.names.get(key)

    def register_name(self, key, pid):
        if key in self.names:
            raise beamish.NameTaken(key)
        self.names[key] = pid

    def unregister_name(self, key):
        self.names.pop(key, None)


async def test_start_names_local_node_tuple_and_via(node):
    """name= takes a local name, (name, this node) and via(resolver, key)."""
    local = await Bystander.start(name="plain")
    assert beamish.whereis("plain") == local
    tupled = await Bystander.start(name=("tupled", node.name))
    assert beamish.whereis("tupled") == tupled
    resolver = DictResolver()
    via = beamish.via(resolver, ("room", 1))
    routed = await Bystander.start(name=via)
    assert resolver.names == {("room", 1): routed}
    assert await beamish.call(via, "hi") == ("ok", "hi")
    with pytest.raises(beamish.NameTaken):
        await Bystander.start(name=via)
    with pytest.raises(beamish.NameTaken):
        await Bystander.start(name=("tupled", node.name))


class RegisteredThenFails(Actor):
    """Checks in init that it holds its via name, then fails."""

    def init(self, resolver, seen):
        seen.append(resolver.whereis_name("f") == self.pid)
        raise Boom("after registering")


async def test_failed_start_gives_back_its_via_name(node):
    """A via name is registered before init runs, and given back when init fails
    (gen:unregister_name); the caller gets init's own error."""
    resolver = DictResolver()
    seen = []
    with pytest.raises(StartError) as info:
        await RegisteredThenFails.start(resolver, seen, name=beamish.via(resolver, "f"))
    assert isinstance(info.value.reason, Boom)
    assert seen == [True]
    assert resolver.names == {}


async def test_run_rejects_a_coroutine_and_a_sync_function(caplog):
    """run(main()) and run(sync_fn) raise TypeError at once: nothing runs, no crash log, and
    the coroutine is closed (no "never awaited" warning)."""
    caplog.set_level(logging.ERROR)
    log = []

    async def main():
        log.append("ran")

    coro = main()
    with pytest.raises(TypeError, match="run needs an async function, got a coroutine"):
        beamish.run(coro)
    assert coro.cr_frame is None
    with pytest.raises(TypeError, match="run needs an async function"):
        beamish.run(_sync_worker, log)
    assert log == []
    assert not caplog.records


def test_cli_run_rejects_a_sync_function(tmp_path):
    """`python -m beamish run mod:sync_fn` exits 1 with one line naming the target and what
    is expected (no traceback), and does not run the function."""
    (tmp_path / "clitarget.py").write_text(
        "import pathlib\ndef sync_main():\n    pathlib.Path('ran').write_text('yes')\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "beamish", "run", "clitarget:sync_main"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "'clitarget:sync_main' needs an async function" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ran").exists()
