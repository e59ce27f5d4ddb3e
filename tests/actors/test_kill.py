"""``exit(pid, "kill")`` is final: level-triggered on every backend, it ends beamish's own
waits even inside a user's shield, a killed process can no longer act, and every wait
after a kill is bounded (``Node.kill_grace``) even when the victim refuses to end."""

import anyio
import pytest

import beamish
from beamish import Down
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


def _down(ref):
    return lambda m: type(m) is Down and m.ref == ref


async def test_kill_is_delivered_again_to_a_process_that_absorbs_it(node):
    """A process that swallows the first cancellation is cancelled again at its next wait,
    on asyncio as on trio (anyio's cancel scopes are level-triggered too)."""
    me = beamish.self()
    ended = anyio.Event()

    async def stubborn():
        try:
            beamish.send(me, "ready")
            try:
                await beamish.receive()
            except BaseException:
                pass
            await anyio.Event().wait()  # a foreign wait: only a second cancellation ends it
        finally:
            ended.set()

    pid, ref = beamish.spawn_monitor(stubborn)
    await assert_receive("ready")
    beamish.exit(pid, "kill")
    assert not beamish.is_alive(pid)
    with anyio.fail_after(5):
        await ended.wait()
    assert (await assert_receive(_down(ref))).reason == "killed"


async def test_a_killed_process_can_no_longer_send_or_spawn(node):
    """Once exit(pid, "kill") has marked it dead, the victim's sends are dropped and its
    spawns fail, even in code that catches the cancellation."""
    me = beamish.self()

    async def child():
        beamish.send(me, "spawned after the kill")

    async def stubborn():
        beamish.send(me, "ready")
        try:
            await beamish.receive()
        except BaseException:
            beamish.send(me, "sent after the kill")
            beamish.spawn(child)
            raise

    pid, ref = beamish.spawn_monitor(stubborn)
    await assert_receive("ready")
    before = set(node.processes())
    beamish.exit(pid, "kill")
    assert (await assert_receive(_down(ref))).reason == "killed"
    await refute_receive("sent after the kill")
    await refute_receive("spawned after the kill")
    assert set(node.processes()) == before - {pid}


async def test_stop_is_not_held_up_by_a_process_that_absorbs_its_stop(node):
    """stop(pid, timeout) is bounded even if the process swallows the exit signal and goes
    on sleeping: it ends at the first wait after the signal."""
    me = beamish.self()

    async def sleeper():
        beamish.send(me, "ready")
        try:
            await beamish.receive()
        except BaseException:
            await beamish.sleep(2)
            beamish.send(me, "slept")

    pid, ref = beamish.spawn_monitor(sleeper)
    await assert_receive("ready")
    start = node.clock.now()
    with anyio.fail_after(5):
        try:
            await beamish.stop(pid, timeout=0.1)
        except beamish.CallTimeout:
            pass
    assert node.clock.now() - start < 1
    await assert_receive(_down(ref))
    await refute_receive("slept", timeout=3)


async def test_every_wait_after_a_kill_is_bounded(node):
    """A process that will not end (a foreign wait in a user's shield) is declared dead
    kill_grace seconds after the kill: its Down arrives, its name is free, stop returns."""
    me = beamish.self()
    release = anyio.Event()

    async def shielded():
        beamish.register("zombie")
        beamish.send(me, "ready")
        try:
            await beamish.receive()
        finally:
            with anyio.CancelScope(shield=True):
                await release.wait()

    pid, ref = beamish.spawn_monitor(shielded)
    await assert_receive("ready")
    start = node.clock.now()
    try:
        with anyio.fail_after(5), pytest.raises(beamish.CallTimeout):
            await beamish.stop(pid, timeout=0.1)
        assert node.clock.now() - start == pytest.approx(0.1 + node.kill_grace, abs=0.05)
        assert (await assert_receive(_down(ref))).reason == "shutdown"
        assert beamish.whereis("zombie") is None
        assert pid not in node.processes()
    finally:
        release.set()


class _ShieldedTerminate(beamish.Actor):
    """Waits on beamish inside a shield in terminate (the kind of wait under test)."""

    def init(self, kind, peer):
        beamish.trap_exits(True)
        self.kind, self.peer = kind, peer

    async def terminate(self, reason):
        with anyio.CancelScope(shield=True):
            if self.kind == "sleep":
                await beamish.sleep(3600)
            elif self.kind == "receive":
                await beamish.receive(lambda m: False)
            else:
                await beamish.call(self.peer, "never answered", timeout=3600)


class _Mute(beamish.Actor):
    def handle_call(self, request, caller):
        return beamish.NoReply()


@pytest.mark.parametrize("kind", ["sleep", "receive", "call"])
async def test_kill_ends_beamish_waits_inside_a_shield(node, kind):
    """stop() kills a server whose terminate waits on beamish inside a shield: the wait
    ends at the kill, not after an hour (or never)."""
    pid = await _ShieldedTerminate.start(kind, await _Mute.start())
    ref = beamish.monitor(pid)
    start = node.clock.now()
    with anyio.fail_after(100), pytest.raises(beamish.CallTimeout):
        await beamish.stop(pid, timeout=1)
    assert node.clock.now() - start < 2
    assert (await assert_receive(_down(ref))).reason == "killed"


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_node_shutdown_ends_a_shielded_sleep_in_terminate(anyio_backend):
    """Stopping the node kills, after shutdown_timeout, an actor whose terminate sleeps
    inside a shield; shutdown then ends at once (it used to take the whole sleep)."""
    options = {}
    if anyio_backend == "trio":
        from trio.testing import MockClock

        options = {"clock": MockClock(autojump_threshold=0)}

    async def app():
        with anyio.fail_after(100):
            async with beamish.runtime.start(shutdown_timeout=2, virtual_time=True) as node:
                await _ShieldedTerminate.start("sleep", None)
                start = node.clock.now()
            return node.clock.now() - start

    elapsed = anyio.run(app, backend=anyio_backend, backend_options=options)
    assert elapsed < 2 + 1


class _Unending(beamish.Actor):
    """Its terminate waits in a shield on something only the test can end."""

    def init(self, release):
        beamish.trap_exits(True)
        self.release = release

    async def terminate(self, reason):
        with anyio.CancelScope(shield=True):
            await self.release.wait()


@pytest.mark.parametrize("kind", ["Supervisor", "DynamicSupervisor"])
async def test_a_supervisor_stops_in_bounded_time_past_a_child_that_ignores_kill(node, kind):
    """A supervisor shutting down a child that will not end (shutdown timeout, then kill)
    goes on kill_grace seconds after the kill, instead of waiting forever."""
    from beamish.supervision import DynamicSupervisor, Supervisor, start_child

    release = anyio.Event()
    spec = {"id": "unending", "start": (_Unending.start_link, (release,)), "shutdown": 0.5}
    if kind == "Supervisor":
        sup = await Supervisor.start(children=[spec])
    else:
        sup = await DynamicSupervisor.start()
        await start_child(sup, spec)
    start = node.clock.now()
    try:
        with anyio.fail_after(30):
            await beamish.stop(sup, timeout=20)
        assert node.clock.now() - start == pytest.approx(0.5 + node.kill_grace, abs=0.05)
    finally:
        release.set()


async def test_a_killed_process_that_ended_is_not_kept_for_kill_grace(node):
    """The kill_grace timer of a killed process is cancelled once the process has ended:
    its record, task, frames and actor are garbage at once, not kept for kill_grace
    (a supervisor restarting a killed child 10,000 times a second held ~10,000 of them)."""
    import gc
    import weakref

    me = beamish.self()

    class Victim(beamish.Actor):
        def init(self):
            beamish.send(me, ("up", weakref.ref(self)))

    node.kill_grace = 3600.0  # the timer, had it stayed armed, would hold the actor an hour
    pid = await Victim.start()
    _, actor = await assert_receive(lambda m: m[0] == "up")
    ref = beamish.monitor(pid)
    beamish.exit(pid, "kill")
    await assert_receive(_down(ref))
    gc.collect()
    assert actor() is None


async def test_killed_processes_that_will_not_end_are_each_reaped_at_their_own_deadline(node):
    """Each stuck process is declared dead kill_grace after its own kill, also when a later
    kill has an earlier deadline (kill_grace was lowered in between)."""
    me = beamish.self()
    release = anyio.Event()

    async def stuck():
        beamish.send(me, ("ready", beamish.self()))
        try:
            await beamish.receive()
        finally:
            with anyio.CancelScope(shield=True):
                await release.wait()

    slow, slow_ref = beamish.spawn_monitor(stuck)
    fast, fast_ref = beamish.spawn_monitor(stuck)
    await assert_receive(("ready", slow))
    await assert_receive(("ready", fast))
    try:
        with anyio.fail_after(5):
            start = node.clock.now()
            node.kill_grace = 0.6
            beamish.exit(slow, "kill")
            node.kill_grace = 0.2
            beamish.exit(fast, "kill")
            first = await assert_receive(lambda m: type(m) is Down, timeout=5)
            assert first.ref == fast_ref
            assert first.reason == "killed"
            assert node.clock.now() - start == pytest.approx(0.2, abs=0.1)
            second = await assert_receive(_down(slow_ref), timeout=5)
            assert second.reason == "killed"
            assert node.clock.now() - start == pytest.approx(0.6, abs=0.1)
    finally:
        release.set()
