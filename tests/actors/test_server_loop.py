"""The generic loop's return forms: Continue, idle Timeout, Hibernate, actions after replies."""

import gc

import pytest

import beamish
from beamish import Continue, Hibernate, NoReply, Reply, Stop, Timeout
from beamish.actors import get_state, statistics
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


class Recorder(beamish.Actor):
    """Sends every callback it runs to ``owner``; answers calls with the recorded log."""

    def init(self, owner, first=None):
        self.owner = owner
        self.log = ["init"]
        return first

    def _note(self, entry):
        self.log.append(entry)
        beamish.send(self.owner, entry)

    def handle_continue(self, term):
        self._note(("continue", term))
        if isinstance(term, tuple) and term[0] == "then":
            return term[1]
        return None

    def handle_call(self, request, caller):
        self._note(("call", request))
        if request == "log":
            return list(self.log)
        if isinstance(request, tuple) and request[0] == "return":
            return request[1]
        return request

    def handle_cast(self, request):
        self._note(("cast", request))
        return request

    def handle_info(self, message):
        self._note(("info", message))
        if isinstance(message, Timeout):
            return None
        return message


async def test_continue_from_init_runs_before_the_first_message(node):
    """init's Continue runs after start returns and before any message already queued."""
    pid = await Recorder.start(beamish.self(), Continue("load"))
    log = await beamish.call(pid, "log")
    assert log == ["init", ("continue", "load"), ("call", "log")]


async def test_continue_chains_until_an_action_that_is_not_a_continue(node):
    """handle_continue may return another Continue; each runs before the next message."""
    pid = await Recorder.start(
        beamish.self(), Continue(("then", Continue(("then", Continue("third")))))
    )
    assert (await beamish.call(pid, "log"))[1:4] == [
        ("continue", ("then", Continue(("then", Continue("third"))))),
        ("continue", ("then", Continue("third"))),
        ("continue", "third"),
    ]


async def test_reply_then_continue_replies_first(node):
    """Reply(v, then=Continue(t)): the caller has its reply; the continue runs before the
    next message."""
    pid = await Recorder.start(beamish.self())
    assert await beamish.call(pid, ("return", Reply("v", then=Continue("after")))) == "v"
    beamish.cast(pid, "next")
    await assert_receive(("continue", "after"))
    await assert_receive(("cast", "next"))


async def test_a_bare_action_from_handle_call_is_no_reply(node):
    """A Continue returned by handle_call is not a reply: the caller waits (here, times out)."""
    pid = await Recorder.start(beamish.self())
    with pytest.raises(beamish.CallTimeout):
        await beamish.call(pid, ("return", Continue("x")), timeout=1)
    await assert_receive(("continue", "x"))


async def test_noreply_then_continue(node):
    """NoReply(then=Continue(t)) runs the continue and leaves the caller waiting."""
    pid = await Recorder.start(beamish.self())
    with pytest.raises(beamish.CallTimeout):
        await beamish.call(pid, ("return", NoReply(then=Continue("y"))), timeout=1)
    await assert_receive(("continue", "y"))


async def test_idle_timeout_fires_after_its_seconds_of_node_time(node):
    """Timeout(s) delivers Timeout(s) to handle_info after s idle seconds (virtual time)."""
    me = beamish.self()
    start = node.clock.now()
    pid = await Recorder.start(me)
    beamish.cast(pid, Timeout(30))
    await assert_receive(("cast", Timeout(30)))
    armed = node.clock.now()
    assert await assert_receive(("info", Timeout(30)), timeout=60) == ("info", Timeout(30))
    assert node.clock.now() - armed == pytest.approx(30)
    assert node.clock.now() - start >= 30
    assert (await statistics(pid)).timeouts == 1


async def test_any_message_cancels_the_idle_timeout(node):
    """A cast before the deadline cancels the timeout: it never fires."""
    pid = await Recorder.start(beamish.self())
    beamish.cast(pid, Timeout(10))
    await assert_receive(("cast", Timeout(10)))
    await beamish.sleep(5)
    beamish.cast(pid, "poke")
    await assert_receive(("cast", "poke"))
    await refute_receive(("info", Timeout(10)), timeout=60)


async def test_system_messages_do_not_restart_the_idle_timeout(node):
    """get_state and statistics during the idle time leave the deadline where it was."""
    pid = await Recorder.start(beamish.self())
    beamish.cast(pid, Timeout(10))
    await assert_receive(("cast", Timeout(10)))
    armed = node.clock.now()
    for _ in range(4):
        await beamish.sleep(2)
        await get_state(pid)
        assert (await statistics(pid)).idle_timeout == 10
    await assert_receive(("info", Timeout(10)), timeout=60)
    assert node.clock.now() - armed == pytest.approx(10)


async def test_timeout_from_init_and_reply(node):
    """The timeout action works from init and after a reply."""
    pid = await Recorder.start(beamish.self(), Timeout(3))
    await assert_receive(("info", Timeout(3)), timeout=10)
    assert await beamish.call(pid, ("return", Reply("ok", then=Timeout(4)))) == "ok"
    await assert_receive(("info", Timeout(4)), timeout=10)


async def test_zero_timeout_fires_only_when_the_mailbox_is_empty(node):
    """Timeout(0) yields to a waiting message (which cancels it)."""
    pid = await Recorder.start(beamish.self())
    beamish.cast(pid, Timeout(0))
    beamish.cast(pid, "queued")
    await assert_receive(("cast", Timeout(0)))
    await assert_receive(("cast", "queued"))
    await refute_receive(("info", Timeout(0)), timeout=5)


def test_timeout_checks_its_seconds():
    """Timeout takes finite non-negative seconds, no bools."""
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite seconds"):
            Timeout(bad)
    for bad in (True, "5", None):
        with pytest.raises(TypeError, match="takes seconds"):
            Timeout(bad)


async def test_hibernate_releases_the_empty_mailbox_and_wakes_on_a_message(node):
    """Hibernate drops the idle mailbox deque; the next message brings one back."""
    pid = await Recorder.start(beamish.self())
    beamish.cast(pid, Hibernate())
    await assert_receive(("cast", Hibernate()))
    stats = await statistics(pid)
    assert stats.hibernated
    process = node._proc(pid)
    assert process._mailbox is None
    assert await beamish.call(pid, "awake") == "awake"
    assert not (await statistics(pid)).hibernated


async def test_hibernate_collects_the_young_garbage(node):
    """A cycle the process dropped before hibernating is freed by the hibernation."""
    import weakref

    class Garbage:
        pass

    class Dropper(beamish.Actor):
        def init(self, garbage):
            self.garbage = [garbage]

        def handle_cast(self, request):
            self.garbage.clear()
            return Hibernate()

    gc.disable()
    try:
        dropped = Garbage()
        dropped.self_ref = dropped
        probe = weakref.ref(dropped)
        pid = await Dropper.start(dropped)
        del dropped
        beamish.cast(pid, "drop")
        await get_state(pid)
        assert probe() is None
    finally:
        gc.enable()


async def test_stop_from_handle_continue_runs_terminate(node):
    """handle_continue's Stop runs terminate and exits with the reason."""
    me = beamish.self()

    class Quitter(beamish.Actor):
        def init(self):
            return Continue("quit")

        async def handle_continue(self, term):
            await beamish.receive(lambda m: m == "go")  # until the test monitors it
            return Stop(("shutdown", term))

        def terminate(self, reason):
            beamish.send(me, ("terminate", reason))

    pid = await Quitter.start()
    ref = beamish.monitor(pid)
    beamish.send(pid, "go")
    await assert_receive(("terminate", ("shutdown", "quit")))
    down = await assert_receive(beamish.Down)
    assert (down.ref, down.reason) == (ref, ("shutdown", "quit"))


async def test_continue_without_handle_continue_crashes_the_server(node):
    """Continue on an actor with no handle_continue crashes it with NotImplementedError."""

    class Forgetful(beamish.Actor):
        def init(self):
            return Continue("x")

    beamish.trap_exits(True)  # it may crash before a monitor could be set: link at start
    pid = await Forgetful.start_link()
    exit_ = await assert_receive(beamish.Exit)
    assert exit_.pid == pid
    assert isinstance(exit_.reason, NotImplementedError)


async def test_async_continue_and_statistics_show_the_running_callback(node):
    """An async handle_continue that waits shows as the current callback."""
    me = beamish.self()

    class Slow(beamish.Actor):
        def init(self):
            return Continue("slow")

        async def handle_continue(self, term):
            beamish.send(me, "inside")
            await beamish.receive(lambda m: m == "go")

    pid = await Slow.start()
    await assert_receive("inside")
    assert (await statistics(pid)).current_callback == "handle_continue"
    beamish.send(pid, "go")
    await get_state(pid)
    assert (await statistics(pid)).current_callback is None


async def test_a_queued_cast_is_left_alone_by_the_cyclic_gc(node):
    """A cast waiting in a mailbox is a plain tuple that a collection untracks (a tuple
    subclass stays tracked forever: a million queued casts made every collection longer)."""

    async def parked():
        await beamish.receive(lambda m: m == "never")

    pid = beamish.spawn(parked)
    beamish.cast(pid, 12345)
    [queued] = node._proc(pid)._mailbox
    gc.collect()
    assert not gc.is_tracked(queued)
    beamish.exit(pid, "kill")


async def test_the_plain_cast_form_from_a_peer_is_a_cast(node):
    """("$gen_cast", x) as another node's wire decodes it (an equal string, not the same
    object) and the older CastRequest record are casts; a longer tuple is a plain info."""
    from beamish.actors._messages import CastRequest

    pid = await Recorder.start(beamish.self())
    tag = "".join(["$gen", "_cast"])
    beamish.send(pid, (tag, "wire"))
    beamish.send(pid, CastRequest("record"))
    beamish.send(pid, (tag, "a", "b"))
    await assert_receive(("cast", "wire"))
    await assert_receive(("cast", "record"))
    await assert_receive(("info", (tag, "a", "b")))
