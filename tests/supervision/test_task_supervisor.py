"""TaskSupervisor: async_/await_result, async_nolink, fire-and-forget tasks."""

import pytest

import beamish
from beamish.supervision import TaskSupervisor, count_children
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio


async def add(a, b):
    return a + b


def fail(message):
    raise ValueError(message)


async def test_async_returns_the_result(node):
    """await_result returns what the task returned (sync and async functions)."""
    sup = await TaskSupervisor.start_link()
    task = await TaskSupervisor.async_(sup, add, 2, 3)
    assert await task.await_result() == 5
    sync_task = await TaskSupervisor.async_(sup, len, "four")
    assert await sync_task.await_result() == 4


async def test_async_nolink_crash_raises_exited(node):
    """A crash in an unlinked task raises Exited with the exception; the caller lives on."""
    sup = await TaskSupervisor.start_link()
    task = await TaskSupervisor.async_nolink(sup, fail, "bad input")
    with pytest.raises(beamish.Exited) as info:
        await task.await_result()
    assert isinstance(info.value.reason, ValueError)
    assert beamish.is_alive(beamish.self())


async def test_async_crash_propagates_through_the_link(node):
    """A crash in a linked task reaches a trapping caller as an Exit, and await raises."""
    beamish.trap_exits(True)
    sup = await TaskSupervisor.start_link()
    task = await TaskSupervisor.async_(sup, fail, "boom")
    exit_message = await assert_receive(lambda m: isinstance(m, beamish.Exit) and m.pid == task.pid)
    assert isinstance(exit_message.reason, ValueError)
    with pytest.raises(beamish.Exited):
        await task.await_result()


async def test_async_crash_takes_down_a_non_trapping_caller(node):
    """Without trapping exits, a linked task's crash ends the caller, as in Elixir."""
    sup = await TaskSupervisor.start_link()

    async def caller(owner):
        task = await TaskSupervisor.async_(sup, fail, "boom")
        await task.await_result()
        beamish.send(owner, "survived")

    pid, ref = beamish.spawn_monitor(caller, beamish.self())
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert isinstance(down.reason, ValueError)
    assert pid not in node.processes()


async def test_await_timeout_and_shutdown(node):
    """await_result raises CallTimeout on a slow task; shutdown() stops it."""
    sup = await TaskSupervisor.start_link()
    task = await TaskSupervisor.async_nolink(sup, beamish.sleep, 3600)
    with pytest.raises(beamish.CallTimeout):
        await task.await_result(timeout=1)
    ref = beamish.monitor(task.pid)
    task.shutdown()
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert down.reason == "killed"


async def test_start_child_runs_and_is_not_restarted(node):
    """A fire-and-forget task runs once; tasks are temporary, so a crash is not retried."""
    sup = await TaskSupervisor.start_link()
    me = beamish.self()
    await TaskSupervisor.start_child(sup, beamish.send, me, "ran")
    await assert_receive("ran")
    pid = await TaskSupervisor.start_child(sup, fail, "once")
    ref = beamish.monitor(pid)
    await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert (await count_children(sup)).active == 0
