"""Misbehaving children and the supervisor's API errors, checked against OTP's supervisor."""

import pytest
from scripted import Boom, Script, ScriptedChild, spec, started, stopped

import beamish
from beamish import Down, StartError
from beamish.supervision import (
    AlreadyPresent,
    AlreadyStarted,
    ChildNotFound,
    ChildRunning,
    Supervisor,
    count_children,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


def _down(ref):
    return lambda m: type(m) is Down and m.ref == ref


async def _pids(sup):
    return {info.id: info.pid for info in await which_children(sup)}


async def _crash(pid, reason=None):
    """Make a scripted child exit with ``reason`` (a Boom by default) and wait until it has."""
    ref = beamish.monitor(pid)
    beamish.cast(pid, ("exit", Boom("crash") if reason is None else reason))
    return (await assert_receive(_down(ref))).reason


def _only_me(node):
    return node.processes() == [beamish.self()]


# -- starting ------------------------------------------------------------------------------


async def test_child_crashing_in_init_fails_the_start_and_leaves_nothing(node):
    """A child crashing in init: StartError(failed_to_start_child), earlier ones stopped."""
    log = []
    children = [
        spec("a", Script(log=log)),
        spec("b", Script(log=log)),
        spec("c", Script(log=log, init="crash")),
        spec("d", Script(log=log)),
    ]
    with pytest.raises(StartError) as info:
        await Supervisor.start_link(children)
    assert info.value.reason == ("failed_to_start_child", "c", Boom("init", "c"))
    assert started(log) == ["a", "b"]
    assert stopped(log) == ["b", "a"]
    assert _only_me(node)


async def test_nested_start_failure_reports_the_inner_failure(node):
    """A child supervisor failing to start fails its parent's start with its own reason."""
    log = []
    inner = Supervisor.child_spec(children=[spec("x", Script(log=log, init="crash"))])
    with pytest.raises(StartError) as info:
        await Supervisor.start([spec("a", Script(log=log)), inner])
    kind, child_id, reason = info.value.reason
    assert (kind, child_id) == ("failed_to_start_child", "Supervisor")
    assert reason == ("failed_to_start_child", "x", Boom("init", "x"))
    assert stopped(log) == ["a"]
    assert _only_me(node)


async def test_ignore_in_init_keeps_the_spec_unless_temporary(node):
    """A child returning Ignore is kept without a pid (dropped if temporary), as in OTP."""
    log = []
    children = [
        spec("p", Script(log=log, init="ignore", init_outcomes=["ignore"])),
        spec("t", Script(log=log, init="ignore"), restart="temporary"),
        spec("w", Script(log=log)),
    ]
    sup = await Supervisor.start_link(children)
    assert [(i.id, i.pid is None) for i in await which_children(sup)] == [
        ("p", True),
        ("w", False),
    ]
    assert await count_children(sup) == (2, 1, 0, 2)
    assert await start_child(sup, spec("t2", Script(init="ignore"), restart="temporary")) is None
    assert [i.id for i in await which_children(sup)] == ["p", "w"]
    children[0].start[1][1].init = "ok"
    pid = await restart_child(sup, "p")
    assert pid is not None
    assert (await _pids(sup))["p"] == pid


async def test_supervisor_subclass_overriding_children(node):
    """A module-based supervisor gets start_link's arguments in children() and its flags."""
    log = []

    class Pair(Supervisor):
        strategy = "one_for_all"

        def children(self, prefix):
            return [spec(prefix + "1", Script(log=log)), spec(prefix + "2", Script(log=log))]

    sup = await Pair.start_link("k")
    pids = await _pids(sup)
    assert list(pids) == ["k1", "k2"]
    await _crash(pids["k2"])
    assert started(await _pids(sup) and log) == ["k1", "k2", "k1", "k2"]


# -- stopping one child --------------------------------------------------------------------


async def test_hanging_terminate_is_killed_after_the_shutdown_time(node):
    """A child hanging in terminate is killed exactly `shutdown` seconds after the request."""
    log = []
    sup = await Supervisor.start_link([spec("h", Script(log=log, terminate="hang"), shutdown=2.5)])
    pid = (await _pids(sup))["h"]
    ref = beamish.monitor(pid)
    t0 = node.clock.now()
    await terminate_child(sup, "h")
    assert node.clock.now() - t0 == pytest.approx(2.5)
    assert (await assert_receive(_down(ref))).reason == "killed"
    assert stopped(log) == ["h"]
    assert (await _pids(sup)) == {"h": None}


async def test_brutal_kill_skips_terminate(node):
    """shutdown="brutal_kill" kills the child at once: terminate does not run."""
    log = []
    sup = await Supervisor.start_link([spec("k", Script(log=log), shutdown="brutal_kill")])
    ref = beamish.monitor((await _pids(sup))["k"])
    t0 = node.clock.now()
    await terminate_child(sup, "k")
    assert node.clock.now() == t0
    assert (await assert_receive(_down(ref))).reason == "killed"
    assert stopped(log) == []


async def test_infinity_waits_for_a_slow_terminate(node):
    """shutdown="infinity" waits as long as terminate takes, and never kills."""

    class Slow(ScriptedChild):
        async def terminate(self, reason):
            await beamish.sleep(100)
            self.script.log.append(("stop", self.id, reason))

    log = []
    sup = await Supervisor.start_link(
        [{"id": "s", "start": (Slow.start_link, ("s", Script(log=log))), "shutdown": "infinity"}]
    )
    ref = beamish.monitor((await _pids(sup))["s"])
    t0 = node.clock.now()
    await terminate_child(sup, "s")
    assert node.clock.now() - t0 == pytest.approx(100)
    assert (await assert_receive(_down(ref))).reason == "shutdown"
    assert stopped(log) == ["s"]


@pytest.mark.parametrize(("terminate", "reason"), [("crash", Boom), ("exit", "killed")])
async def test_misbehaving_terminate_never_deadlocks_the_supervisor(node, terminate, reason):
    """A crash in terminate or an exit during shutdown is the child's reason; the sup goes on."""
    log = []
    sup = await Supervisor.start_link(
        [spec("m", Script(log=log, terminate=terminate)), spec("n", Script(log=log))]
    )
    ref = beamish.monitor((await _pids(sup))["m"])
    await terminate_child(sup, "m")
    down = await assert_receive(_down(ref))
    if reason is Boom:
        assert down.reason == Boom("terminate", "m")
    else:
        assert down.reason == reason
    assert [(i.id, i.pid is None) for i in await which_children(sup)] == [
        ("m", True),
        ("n", False),
    ]
    await refute_receive(Down)


async def test_root_exit_stops_misbehaving_children_in_reverse_order(node):
    """Exiting the root stops every child in reverse start order, whatever terminate does."""
    log = []
    children = [
        spec("a", Script(log=log)),
        spec("hang", Script(log=log, terminate="hang"), shutdown=1.0),
        spec("crash", Script(log=log, terminate="crash")),
        spec("exit", Script(log=log, terminate="exit")),
        spec("z", Script(log=log)),
    ]
    sup = await Supervisor.start(children)
    ref = beamish.monitor(sup)
    await beamish.stop(sup, "shutdown", timeout=30)
    assert (await assert_receive(_down(ref))).reason == "shutdown"
    assert stopped(log) == ["z", "exit", "crash", "hang", "a"]
    assert _only_me(node)


# -- restarting ----------------------------------------------------------------------------


async def test_a_failed_restart_is_retried_and_counted(node):
    """A restart whose init crashes is tried again, each try counting towards intensity."""
    log = []
    flaky = Script(log=log, init_outcomes=["ok", "crash", "crash"])
    sup = await Supervisor.start([spec("f", flaky)], max_restarts=3, max_seconds=100)
    pid = (await _pids(sup))["f"]
    await _crash(pid)
    new = (await _pids(sup))["f"]
    assert new is not None
    assert new != pid
    assert started(log) == ["f", "f"]
    ref = beamish.monitor(sup)
    await _crash(new)  # the fourth restart within the window: too many
    assert (await assert_receive(_down(ref))).reason == "shutdown"
    assert _only_me(node)


async def test_a_child_that_never_restarts_takes_the_supervisor_down(node):
    """A child whose init always crashes on restart exhausts the intensity: sup exits shutdown."""
    log = []
    children = [
        spec("a", Script(log=log)),
        spec("f", Script(log=log, init="crash", init_outcomes=["ok"])),
    ]
    sup = await Supervisor.start(children, max_restarts=5, max_seconds=100)
    ref = beamish.monitor(sup)
    await _crash((await _pids(sup))["f"])
    assert (await assert_receive(_down(ref))).reason == "shutdown"
    assert started(log) == ["a", "f"]
    assert stopped(log) == ["a"]
    assert _only_me(node)


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
async def test_intensity_exceeded_shuts_down_in_reverse_order(node, strategy):
    """More than max_restarts within max_seconds: children stopped in reverse, exit shutdown."""
    log = []
    children = [spec(cid, Script(log=log)) for cid in "abc"]
    sup = await Supervisor.start(children, strategy=strategy, max_restarts=2, max_seconds=10)
    ref = beamish.monitor(sup)
    for _ in range(2):
        await _crash((await _pids(sup))["a"])
    assert (await count_children(sup)).active == 3  # the second restart is done
    del log[:]
    await _crash((await _pids(sup))["a"])
    assert (await assert_receive(_down(ref))).reason == "shutdown"
    assert started(log) == []
    assert stopped(log) == ["c", "b"]
    assert _only_me(node)


async def test_restarts_outside_the_window_are_forgotten(node):
    """Crashes spaced more than max_seconds apart never exceed the intensity."""
    log = []
    sup = await Supervisor.start([spec("a", Script(log=log))], max_restarts=1, max_seconds=5)
    for _ in range(4):
        await _crash((await _pids(sup))["a"])
        await beamish.sleep(5.5)
    assert beamish.is_alive(sup)
    assert started(log) == ["a"] * 5


async def test_max_restarts_zero_gives_up_at_the_first_crash(node):
    """max_restarts=0 never restarts: the first crash shuts the supervisor down."""
    sup = await Supervisor.start([spec("a", Script())], max_restarts=0)
    ref = beamish.monitor(sup)
    await _crash((await _pids(sup))["a"])
    assert (await assert_receive(_down(ref))).reason == "shutdown"


async def test_backoff_delays_each_restart_on_the_node_clock(node):
    """With backoff=(1, 3) the n-th restart in the window waits min(3, 2**(n-1)) seconds."""
    log = []
    sup = await Supervisor.start(
        [spec("a", Script(log=log))], backoff=(1.0, 3.0), max_restarts=10, max_seconds=1000
    )
    delays = []
    for _ in range(4):
        t0 = node.clock.now()
        await _crash((await _pids(sup))["a"])
        await which_children(sup)  # answered once the restart is done
        delays.append(node.clock.now() - t0)
    assert delays == pytest.approx([1.0, 2.0, 3.0, 3.0])
    assert started(log) == ["a"] * 5


# -- the child API -------------------------------------------------------------------------


async def test_start_child_errors(node):
    """start_child: AlreadyStarted while running, AlreadyPresent once stopped, StartError."""
    sup = await Supervisor.start_link([spec("a", Script())])
    pid = (await _pids(sup))["a"]
    with pytest.raises(AlreadyStarted) as info:
        await start_child(sup, spec("a", Script()))
    assert (info.value.id, info.value.pid) == ("a", pid)
    await terminate_child(sup, "a")
    with pytest.raises(AlreadyPresent):
        await start_child(sup, spec("a", Script()))
    with pytest.raises(StartError) as failed:
        await start_child(sup, spec("b", Script(init="crash")))
    assert failed.value.reason == Boom("init", "b")
    assert list(await _pids(sup)) == ["a"]
    new = await start_child(sup, ScriptedChild.child_spec("c", Script()), restart="transient")
    assert (await which_children(sup))[-1] == ("c", new, "worker", "transient")
    assert beamish.is_alive(sup)


async def test_child_api_errors(node):
    """terminate/restart/delete_child: ChildNotFound for unknown ids, ChildRunning if running."""
    sup = await Supervisor.start_link(
        [spec("a", Script()), spec("t", Script(), restart="temporary")]
    )
    for op in (terminate_child, restart_child, delete_child):
        with pytest.raises(ChildNotFound):
            await op(sup, "nope")
    with pytest.raises(ChildRunning):
        await restart_child(sup, "a")
    with pytest.raises(ChildRunning):
        await delete_child(sup, "a")
    await terminate_child(sup, "a")
    await terminate_child(sup, "a")  # already stopped: nothing to do
    await terminate_child(sup, "t")  # a temporary child's spec goes with it
    assert await _pids(sup) == {"a": None}
    pid = await restart_child(sup, "a")
    assert (await _pids(sup))["a"] == pid
    await terminate_child(sup, "a")
    await delete_child(sup, "a")
    assert await which_children(sup) == []
    with pytest.raises(ChildNotFound):
        await delete_child(sup, "a")
    assert beamish.is_alive(sup)


async def test_terminated_child_is_not_restarted_one_for_one(node):
    """A child stopped with terminate_child is not restarted by its supervisor."""
    log = []
    sup = await Supervisor.start_link([spec("a", Script(log=log)), spec("b", Script(log=log))])
    await terminate_child(sup, "a")
    await _crash((await _pids(sup))["b"])
    assert (await _pids(sup))["a"] is None
    assert started(log) == ["a", "b", "b"]


# -- auto_shutdown -------------------------------------------------------------------------


@pytest.mark.parametrize("restart", ["transient", "temporary"])
@pytest.mark.parametrize("mode", ["never", "any_significant", "all_significant"])
async def test_auto_shutdown_with_significant_children(node, mode, restart):
    """any_significant exits at the first significant exit, all_significant at the last."""
    log = []
    children = [
        spec("w", Script(log=log)),
        spec("s1", Script(log=log), restart=restart, significant=True),
        spec("s2", Script(log=log), restart=restart, significant=True),
    ]
    sup = await Supervisor.start(children, auto_shutdown=mode)
    ref = beamish.monitor(sup)
    pids = await _pids(sup)
    assert await _crash(pids["s1"], "normal") == "normal"
    if mode == "any_significant":
        assert (await assert_receive(_down(ref))).reason == "shutdown"
        assert stopped(log) == ["s2", "w"]
        assert _only_me(node)
        return
    assert beamish.is_alive(sup)
    await _crash(pids["s2"], "normal")
    if mode == "all_significant":
        assert (await assert_receive(_down(ref))).reason == "shutdown"
        assert stopped(log) == ["w"]
        assert _only_me(node)
    else:
        assert beamish.is_alive(sup)
        assert stopped(log) == []


async def test_restarted_significant_child_does_not_shut_down(node):
    """A transient significant child that crashes is restarted; auto_shutdown does not fire."""
    log = []
    children = [spec("s", Script(log=log), restart="transient", significant=True)]
    sup = await Supervisor.start(children, auto_shutdown="any_significant")
    await _crash((await _pids(sup))["s"])
    assert (await _pids(sup))["s"] is not None
    assert started(log) == ["s", "s"]


async def test_terminate_child_of_a_significant_child_does_not_shut_down(node):
    """Stopping a significant child through terminate_child never triggers auto_shutdown."""
    children = [spec("s", Script(), restart="transient", significant=True)]
    sup = await Supervisor.start(children, auto_shutdown="any_significant")
    await terminate_child(sup, "s")
    assert await _pids(sup) == {"s": None}
    assert beamish.is_alive(sup)
