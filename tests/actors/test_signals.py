"""Links, monitors and exit signals, checked against Erlang's documented behaviour.

The matrix tests run a *source* process that exits with some reason and a *target* that is
linked to it or monitors it, trapping exits or not. The target forwards every message it
gets to the test body, so every assertion waits on a message or a ``Down``, never a sleep.
"""

import pytest

import beamish
from beamish import Down, Exit
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


class Boom(Exception):
    """The exception the crashing processes raise."""


# How the source dies: (id, how, the reason it exits with).
# "how" is "return" (exit normal), "raise" (a crash), "self" (exit(self(), reason)) or
# "signal" (the test body sends exit(source, reason)).
SOURCE_EXITS = [
    ("normal", "return", "normal"),
    ("shutdown", "self", "shutdown"),
    ("shutdown_term", "self", ("shutdown", {"why": "deploy"})),
    ("exception", "raise", None),  # the reason is the Boom instance itself
    ("kill", "signal", "killed"),  # exit(source, "kill") -> source exits "killed"
    ("custom", "self", "boom"),
]


async def _one_message():
    """Exit normally after the first message."""
    await beamish.receive()


async def _wait_forever():
    """Block until killed."""
    await beamish.receive(lambda m: False)


def _is_down_of(ref):
    return lambda m: type(m) is Down and m.ref == ref


async def _forwarder(observer, trap, mode, source):
    """Trap (or not), link to or monitor ``source``, then forward every message."""
    beamish.trap_exits(trap)
    if mode == "link":
        beamish.link(source)
    else:
        beamish.monitor(source)
    beamish.send(observer, ("ready", beamish.self()))
    while True:
        message = await beamish.receive()
        beamish.send(observer, ("got", beamish.self(), message))


async def _source(how, reason, error):
    """Wait for "go", then exit the way the test asks."""
    await beamish.receive(lambda m: m == "go")
    if how == "raise":
        raise error
    if how == "self":
        beamish.exit(beamish.self(), reason)
    if how == "signal":
        await beamish.receive(lambda m: False)  # wait to be killed


async def _ping(pid):
    """Round-trip a ping through a forwarder: proves it is alive and drained its mailbox."""
    token = beamish.make_ref()
    beamish.send(pid, ("ping", token))
    await assert_receive(("got", pid, ("ping", token)))


@pytest.mark.parametrize(
    ("how", "reason"), [(h, r) for _, h, r in SOURCE_EXITS], ids=[i for i, _, _ in SOURCE_EXITS]
)
@pytest.mark.parametrize("trap", [False, True], ids=["plain", "trapping"])
@pytest.mark.parametrize("mode", ["link", "monitor"])
async def test_signal_matrix(node, how, reason, trap, mode):
    """A linked or monitoring target sees the source's exit exactly as Erlang specifies."""
    error = Boom("source crashed")
    expected = error if how == "raise" else reason
    me = beamish.self()
    source = beamish.spawn(_source, how, reason, error)
    source_ref = beamish.monitor(source)
    target = beamish.spawn(_forwarder, me, trap, mode, source)
    target_ref = beamish.monitor(target)
    await assert_receive(("ready", target))

    beamish.send(source, "go")
    if how == "signal":
        beamish.exit(source, "kill")
    down = await assert_receive(_is_down_of(source_ref))
    assert down.reason is expected or down.reason == expected

    if mode == "monitor":
        got = await assert_receive(lambda m: m[:2] == ("got", target) and type(m[2]) is Down)
        assert got[2].pid == source
        assert got[2].reason is expected or got[2].reason == expected
        await _ping(target)
        await refute_receive(lambda m: type(m) is tuple and m[:2] == ("got", target), 1.0)
    elif trap:
        got = await assert_receive(lambda m: m[:2] == ("got", target))
        assert got[2] == Exit(source, expected)
        await _ping(target)
    elif expected == "normal":
        await _ping(target)  # unaffected: a normal exit does not propagate over a link
        await refute_receive(_is_down_of(target_ref), 1.0)
    else:
        target_down = await assert_receive(_is_down_of(target_ref))
        assert target_down.reason is expected or target_down.reason == expected
    if mode == "monitor" or trap or expected == "normal":
        assert beamish.is_alive(target)
        beamish.exit(target, "kill")
        assert (await assert_receive(_is_down_of(target_ref))).reason == "killed"


EXIT_REASONS = [
    ("normal", "normal"),
    ("shutdown", "shutdown"),
    ("shutdown_term", ("shutdown", 42)),
    ("exception", "exception"),  # replaced by a Boom instance in the test
    ("kill", "kill"),
    ("custom", "boom"),
]


@pytest.mark.parametrize("reason", [r for _, r in EXIT_REASONS], ids=[i for i, _ in EXIT_REASONS])
@pytest.mark.parametrize("trap", [False, True], ids=["plain", "trapping"])
async def test_exit2_matrix(node, reason, trap):
    """exit(pid, reason) from another process does what Erlang's exit/2 does."""
    if reason == "exception":
        reason = Boom("sent as a reason")
    me = beamish.self()
    target = beamish.spawn(_forwarder, me, trap, "monitor", me)
    ref = beamish.monitor(target)
    await assert_receive(("ready", target))

    beamish.exit(target, reason)

    if reason == "kill":
        assert (await assert_receive(_is_down_of(ref))).reason == "killed"  # untrappable
    elif trap:
        got = await assert_receive(lambda m: type(m) is tuple and m[:2] == ("got", target))
        assert got[2] == Exit(me, reason)
        await _ping(target)
    elif reason == "normal":
        await _ping(target)  # ignored by a process that does not trap exits
        assert beamish.is_alive(target)
    else:
        down = await assert_receive(_is_down_of(ref))
        assert down.reason is reason or down.reason == reason


async def test_exit_self_normal_makes_the_caller_exit(node):
    """exit(self(), "normal") makes a non-trapping caller exit with reason normal."""
    me = beamish.self()

    async def quitter():
        beamish.exit(beamish.self(), "normal")
        beamish.send(me, "still running")

    pid, ref = beamish.spawn_monitor(quitter)
    assert await assert_receive(_is_down_of(ref)) == Down(ref, pid, "normal")
    await refute_receive("still running", 1.0)


async def test_exit_self_normal_while_trapping_is_a_message(node):
    """A trapping process that sends itself exit(self(), "normal") gets an Exit message."""
    me = beamish.self()

    async def trapper():
        beamish.trap_exits(True)
        beamish.exit(beamish.self(), "normal")
        beamish.send(me, ("got", await beamish.receive(timeout=1.0)))

    pid, ref = beamish.spawn_monitor(trapper)
    assert await assert_receive(lambda m: m[0] == "got") == ("got", Exit(pid, "normal"))
    assert (await assert_receive(_is_down_of(ref))).reason == "normal"


async def test_exit_self_kill_exits_killed(node):
    """exit(self(), "kill") makes even a trapping caller exit with reason killed."""

    async def suicide():
        beamish.trap_exits(True)
        beamish.exit(beamish.self(), "kill")

    _pid, ref = beamish.spawn_monitor(suicide)
    assert (await assert_receive(_is_down_of(ref))).reason == "killed"


async def test_kill_is_untrappable(node):
    """A trapping process sent "kill" exits "killed" and never sees an Exit message."""
    me = beamish.self()
    target = beamish.spawn(_forwarder, me, True, "monitor", me)
    ref = beamish.monitor(target)
    await assert_receive(("ready", target))
    beamish.exit(target, "kill")
    assert (await assert_receive(_is_down_of(ref))).reason == "killed"
    await refute_receive(lambda m: type(m) is tuple and m[:2] == ("got", target), 1.0)


async def test_killed_propagates_over_a_chain_of_links(node):
    """A kill turns into "killed" that travels along a chain of non-trapping links."""
    me = beamish.self()

    async def linked_to(pid):
        if pid is not None:
            beamish.link(pid)
        beamish.send(me, ("ready", beamish.self()))
        await beamish.receive(lambda m: False)

    first = beamish.spawn(linked_to, None)
    await assert_receive(("ready", first))
    second = beamish.spawn(linked_to, first)
    await assert_receive(("ready", second))
    third = beamish.spawn(linked_to, second)
    await assert_receive(("ready", third))
    refs = {beamish.monitor(p): p for p in (first, second, third)}

    beamish.exit(first, "kill")
    for _ in refs:
        down = await assert_receive(lambda m: type(m) is Down and m.ref in refs)
        assert down.reason == "killed"


async def test_monitor_fires_exactly_once(node):
    """A monitor delivers one Down, and nothing more, when its target exits."""
    pid, ref = beamish.spawn_monitor(_one_message)
    beamish.send(pid, "bye")
    assert await assert_receive(_is_down_of(ref)) == Down(ref, pid, "normal")
    await refute_receive(_is_down_of(ref), 1.0)
    assert not beamish.demonitor(ref)


async def test_two_monitors_give_two_downs(node):
    """Each monitor of the same process gets its own Down with its own ref."""
    pid = beamish.spawn(_one_message)
    refs = [beamish.monitor(pid), beamish.monitor(pid)]
    assert refs[0] != refs[1]
    beamish.send(pid, "bye")
    for ref in refs:
        assert await assert_receive(_is_down_of(ref)) == Down(ref, pid, "normal")
    await refute_receive(Down, 1.0)


async def test_monitor_of_a_dead_pid_is_noproc_once(node):
    """Monitoring a pid that already exited gives one Down with reason noproc."""
    pid, first = beamish.spawn_monitor(beamish.sleep, 0)
    await assert_receive(_is_down_of(first))
    ref = beamish.monitor(pid)
    assert await assert_receive(_is_down_of(ref)) == Down(ref, pid, "noproc")
    await refute_receive(_is_down_of(ref), 1.0)


async def test_monitor_of_an_unregistered_name_is_noproc(node):
    """Monitoring a name nobody registered gives one Down with reason noproc."""
    ref = beamish.monitor("nobody_here")
    down = await assert_receive(_is_down_of(ref))
    assert down.reason == "noproc"
    await refute_receive(_is_down_of(ref), 1.0)


async def test_monitor_by_name(node):
    """Monitoring a registered name watches the process behind it."""
    pid = beamish.spawn(_one_message)
    beamish.register("watched", pid)
    ref = beamish.monitor("watched")
    beamish.exit(pid, "boom")
    assert await assert_receive(_is_down_of(ref)) == Down(ref, pid, "boom")
    assert beamish.whereis("watched") is None


async def test_link_to_a_dead_pid_while_trapping_gives_exit_noproc(node):
    """A trapping process that links to a dead pid gets Exit(pid, "noproc")."""
    me = beamish.self()
    dead, ref = beamish.spawn_monitor(beamish.sleep, 0)
    await assert_receive(_is_down_of(ref))

    async def linker():
        beamish.trap_exits(True)
        beamish.link(dead)
        beamish.send(me, ("got", await beamish.receive(timeout=1.0)))

    beamish.spawn(linker)
    assert await assert_receive(lambda m: m[0] == "got") == ("got", Exit(dead, "noproc"))


async def test_link_to_a_dead_pid_without_trapping_exits_noproc(node):
    """A non-trapping process that links to a dead pid exits with reason noproc."""
    dead, ref = beamish.spawn_monitor(beamish.sleep, 0)
    await assert_receive(_is_down_of(ref))

    async def linker():
        beamish.link(dead)
        await beamish.receive(lambda m: False)

    _pid, ref = beamish.spawn_monitor(linker)
    assert (await assert_receive(_is_down_of(ref))).reason == "noproc"


async def test_unlink_then_exit_gives_no_signal(node):
    """After unlink returns, the other side's exit sends no signal over the old link."""
    beamish.trap_exits(True)
    pid = beamish.spawn_link(_wait_forever)
    beamish.unlink(pid)
    ref = beamish.monitor(pid)
    beamish.exit(pid, "boom")
    assert (await assert_receive(_is_down_of(ref))).reason == "boom"
    await refute_receive(Exit, 1.0)
    assert beamish.process_info(beamish.self()).links == ()


async def test_unlink_protects_a_non_trapping_process(node):
    """A non-trapping process that unlinked survives the other side's crash."""
    me = beamish.self()
    victim = beamish.spawn(_forwarder, me, False, "monitor", me)
    await assert_receive(("ready", victim))

    async def linked_then_unlinked():
        beamish.link(victim)
        beamish.unlink(victim)
        beamish.send(me, "unlinked")
        await beamish.receive(lambda m: m == "die")
        raise Boom("after unlink")

    other, ref = beamish.spawn_monitor(linked_then_unlinked)
    await assert_receive("unlinked")
    beamish.send(other, "die")
    assert isinstance((await assert_receive(_is_down_of(ref))).reason, Boom)
    await _ping(victim)
    assert beamish.is_alive(victim)


async def test_links_are_bidirectional(node):
    """A link made by one side also kills the side that did not call link."""
    me = beamish.self()

    async def passive():
        beamish.send(me, ("ready", beamish.self()))
        await beamish.receive(lambda m: False)

    async def active(other):
        beamish.link(other)
        beamish.send(me, "linked")
        await beamish.receive(lambda m: m == "die")
        beamish.exit(beamish.self(), "boom")

    quiet = beamish.spawn(passive)
    await assert_receive(("ready", quiet))
    quiet_ref = beamish.monitor(quiet)
    loud = beamish.spawn(active, quiet)
    await assert_receive("linked")
    beamish.send(loud, "die")
    assert (await assert_receive(_is_down_of(quiet_ref))).reason == "boom"


async def test_demonitor_flush_removes_a_queued_down(node):
    """demonitor(ref, flush=True) removes a Down that is already in the mailbox."""
    pid = beamish.spawn(_one_message)
    flushed = beamish.monitor(pid)
    witness = beamish.monitor(pid)
    beamish.send(pid, "bye")
    await assert_receive(_is_down_of(witness))  # both Downs are queued by now
    assert beamish.process_info(beamish.self()).message_queue_len == 1
    beamish.demonitor(flushed, flush=True)
    await refute_receive(_is_down_of(flushed), 1.0)
    assert beamish.process_info(beamish.self()).message_queue_len == 0


async def test_demonitor_without_flush_leaves_a_queued_down(node):
    """demonitor(ref) without flush leaves an already queued Down in place, as in Erlang."""
    pid = beamish.spawn(_one_message)
    kept = beamish.monitor(pid)
    witness = beamish.monitor(pid)
    beamish.send(pid, "bye")
    await assert_receive(_is_down_of(witness))
    beamish.demonitor(kept)
    assert await assert_receive(_is_down_of(kept)) == Down(kept, pid, "normal")


async def test_demonitor_before_exit_gives_no_down(node):
    """A monitor removed before its target exits never delivers a Down."""
    pid = beamish.spawn(_one_message)
    ref = beamish.monitor(pid)
    witness = beamish.monitor(pid)
    assert beamish.demonitor(ref) is True
    beamish.send(pid, "bye")
    await assert_receive(_is_down_of(witness))
    await refute_receive(_is_down_of(ref), 1.0)
    assert beamish.demonitor(ref) is False


async def test_exit_to_an_unknown_name_raises_noproc(node):
    """exit/2 on a name that nobody registered raises NoProc."""
    with pytest.raises(beamish.NoProc):
        beamish.exit("no_such_name", "boom")


async def test_exit_to_a_dead_pid_is_ignored(node):
    """exit/2 on a pid that already exited does nothing."""
    pid, ref = beamish.spawn_monitor(beamish.sleep, 0)
    await assert_receive(_is_down_of(ref))
    beamish.exit(pid, "boom")
    beamish.exit(pid, "kill")
    assert not beamish.is_alive(pid)


async def test_spawn_link_crash_propagates_to_a_trapping_parent(node):
    """A crashing child started with spawn_link reaches a trapping parent as Exit."""
    beamish.trap_exits(True)
    error = Boom("child")

    async def child():
        raise error

    pid = beamish.spawn_link(child)
    exit_message = await assert_receive(Exit)
    assert exit_message.pid == pid
    assert exit_message.reason is error


async def test_trap_exits_returns_the_old_setting(node):
    """trap_exits returns the previous flag, so it can be restored."""

    async def body():
        return [beamish.trap_exits(True), beamish.trap_exits(False), beamish.trap_exits(False)]

    me = beamish.self()

    async def reporter():
        beamish.send(me, await body())

    beamish.spawn(reporter)
    assert await assert_receive(list) == [False, True, False]


async def test_registered_name_is_released_on_exit(node):
    """A process's registered name disappears when it exits, whatever the reason."""
    pid, ref = beamish.spawn_monitor(_one_message)
    beamish.register("short_lived", pid)
    assert beamish.whereis("short_lived") == pid
    beamish.exit(pid, "kill")
    await assert_receive(_is_down_of(ref))
    assert beamish.whereis("short_lived") is None
    with pytest.raises(beamish.NoProc):
        beamish.send("short_lived", "hello")


@pytest.mark.parametrize("reason", ["normal", "shutdown", "bye"])
async def test_exit_self_from_a_task_in_the_process_task_group(node, reason, caplog):
    """exit(self(), reason) from a task of the process's own task group exits the process
    with that reason, as from its main task (not as a crash wrapped in an exception group)."""
    import anyio

    async def quitter():
        beamish.exit(beamish.self(), reason)

    async def worker():
        async with anyio.create_task_group() as tg:
            tg.start_soon(quitter)
            await beamish.receive()

    _, ref = beamish.spawn_monitor(worker)
    down = await assert_receive(_is_down_of(ref))
    assert down.reason == reason
    assert not [r for r in caplog.records if r.exc_info], "reported as a crash"
