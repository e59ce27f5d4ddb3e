"""System messages (OTP's sys), crash reports and format_status, on the one generic loop."""

import logging

import pytest

import beamish
from beamish import telemetry
from beamish.actors import (
    ServerStatistics,
    get_state,
    replace_state,
    resume,
    statistics,
    suspend,
    trace,
)
from beamish.supervision import DynamicSupervisor, Supervisor
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry, refute_receive

pytestmark = pytest.mark.anyio


class Account(beamish.Actor):
    """A server with a secret in its state."""

    def init(self, owner, password):
        self.owner = owner
        self.password = password
        self.balance = 0

    def handle_cast(self, amount):
        self.balance += amount

    def handle_call(self, request, caller):
        if request == "crash":
            raise RuntimeError("on purpose")
        if request == "stop badly":
            return beamish.Stop("bad")
        return self.balance

    def format_status(self, state):
        return {**state, "password": "***"}


async def test_get_state_shows_the_formatted_state(node):
    """get_state returns the attributes through format_status (the secret hidden)."""
    pid = await Account.start("ann", "hunter2")
    beamish.cast(pid, 5)
    assert await get_state(pid) == {"owner": "ann", "password": "***", "balance": 5}


async def test_get_state_of_an_actor_without_format_status_is_its_attributes(node):
    """By default the state is the instance attributes, without the kernel's pid."""

    class Plain(beamish.Actor):
        def init(self):
            self.items = [1]

    assert await get_state(await Plain.start()) == {"items": [1]}


async def test_replace_state_runs_in_the_server(node):
    """replace_state's function sees the state and its result becomes the attributes."""
    pid = await Account.start("ann", "pw")
    new = await replace_state(pid, lambda state: {**state, "balance": 100})
    assert new["balance"] == 100
    assert await beamish.call(pid, "balance") == 100


async def test_a_failing_replace_state_keeps_the_state_and_raises_in_the_caller(node):
    """An exception in the function reaches the caller; the server lives on, unchanged."""
    pid = await Account.start("ann", "pw")
    beamish.cast(pid, 7)

    def broken(state):
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        await replace_state(pid, broken)
    with pytest.raises(TypeError, match="not a dict"):
        await replace_state(pid, lambda state: None)
    assert await beamish.call(pid, "balance") == 7


async def test_statistics_count_each_kind_of_message(node):
    """Calls, casts, infos and system messages are counted apart."""
    pid = await Account.start("ann", "pw", name="acct")
    for _ in range(3):
        beamish.cast(pid, 1)
    beamish.send(pid, "stray")
    await beamish.call(pid, "balance")
    await get_state(pid)
    stats = await statistics("acct")
    assert isinstance(stats, ServerStatistics)
    assert (stats.calls, stats.casts, stats.infos, stats.system_messages) == (1, 3, 1, 1)
    assert stats.messages == 5
    assert stats.reductions == 6  # init and five callbacks
    assert (stats.name, stats.behaviour, stats.mailbox_len) == ("acct", "Account", 0)
    assert stats.parent is None
    assert stats.started_at <= node.clock.now()
    assert (stats.suspended, stats.tracing, stats.hibernated) == (False, False, False)


async def test_statistics_name_the_parent_that_start_linked_it(node):
    """statistics.parent is the process that start_link-ed the server."""
    pid = await Account.start_link("ann", "pw")
    assert (await statistics(pid)).parent == beamish.self()


async def test_a_suspended_server_takes_only_system_messages(node):
    """While suspended, casts and calls wait; after resume they run in their order."""
    pid = await Account.start("ann", "pw")
    await suspend(pid)
    beamish.cast(pid, 1)
    beamish.cast(pid, 2)
    with pytest.raises(beamish.CallTimeout):
        await beamish.call(pid, "balance", timeout=5)
    assert (await get_state(pid))["balance"] == 0
    stats = await statistics(pid)
    assert stats.suspended
    assert stats.mailbox_len == 3
    await resume(pid)
    assert await beamish.call(pid, "balance") == 3


async def test_stop_reaches_a_suspended_server(node):
    """stop() is handled while suspended: terminate runs and the server exits."""
    me = beamish.self()

    class Noted(beamish.Actor):
        def terminate(self, reason):
            beamish.send(me, ("terminate", reason))

    pid = await Noted.start()
    await suspend(pid)
    await beamish.stop(pid, "shutdown")
    await assert_receive(("terminate", "shutdown"))


async def test_a_suspended_child_stops_with_its_supervisor(node):
    """A suspended child still takes its parent's exit and runs terminate."""
    me = beamish.self()

    class Child(beamish.Actor):
        def init(self):
            beamish.trap_exits(True)

        def terminate(self, reason):
            beamish.send(me, ("child terminate", reason))

    sup = await Supervisor.start([(Child,)])
    [(_, child, *_)] = await beamish.supervision.which_children(sup)
    await suspend(child)
    await beamish.stop(sup, "shutdown")
    await assert_receive(("child terminate", "shutdown"))


async def test_trace_emits_one_event_per_message(node):
    """A traced server emits SERVER_TRACE with kind, message and result; untraced, none."""
    pid = await Account.start("ann", "pw")
    with capture_telemetry(telemetry.SERVER_TRACE):
        await trace(pid)
        assert (await statistics(pid)).tracing
        beamish.cast(pid, 4)
        assert await beamish.call(pid, "balance") == 4
        cast_event = await assert_receive(TelemetryEvent)
        call_event = await assert_receive(TelemetryEvent)
        assert (cast_event.metadata["kind"], cast_event.metadata["message"][1]) == ("cast", 4)
        assert (call_event.metadata["kind"], call_event.metadata["result"]) == ("call", 4)
        assert call_event.metadata["pid"] == pid
        await trace(pid, False)
        beamish.cast(pid, 1)
        await get_state(pid)
        await refute_receive(TelemetryEvent, timeout=1)


async def test_system_messages_on_a_dead_pid_raise_exited_noproc(node):
    """A dead server answers nothing: Exited("noproc"), as a call."""
    pid = await Account.start("ann", "pw")
    await beamish.stop(pid)
    for request in (get_state, statistics, suspend, resume):
        with pytest.raises(beamish.Exited) as info:
            await request(pid)
        assert info.value.reason == "noproc"


async def test_system_messages_to_a_plain_process_raise_type_error(node):
    """A local process that runs no server is refused at once."""

    async def plain():
        await beamish.receive()

    pid = beamish.spawn(plain)
    with pytest.raises(TypeError, match="runs no server"):
        await get_state(pid)
    beamish.send(pid, "done")


async def test_system_messages_work_on_supervisors(node):
    """Supervisors run on the same loop: their state and statistics are there."""

    class Worker(beamish.Actor):
        pass

    sup = await Supervisor.start([(Worker,)])
    assert "options" in await get_state(sup)
    assert (await statistics(sup)).behaviour == "Supervisor"
    dyn = await DynamicSupervisor.start()
    await beamish.supervision.start_child(dyn, Worker)
    assert (await statistics(dyn)).calls == 1


async def test_a_crash_report_names_the_server_and_hides_its_secrets(node, caplog):
    """A crashing server's log and PROCESS_CRASH carry name, parent, last message and the
    state through format_status."""
    caplog.set_level(logging.ERROR, logger="beamish.actor")
    with capture_telemetry(telemetry.PROCESS_CRASH):
        pid = await Account.start("ann", "hunter2", name="vault")
        with pytest.raises(beamish.Exited):
            await beamish.call(pid, "crash")
        event = await assert_receive(TelemetryEvent)
    report = event.metadata["report"]
    assert report["name"] == "vault"
    assert report["behaviour"] == "Account"
    assert report["callback"] == "handle_call"
    assert "'crash'" in report["last_message"]
    assert report["state"]["password"] == "***"
    assert report["parent"] is None
    logged = caplog.text
    assert "vault" in logged
    assert "'crash'" in logged
    assert "hunter2" not in logged


async def test_a_stop_with_an_abnormal_reason_is_reported_too(node):
    """Stop("bad") from a callback is logged with the server's report."""
    with capture_telemetry(telemetry.PROCESS_CRASH):
        beamish.trap_exits(True)
        pid = await Account.start_link("ann", "pw")
        with pytest.raises(beamish.Exited):
            await beamish.call(pid, "stop badly")
        event = await assert_receive(TelemetryEvent)
    report = event.metadata["report"]
    assert event.metadata["reason"] == "bad"
    assert report["parent"] == beamish.self()
    assert report["callback"] == "terminate"


async def test_a_crash_in_init_is_reported_with_the_name_and_parent(node):
    """A failing init is reported as the server's crash: callback init, its name, its
    parent, the state so far."""

    class Broken(beamish.Actor):
        def init(self):
            self.half = "built"
            raise RuntimeError("no")

    with capture_telemetry(telemetry.PROCESS_CRASH):
        with pytest.raises(beamish.StartError):
            await Broken.start_link(name="broken")
        event = await assert_receive(TelemetryEvent)
    report = event.metadata["report"]
    assert (report["callback"], report["name"], report["parent"]) == (
        "init",
        "broken",
        beamish.self(),
    )
    assert report["state"] == {"half": "built"}
