"""DynamicSupervisor: children on demand, limits, restarts, shutdown."""

import pytest

import beamish
from beamish.supervision import (
    ChildNotFound,
    DynamicSupervisor,
    MaxChildren,
    count_children,
    start_child,
    terminate_child,
    which_children,
)
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio


class Session(beamish.Actor):
    """A child that reports its start to an observer and can be made to crash."""

    def init(self, *args):
        *prefix, observer, user = args
        self.state = (*prefix, user)
        beamish.send(observer, ("up", user, beamish.self()))

    def handle_call(self, request, caller):
        if request == "crash":
            raise RuntimeError("session crashed")
        return self.state


def _is_down(ref):
    return lambda m: isinstance(m, beamish.Down) and m.ref == ref


async def test_start_child_with_extra_arguments_and_limit(node):
    """extra_arguments go first; max_children refuses one more child with MaxChildren."""
    sup = await DynamicSupervisor.start_link(max_children=2, extra_arguments=("tenant-1",))
    me = beamish.self()
    ann = await start_child(sup, (Session, me, "ann"))
    await start_child(sup, (Session, me, "bob"))
    assert await beamish.call(ann, "state") == ("tenant-1", "ann")
    with pytest.raises(MaxChildren):
        await start_child(sup, (Session, me, "cid"))
    assert await count_children(sup) == (2, 2, 0, 2)


async def test_crashed_child_is_restarted_with_same_arguments(node):
    """A permanent child that crashes comes back with a new pid and the same arguments."""
    sup = await DynamicSupervisor.start_link()
    me = beamish.self()
    first = await start_child(sup, (Session, me, "ann"))
    await assert_receive(("up", "ann", first))
    with pytest.raises(beamish.Exited):
        await beamish.call(first, "crash")
    _, _, second = await assert_receive(lambda m: m[:2] == ("up", "ann") and m[2] != first)
    assert [c.pid for c in await which_children(sup)] == [second]


async def test_temporary_and_transient_children_are_not_restarted_after_normal(node):
    """A temporary child is never restarted; a transient one not after a normal exit."""
    sup = await DynamicSupervisor.start_link()
    me = beamish.self()
    temp = await start_child(sup, (Session, me, "t"), restart="temporary")
    trans = await start_child(sup, (Session, me, "tr"), restart="transient")
    ref_temp, ref_trans = beamish.monitor(temp), beamish.monitor(trans)
    with pytest.raises(beamish.Exited):
        await beamish.call(temp, "crash")
    await beamish.stop(trans)
    await assert_receive(_is_down(ref_temp))
    await assert_receive(_is_down(ref_trans))
    assert await which_children(sup) == []


async def test_terminate_child_by_pid(node):
    """terminate_child stops one child by pid; an unknown pid is ChildNotFound."""
    sup = await DynamicSupervisor.start_link()
    pid = await start_child(sup, (Session, beamish.self(), "ann"))
    ref = beamish.monitor(pid)
    await terminate_child(sup, pid)
    down = await assert_receive(_is_down(ref))
    assert down.reason == "shutdown"
    with pytest.raises(ChildNotFound):
        await terminate_child(sup, pid)


async def test_intensity_exceeded_shuts_the_supervisor_down(node):
    """More restarts than max_restarts in max_seconds stop the supervisor with shutdown."""
    beamish.trap_exits(True)
    sup = await DynamicSupervisor.start_link(max_restarts=1, max_seconds=3600)
    ref = beamish.monitor(sup)
    me = beamish.self()
    pid = await start_child(sup, (Session, me, "ann"))

    def restarted_or_down(old):
        return lambda m: (
            (isinstance(m, tuple) and m[:2] == ("up", "ann") and m[2] != old)
            or (isinstance(m, beamish.Down) and m.ref == ref)
        )

    for _ in range(2):
        with pytest.raises(beamish.Exited):
            await beamish.call(pid, "crash")
        message = await assert_receive(restarted_or_down(pid))
        if isinstance(message, beamish.Down):
            break
        pid = message[2]
    else:
        message = await assert_receive(_is_down(ref))
    assert message.reason == "shutdown"


async def test_shutdown_stops_every_child_at_once(node):
    """Stopping the supervisor stops all of its children, each with reason shutdown."""
    sup = await DynamicSupervisor.start()  # unlinked: its "shutdown" would end the test
    pids = [await start_child(sup, (Session, beamish.self(), str(i))) for i in range(50)]
    refs = {beamish.monitor(pid) for pid in pids}
    await beamish.stop(sup, "shutdown")
    for _ in pids:
        down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref in refs)
        refs.discard(down.ref)
        assert down.reason == "shutdown"
    assert node.processes() == [beamish.self()]


async def test_bad_options_are_refused(node):
    """Unknown or invalid options fail before anything starts."""
    with pytest.raises(TypeError, match="unknown"):
        await DynamicSupervisor.start_link(strategy="one_for_all")
    with pytest.raises(ValueError, match="max_children"):
        await DynamicSupervisor.start_link(max_children=-1)


class _Payload:
    """Start arguments that a test can see being freed (a weakref to it dies)."""


class Forgetful(beamish.Actor):
    """A child that drops its start arguments after init."""

    def init(self, observer, payload):
        beamish.send(observer, ("up", beamish.self()))


async def test_a_temporary_childs_start_arguments_are_not_kept(node):
    """OTP keeps no start arguments for a temporary child (it is never restarted): a
    connection's request data goes once the child is done with it. A permanent child's
    stay, for its restart."""
    import gc
    import weakref

    sup = await DynamicSupervisor.start_link()
    me = beamish.self()
    kept = {}
    for restart in ("temporary", "permanent"):
        payload = _Payload()
        kept[restart] = weakref.ref(payload)
        pid = await start_child(sup, (Forgetful, me, payload), restart=restart)
        await assert_receive(("up", pid))
        del payload
    gc.collect()
    assert kept["temporary"]() is None
    assert kept["permanent"]() is not None
    assert len(await which_children(sup)) == 2
