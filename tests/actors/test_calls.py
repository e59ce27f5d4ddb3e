"""Calls, replies, the start handshake and stop(): the gen_server client half."""

import anyio
import pytest

import beamish
from beamish import (
    Actor,
    CallCycle,
    CallTimeout,
    Down,
    Exited,
    NoReply,
    StartError,
    Stop,
    telemetry,
)
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry, refute_receive

pytestmark = pytest.mark.anyio


class Boom(Exception):
    """Raised by the crashing callbacks."""


class Echo(Actor):
    """Answers every call with the request; reports terminate to a watcher."""

    def init(self, watcher=None):
        self.watcher = watcher

    def handle_call(self, request, caller):
        return request

    def terminate(self, reason):
        if self.watcher is not None:
            beamish.send(self.watcher, ("terminated", self.pid, reason))


class Deferred(Actor):
    """Keeps callers waiting until told to answer them."""

    def init(self, watcher=None):
        self.waiting = []
        self.watcher = watcher

    def handle_call(self, request, caller):
        if request == "pending":
            return len(self.waiting)
        self.waiting.append(caller)
        if self.watcher is not None:
            beamish.send(self.watcher, ("parked", len(self.waiting)))
        return NoReply()

    def handle_cast(self, request):
        if request == "answer_all":
            for caller in self.waiting:
                beamish.reply(caller, ("late", caller.ref))
            self.waiting.clear()


def _down_of(ref):
    return lambda m: type(m) is Down and m.ref == ref


async def test_call_returns_the_reply(node):
    """A call returns whatever handle_call returned."""
    pid = await Echo.start()
    assert await beamish.call(pid, {"a": 1}) == {"a": 1}


async def test_call_timeout(node):
    """A call with no reply raises CallTimeout, a TimeoutError, after exactly its timeout."""
    pid = await Deferred.start()
    start = node.clock.now()
    with pytest.raises(CallTimeout) as info:
        await beamish.call(pid, "wait", timeout=2.5)
    assert isinstance(info.value, TimeoutError)
    assert node.clock.now() - start == pytest.approx(2.5)
    assert beamish.is_alive(pid)


async def test_callee_crash_mid_call_raises_exited(node):
    """A callee that crashes while handling the call makes the call raise Exited(exception)."""

    class Crasher(Actor):
        def handle_call(self, request, caller):
            raise Boom("mid-call")

    pid = await Crasher.start()
    ref = beamish.monitor(pid)
    with pytest.raises(Exited) as info:
        await beamish.call(pid, "anything")
    assert isinstance(info.value.reason, Boom)
    assert str(info.value.reason) == "mid-call"
    down = await assert_receive(_down_of(ref))
    assert down.reason is info.value.reason


async def test_callee_killed_while_caller_waits(node):
    """A callee killed while the caller waits makes the call raise Exited("killed") at once."""
    pid = await Deferred.start()
    me = beamish.self()

    async def killer():
        await beamish.receive(lambda m: m == "go")
        beamish.exit(pid, "kill")

    helper = beamish.spawn(killer)
    beamish.send_after(helper, "go", 1.0)
    start = node.clock.now()
    with pytest.raises(Exited) as info:
        await beamish.call(pid, "wait", timeout=60)
    assert info.value.reason == "killed"
    assert node.clock.now() - start == pytest.approx(1.0)
    assert me == beamish.self()


async def test_call_unknown_name_is_noproc(node):
    """A call to a name nobody registered raises Exited("noproc")."""
    with pytest.raises(Exited) as info:
        await beamish.call("no_such_server", "hello")
    assert info.value.reason == "noproc"


async def test_call_dead_pid_is_noproc(node):
    """A call to a pid that already exited raises Exited("noproc") without waiting."""
    pid = await Echo.start()
    await beamish.stop(pid)
    start = node.clock.now()
    with pytest.raises(Exited) as info:
        await beamish.call(pid, "hello", timeout=30)
    assert info.value.reason == "noproc"
    assert node.clock.now() == start


async def test_late_reply_is_dropped(node):
    """A reply that comes after its call timed out never reaches the caller's mailbox."""
    pid = await Deferred.start()
    with capture_telemetry(telemetry.REPLY_DROP):
        with pytest.raises(CallTimeout):
            await beamish.call(pid, "wait", timeout=1.0)
        beamish.cast(pid, "answer_all")
        event = await assert_receive(TelemetryEvent)
        assert event.event == telemetry.REPLY_DROP
        assert event.metadata["pid"] == beamish.self()
        assert await beamish.call(pid, "pending") == 0  # the late reply was sent by now
    await refute_receive(lambda m: not isinstance(m, TelemetryEvent), 1.0)
    assert beamish.process_info(beamish.self()).message_queue_len == 0


async def test_call_to_self_fails_fast(node):
    """A process calling itself gets CallCycle at once, with no time passing."""

    class SelfCaller(Actor):
        async def handle_call(self, request, caller):
            try:
                await beamish.call(self.pid, "again", timeout=30)
            except CallCycle as error:
                return ("cycle", error.chain)
            return "no cycle"

    pid = await SelfCaller.start()
    start = node.clock.now()
    assert await beamish.call(pid, "go", timeout=60) == ("cycle", [pid, pid])
    assert node.clock.now() == start


async def test_test_body_calling_itself_fails_fast(node):
    """Even the test body (a task-less process) gets CallCycle calling itself."""
    start = node.clock.now()
    with pytest.raises(CallCycle):
        await beamish.call(beamish.self(), "me", timeout=30)
    assert node.clock.now() == start


async def test_two_actor_call_cycle_fails_fast(node):
    """A calls B, B calls A: the call that closes the cycle raises CallCycle at once."""

    class Peer(Actor):
        def init(self):
            self.other = None

        async def handle_call(self, request, caller):
            if request[0] == "peer":
                self.other = request[1]
                return "ok"
            if request == ("forward",):
                return await beamish.call(self.other, ("back",), timeout=30)
            try:
                await beamish.call(self.other, ("x",), timeout=30)
            except CallCycle as error:
                return ("cycle", error.chain)
            return "no cycle"

    a = await Peer.start()
    b = await Peer.start()
    await beamish.call(a, ("peer", b))
    await beamish.call(b, ("peer", a))
    start = node.clock.now()
    assert await beamish.call(a, ("forward",), timeout=60) == ("cycle", [b, a, b])
    assert node.clock.now() == start


async def test_deferred_reply(node):
    """handle_call returning NoReply leaves the caller waiting for reply(caller, value)."""
    me = beamish.self()
    pid = await Deferred.start(me)

    async def caller():
        beamish.send(me, ("answer", await beamish.call(pid, "wait")))

    beamish.spawn(caller)
    beamish.spawn(caller)
    await assert_receive(("parked", 2))
    beamish.cast(pid, "answer_all")
    first = await assert_receive(lambda m: m[0] == "answer")
    second = await assert_receive(lambda m: m[0] == "answer")
    assert first[1][0] == second[1][0] == "late"
    assert first[1][1] != second[1][1]


async def test_reply_from_another_process(node):
    """Any process may answer a deferred call with reply(caller, value)."""

    class Delegator(Actor):
        def handle_call(self, request, caller):
            async def worker():
                beamish.reply(caller, request * 2)

            beamish.spawn(worker)
            return NoReply()

    pid = await Delegator.start()
    assert await beamish.call(pid, 21) == 42


async def test_stop_with_reply(node):
    """Stop(reason, reply=v) answers the caller with v, runs terminate, and exits with reason."""

    class Quitter(Echo):
        def handle_call(self, request, caller):
            return Stop(request, reply=("bye", request))

    me = beamish.self()
    for reason in ["normal", "shutdown", "boom"]:
        pid = await Quitter.start(me)
        ref = beamish.monitor(pid)
        assert await beamish.call(pid, reason) == ("bye", reason)
        assert await assert_receive(lambda m: m[0] == "terminated") == ("terminated", pid, reason)
        assert (await assert_receive(_down_of(ref))).reason == reason


async def test_stop_without_reply_gives_exited(node):
    """Stop(reason) with no reply makes the caller's call raise Exited(reason)."""

    class Quitter(Actor):
        def handle_call(self, request, caller):
            return Stop("shutdown")

    pid = await Quitter.start()
    with pytest.raises(Exited) as info:
        await beamish.call(pid, "go")
    assert info.value.reason == "shutdown"


async def test_start_link_waits_for_init(node):
    """start_link returns only after an async init has finished."""

    class Slow(Actor):
        async def init(self):
            await beamish.sleep(10)
            self.ready = True

        def handle_call(self, request, caller):
            return self.ready

    start = node.clock.now()
    pid = await Slow.start_link(timeout=30)
    assert node.clock.now() - start == pytest.approx(10)
    assert await beamish.call(pid, "ready?") is True
    assert pid in beamish.process_info(beamish.self()).links


async def test_start_timeout_kills_the_slow_init(node):
    """An init slower than the start timeout gives StartError("timeout") and is killed."""
    me = beamish.self()

    class TooSlow(Actor):
        async def init(self):
            beamish.send(me, ("starting", beamish.self()))
            await beamish.sleep(3600)

    start = node.clock.now()
    with pytest.raises(StartError) as info:
        await TooSlow.start_link(timeout=2)
    assert info.value.reason == "timeout"
    assert node.clock.now() - start == pytest.approx(2)
    _, pid = await assert_receive(lambda m: m[0] == "starting")
    assert not beamish.is_alive(pid)
    assert beamish.process_info(beamish.self()).links == ()


async def test_start_link_init_raises(node):
    """init raising makes start_link raise StartError(exception) and leaves the starter alive."""

    class BadInit(Actor):
        def init(self):
            raise Boom("bad init")

    me = beamish.self()

    async def starter():
        try:
            await BadInit.start_link()
        except StartError as error:
            beamish.send(me, ("start_error", error.reason))
        await beamish.receive(lambda m: m == "still alive?")
        beamish.send(me, "yes")

    pid, ref = beamish.spawn_monitor(starter)
    _, reason = await assert_receive(lambda m: m[0] == "start_error")
    assert isinstance(reason, Boom)
    beamish.send(pid, "still alive?")
    await assert_receive("yes")
    assert (await assert_receive(_down_of(ref))).reason == "normal"

    with pytest.raises(StartError) as info:  # and from the test body itself
        await BadInit.start_link()
    assert isinstance(info.value.reason, Boom)
    assert beamish.process_info(beamish.self()).links == ()


async def test_start_ignore(node):
    """init returning Ignore makes start raise StartError("ignore")."""

    class Skip(Actor):
        def init(self):
            return beamish.Ignore()

    with pytest.raises(StartError) as info:
        await Skip.start_link()
    assert info.value.reason == "ignore"
    assert beamish.process_info(beamish.self()).links == ()


async def test_start_stop_in_init(node):
    """init returning Stop(reason) makes start raise StartError(reason)."""

    class Refuse(Actor):
        def init(self):
            return Stop("no_config")

    with pytest.raises(StartError) as info:
        await Refuse.start_link()
    assert info.value.reason == "no_config"
    assert beamish.process_info(beamish.self()).links == ()


async def test_start_with_name(node):
    """start(name=...) registers the name before init; a second start raises NameTaken."""

    class Named(Actor):
        def init(self):
            self.seen = beamish.whereis("kv")

        def handle_call(self, request, caller):
            return self.seen

    pid = await Named.start(name="kv")
    assert beamish.whereis("kv") == pid
    assert await beamish.call("kv", "who") == pid
    with pytest.raises(beamish.NameTaken):
        await Named.start(name="kv")
    with pytest.raises(beamish.NameTaken):
        await Named.start_link(name="kv")
    assert beamish.whereis("kv") == pid
    await beamish.stop("kv")
    assert beamish.whereis("kv") is None


async def test_stop_runs_terminate(node):
    """stop() runs terminate with the reason and returns once the process has exited."""
    me = beamish.self()
    pid = await Echo.start(me)
    ref = beamish.monitor(pid)
    await beamish.stop(pid, "shutdown")
    assert not beamish.is_alive(pid)
    assert await assert_receive(lambda m: m[0] == "terminated") == ("terminated", pid, "shutdown")
    assert await assert_receive(_down_of(ref)) == Down(ref, pid, "shutdown")


async def test_stop_plain_process(node):
    """stop() on a plain process sends it a shutdown exit signal."""

    async def idle():
        await beamish.receive(lambda m: False)

    pid, ref = beamish.spawn_monitor(idle)
    await beamish.stop(pid)
    assert (await assert_receive(_down_of(ref))).reason == "shutdown"


async def test_stop_unknown_is_noproc(node):
    """stop() on a dead pid or an unknown name raises NoProc."""
    pid = await Echo.start()
    await beamish.stop(pid)
    with pytest.raises(beamish.NoProc):
        await beamish.stop(pid)
    with pytest.raises(beamish.NoProc):
        await beamish.stop("nobody")


async def test_stop_kills_a_server_stuck_in_terminate(node):
    """stop() kills a server whose terminate does not finish in time, and raises CallTimeout."""

    class Stuck(Actor):
        async def terminate(self, reason):
            await beamish.sleep(3600)

    pid = await Stuck.start()
    ref = beamish.monitor(pid)
    with pytest.raises(CallTimeout):
        await beamish.stop(pid, timeout=1.0)
    assert (await assert_receive(_down_of(ref))).reason == "killed"


@pytest.mark.parametrize("reason", ["shutdown", ("shutdown", "deploy"), "boom"])
async def test_trapping_start_link_child_stops_with_parent_reason(node, reason):
    """A trapping actor started with start_link exits with its parent's reason via terminate."""

    class Child(Echo):
        def init(self, watcher):
            super().init(watcher)
            beamish.trap_exits(True)

    me = beamish.self()

    async def parent():
        child = await Child.start_link(me)
        beamish.send(me, ("child", child))
        await beamish.receive(lambda m: m == "die")
        beamish.exit(beamish.self(), reason)

    parent_pid = beamish.spawn(parent)
    _, child = await assert_receive(lambda m: m[0] == "child")
    ref = beamish.monitor(child)
    beamish.send(parent_pid, "die")
    assert await assert_receive(lambda m: m[0] == "terminated") == ("terminated", child, reason)
    assert (await assert_receive(_down_of(ref))).reason == reason


async def test_non_trapping_start_link_child_dies_without_terminate(node):
    """A non-trapping linked actor is killed by its parent's crash; terminate does not run."""
    me = beamish.self()

    async def parent():
        child = await Echo.start_link(me)
        beamish.send(me, ("child", child))
        await beamish.receive(lambda m: m == "die")
        beamish.exit(beamish.self(), "boom")

    parent_pid = beamish.spawn(parent)
    _, child = await assert_receive(lambda m: m[0] == "child")
    ref = beamish.monitor(child)
    beamish.send(parent_pid, "die")
    assert (await assert_receive(_down_of(ref))).reason == "boom"
    await refute_receive(lambda m: m[0] == "terminated", 1.0)


async def test_cast_never_fails(node):
    """cast to an unknown name or a dead pid returns None and raises nothing."""
    pid = await Echo.start()
    await beamish.stop(pid)
    assert beamish.cast(pid, "x") is None
    assert beamish.cast("nobody", "x") is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_calls_from_outside_any_process(backend):
    """Code outside any process can start, call, cast and stop servers under runtime.start."""

    class Counter(Actor):
        def init(self):
            self.n = 0

        def handle_call(self, request, caller):
            return self.n

        def handle_cast(self, request):
            self.n += request

    async def main():
        async with beamish.runtime.start(name="outside@localhost") as node:
            pid = await Counter.start(name="counter")
            beamish.cast("counter", 5)
            assert await beamish.call(pid, "get") == 5
            with pytest.raises(Exited):
                await beamish.call("nobody", "get")
            with pytest.raises(beamish.NotInProcess):
                beamish.self()
            await beamish.stop(pid)
            with pytest.raises(Exited):
                await beamish.call(pid, "get", timeout=1)
            assert node._table == {}
            assert node._names == {}
            return True

    assert anyio.run(main, backend=backend) is True
