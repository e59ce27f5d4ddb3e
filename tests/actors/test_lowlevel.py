"""The kernel's low-level API (``beamish.actors.lowlevel``): what the layers above use."""

import anyio
import pytest

import beamish
from beamish import Actor, Down, Exit, NoProc, NoReply, Pid, telemetry
from beamish.actors import lowlevel
from beamish.actors.lowlevel import CallExited, Replied, TimedOut
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry, refute_receive

pytestmark = pytest.mark.anyio

FAR = Pid("far@away", 7, 1)  # a process of another node


class Echo(Actor):
    """Answers every call with its request."""

    def handle_call(self, request, caller):
        return request


class Silent(Actor):
    """Never answers: keeps its callers waiting."""

    def handle_call(self, request, caller):
        return NoReply()


async def test_deliver_exit_from_outside_ends_a_process_as_a_local_signal_does(node):
    """An exit signal from a pid elsewhere kills a process that does not trap exits."""
    pid, ref = beamish.spawn_monitor(beamish.sleep, 60)
    assert lowlevel.deliver_exit(node, pid, FAR, "boom")
    assert await assert_receive(Down(ref, pid, "boom"))


async def test_deliver_exit_to_a_trapping_process_is_an_exit_message(node):
    """A trapping process gets Exit(sender, reason) and lives on."""
    beamish.trap_exits(True)
    assert lowlevel.deliver_exit(node, beamish.self(), FAR, "boom")
    assert await assert_receive(Exit(FAR, "boom"))


async def test_a_link_exit_is_delivered_only_over_a_link_it_drops(node):
    """link=True: nothing happens without the link; with it, the link goes, then the signal."""
    beamish.trap_exits(True)
    me = beamish.self()
    assert not lowlevel.deliver_exit(node, me, FAR, "boom", link=True)
    await refute_receive(Exit(FAR, "boom"))
    assert lowlevel.add_link(node, me, FAR)
    assert beamish.process_info(me).links == (FAR,)
    assert lowlevel.deliver_exit(node, me, FAR, "boom", link=True)
    assert await assert_receive(Exit(FAR, "boom"))
    assert beamish.process_info(me).links == ()


async def test_deliver_exit_to_no_local_process_is_false(node):
    """A pid that is not a process of the node gets nothing."""
    pid, _ = beamish.spawn_monitor(beamish.sleep, 0)
    await assert_receive(Down)
    assert not lowlevel.deliver_exit(node, pid, FAR, "boom")
    assert not lowlevel.deliver_exit(node, FAR, beamish.self(), "boom")


async def test_a_watch_from_outside_ends_with_deliver_down_on_exit(node):
    """watch() makes the node report the exit of the watched pid to the watcher."""
    pid = beamish.spawn(beamish.sleep, 60)
    ref = beamish.make_ref()
    me = beamish.self()
    assert lowlevel.watch(node, pid, ref, me)
    assert lowlevel.is_watched(node, pid, ref)
    beamish.exit(pid, "kill")
    # the watcher holds no monitor under ref: the Down is not delivered to it
    await refute_receive(Down)
    assert not lowlevel.is_watched(node, pid, ref)
    assert not lowlevel.watch(node, pid, ref, me)  # gone: the caller answers noproc


async def test_unwatch_forgets_a_watch(node):
    """After unwatch, the watch is gone; a second unwatch finds nothing."""
    pid = beamish.spawn(beamish.sleep, 60)
    ref = beamish.make_ref()
    lowlevel.watch(node, pid, ref, FAR)
    assert lowlevel.unwatch(node, pid, ref)
    assert not lowlevel.unwatch(node, pid, ref)
    assert not lowlevel.is_watched(node, pid, ref)


async def test_deliver_down_reaches_a_monitor_once_and_only_its_own(node):
    """deliver_down turns into Down for a monitor the watcher holds, once."""
    pid = beamish.spawn(beamish.sleep, 60)
    ref = beamish.monitor(pid)
    me = beamish.self()
    lowlevel.deliver_down(node, me, beamish.make_ref(), pid, "other")  # not a monitor of mine
    lowlevel.deliver_down(node, me, ref, pid, "noconnection")
    lowlevel.deliver_down(node, me, ref, pid, "again")
    assert await assert_receive(Down) == Down(ref, pid, "noconnection")
    await refute_receive(Down)


async def test_open_call_ends_with_a_reply(node):
    """A slot opened by open_call ends with the value given to deliver_reply."""
    with lowlevel.open_call(timeout=5) as pending:
        assert pending.caller == beamish.self()
        lowlevel.deliver_reply(node, pending.caller, pending.ref, "answer")
        assert await pending.wait() == Replied("answer")


async def test_open_call_ends_with_the_watch_end_and_a_reply_after_it_is_dropped(node):
    """deliver_down ends the slot with CallExited; a reply after the block is counted."""
    with capture_telemetry(telemetry.REPLY_DROP):
        with lowlevel.open_call(timeout=None) as pending:
            lowlevel.deliver_down(node, pending.caller, pending.ref, FAR, "noconnection")
            assert await pending.wait() == CallExited("noconnection")
        lowlevel.deliver_reply(node, pending.caller, pending.ref, "late")
        dropped = await assert_receive(TelemetryEvent, timeout=1)
    assert dropped.metadata["ref"] == pending.ref
    await refute_receive("late")


async def test_open_call_times_out_on_the_node_clock(node):
    """No answer: TimedOut after the timeout, in virtual time."""
    start = node.clock.now()
    with lowlevel.open_call(timeout=30) as pending:
        assert await pending.wait() == TimedOut()
    assert node.clock.now() - start == pytest.approx(30)


def test_open_call_needs_a_process():
    """Outside any process, open_call raises NotInProcess."""
    with pytest.raises(beamish.NotInProcess), lowlevel.open_call(timeout=1):
        pass


async def test_call_outcome_names_each_ending(node):
    """Replied, CallExited("noproc") for nobody, TimedOut for a silent server."""
    echo, silent = await Echo.start(), await Silent.start()
    assert await lowlevel.call_outcome(echo, "hi") == Replied("hi")
    assert await lowlevel.call_outcome("nobody", "hi") == CallExited("noproc")
    assert await lowlevel.call_outcome(silent, "hi", timeout=1) == TimedOut()


async def test_a_reply_that_is_an_outcome_record_is_still_a_reply(node):
    """A server may answer with an outcome record (a proxy forwarding one): it is a reply."""
    echo = await Echo.start()
    assert await beamish.call(echo, TimedOut()) == TimedOut()
    assert await beamish.call(echo, CallExited("x")) == CallExited("x")
    assert await lowlevel.call_outcome(echo, TimedOut()) == Replied(TimedOut())


async def test_call_outcome_reports_a_crash_of_the_callee(node):
    """The callee's exception is the CallExited reason."""

    class Crash(Actor):
        def handle_call(self, request, caller):
            raise RuntimeError("boom")

    match await lowlevel.call_outcome(await Crash.start(), "x"):
        case CallExited(reason):
            assert isinstance(reason, RuntimeError)
        case other:
            pytest.fail(f"not an exit: {other!r}")


async def test_actor_of_and_mailbox_messages_read_a_local_process(node):
    """actor_of gives the server instance; mailbox_messages what waits, oldest first."""
    pid = await Echo.start()
    server = lowlevel.actor_of(node, pid)
    assert isinstance(server, Echo)
    assert server.pid == pid
    assert lowlevel.actor_of(node, beamish.self()) is None  # not an actor
    assert lowlevel.actor_of(node, FAR) is None
    me = beamish.self()
    beamish.send(me, 1)
    beamish.send(me, 2)
    assert lowlevel.mailbox_messages(node, me) == (1, 2)
    assert lowlevel.mailbox_messages(node, FAR) == ()


async def test_remove_link_drops_only_this_side(node):
    """remove_link is True once, for a link that was there."""
    me = beamish.self()
    assert lowlevel.add_link(node, me, FAR)
    assert lowlevel.remove_link(node, me, FAR)
    assert not lowlevel.remove_link(node, me, FAR)
    assert not lowlevel.add_link(node, FAR, me)  # not a process of this node


async def test_a_borrowed_process_is_the_current_process_of_its_block(node):
    """Inside borrow_process, self() is the borrowed pid; it exits normal at the end."""
    test_process = beamish.self()
    with lowlevel.borrow_process(node) as me:
        assert beamish.self() == me.pid != test_process
        assert lowlevel.current_pid() == me.pid
        assert me.exit_reason is None
        watched = me.pid
    assert beamish.self() == test_process
    assert not beamish.is_alive(watched)
    ref = beamish.monitor(watched)
    assert await assert_receive(Down(ref, watched, "noproc"))


async def test_a_borrowed_process_exits_with_the_reason_it_was_given(node):
    """exit(reason) ends the borrowed process with that reason when the block ends."""
    beamish.trap_exits(True)
    test_process = beamish.self()
    with lowlevel.borrow_process(node) as me:
        beamish.link(test_process)
        me.exit("done")
        assert me.exit_reason == "done"
    assert await assert_receive(Exit(me.pid, "done"))


async def test_cancel_on_exit_cancels_the_block_when_an_exit_signal_ends_it(node):
    """An exit signal to a borrowed process cancels its cancel_on_exit scope."""
    with lowlevel.borrow_process(node) as me:
        beamish.spawn(_kill_later, me.pid)
        with me.cancel_on_exit() as scope:
            await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert me.exit_reason == "killed"
        with pytest.raises(RuntimeError), me.cancel_on_exit(), me.cancel_on_exit():
            pass


async def _kill_later(pid):
    await beamish.sleep(1)
    beamish.exit(pid, "kill")


async def test_current_node_and_pid_in_a_process(node):
    """In a process, both answer."""
    assert lowlevel.current_node() is node
    assert lowlevel.current_pid() == beamish.self()


def test_current_node_and_pid_outside_any_node_are_none():
    """Outside any node, both are None (they never raise)."""
    assert (lowlevel.current_node(), lowlevel.current_pid()) == (None, None)


async def test_a_system_task_runs_until_the_node_closes(node):
    """start_system_task runs a task that is not a process."""
    ran = anyio.Event()

    async def task():
        ran.set()
        await anyio.sleep_forever()

    lowlevel.start_system_task(node, task)
    with anyio.fail_after(5):
        await ran.wait()


async def test_node_methods_take_pids(node):
    """Node.link/monitor/spawn(link=) act for a local pid; a dead one raises NoProc."""
    beamish.trap_exits(True)
    me = beamish.self()
    other = beamish.spawn(beamish.sleep, 60)
    node.link(me, other)
    assert beamish.process_info(me).links == (other,)
    ref = node.monitor(me, other)
    assert node.demonitor(me, ref)
    node.unlink(me, other)
    assert beamish.process_info(me).links == ()
    child = node.spawn(beamish.sleep, (60,), link=me)
    assert beamish.process_info(child).links == (me,)
    dead, _ = beamish.spawn_monitor(beamish.sleep, 0)
    await assert_receive(Down)
    with pytest.raises(NoProc):
        node.link(dead, other)
    with pytest.raises(NoProc):
        node.monitor(dead, other)
    with pytest.raises(NoProc):
        node.spawn(beamish.sleep, (1,), link=dead)


async def test_whereis_is_a_method_of_the_node(node):
    """Node.whereis is the class's method, not an attribute set per instance."""
    assert "whereis" not in vars(node)
    beamish.register("me")
    assert node.whereis("me") == beamish.self()


async def test_waiter_factory_makes_one_shot_waiters_of_the_nodes_loop(node):
    """A waiter from waiter_factory: awaited in one task, woken once by set_result."""
    make = lowlevel.waiter_factory(node)
    waiter = make()
    woken = []

    async def wait() -> None:
        woken.append(await waiter)

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        assert not waiter.done()
        waiter.set_result("go")
    assert waiter.done()
    assert woken == ["go"]
