"""WorkerPool with real child processes: results, actors in workers, death as an exit
reason, restarts, recycling, memory limits, clean shutdown."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

import anyio
import psutil
import pytest
from workerkit import (
    MB,
    Cruncher,
    SlowStart,
    die,
    die_first,
    double_later,
    exit_later,
    exit_now,
    fail,
    fail_first,
    getpid,
    hog,
    nap,
    next_event,
    running_pool,
    square,
    unencodable,
    worker_events,
)

import beamish
from beamish import CallTimeout, Down, Exit, Exited, StartError, call, telemetry
from beamish.cluster import RemoteException
from beamish.cluster._mesh import function_reference
from beamish.supervision import Supervisor, child_spec, which_children
from beamish.workers import WorkerPool, is_worker_death, worker_died

pytestmark = pytest.mark.timeout(60)


def children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def run(main: Any, *args: Any, **config: Any) -> Any:
    """Run ``main`` on a fresh node (real time, asyncio) and check that no child process
    outlives the node."""
    result = beamish.run(main, *args, **config)
    assert children() == [], "a worker process outlived its node"
    return result


# -- one-shot functions --


def test_run_returns_results_and_raises_the_workers_exceptions() -> None:
    async def main() -> None:
        async with running_pool(size=2) as pool:
            assert await pool.run(square, 7) == 49
            assert await pool.run(double_later, 21) == 42  # async: a process in the worker
            assert await pool.run(getpid) != os.getpid()
            with pytest.raises(ValueError, match="bad input") as info:
                await pool.run(fail, "bad input")
            assert "in fail" in info.value.remote_traceback  # type: ignore[attr-defined]
            assert await pool.map(square, range(100)) == [x * x for x in range(100)]
            assert await pool.map(square, []) == []
            with pytest.raises(ValueError, match=r"^x$"):
                await pool.map(fail, ["x"])

    run(main)


def test_bad_work_fails_alone(tmp_path: Any, monkeypatch: Any) -> None:
    """What cannot travel, or cannot be found, fails its caller; the pool keeps going."""
    (tmp_path / "parent_only.py").write_text("def f():\n    return 1\n")

    async def main() -> None:
        async with running_pool(size=1) as pool:
            with pytest.raises(Exception, match=r"lock|encode|pickle"):
                await pool.run(unencodable)
            monkeypatch.syspath_prepend(str(tmp_path))  # after the workers started
            import parent_only

            with pytest.raises(ModuleNotFoundError):
                await pool.run(parent_only.f)
            with pytest.raises((TypeError, RemoteException)):
                await pool.run(square, "x", "y")
            assert await pool.run(square, 3) == 9
            assert (await pool.info()).restarts == 0

    run(main)


@pytest.mark.parametrize("fn", [exit_now, exit_later], ids=["sync", "async"])
def test_system_exit_in_a_task_is_that_tasks_error(fn: Any) -> None:
    """SystemExit raised by a function, sync or async, comes back as its error (as a
    RemoteException: it must not end the caller); the worker, and every actor in it, goes
    on."""

    async def main() -> None:
        async with running_pool(size=1) as pool:
            os_pid = await pool.run(getpid)
            actor = await pool.spawn(Cruncher, "stays")
            with pytest.raises(RemoteException, match=r"SystemExit: 3$") as info:
                await pool.run(fn, 3)
            assert info.value.remote_args == (3,)
            assert "raise SystemExit(code)" in info.value.remote_traceback
            assert await pool.run(getpid) == os_pid
            assert await call(actor, ("ping",)) == ("pong", "stays", os_pid)
            assert (await pool.info()).restarts == 0

    run(main)


@pytest.mark.parametrize("fn", [fail_first, die_first], ids=["raises", "worker_dies"])
def test_a_map_fails_as_soon_as_one_item_fails(fn: Any) -> None:
    """The first failure fails the map at once, while the other items are far from done
    (their queued rest is dropped), as asyncio.gather does."""

    async def main() -> None:
        with counting_drops() as dropped:
            async with running_pool(size=2, window=2) as pool:
                items = [0] + [600] * 20  # 0 fails now; the others take ten minutes each
                with pytest.raises((ValueError, Exited)) as info:
                    await pool.map(fn, items, timeout=30)
                if fn is fail_first:
                    assert isinstance(info.value, ValueError)
                else:
                    assert isinstance(info.value, Exited)
                    assert info.value.reason == worker_died("SIGKILL")
                assert (await pool.info()).queued == 0
                assert sum(dropped) == len(items) - 2 * 2  # all but the two windows' worth

    run(main)


@contextlib.contextmanager
def counting_drops() -> Iterator[list[int]]:
    """A list that gets the count of each WORKER_TASKS_DROPPED event meanwhile."""
    counts: list[int] = []
    handler_id = f"dropped-{id(counts)}"
    telemetry.attach(
        handler_id, telemetry.WORKER_TASKS_DROPPED, lambda e, m, md, c: counts.append(m["count"])
    )
    try:
        yield counts
    finally:
        telemetry.detach(handler_id)


@pytest.mark.parametrize("how", ["cancelled", "timed_out", "silent"])
def test_queued_work_whose_caller_has_gone_is_dropped(how: str) -> None:
    """A big map whose caller gave up (cancelled, timed out, or gone without a word)
    leaves nothing queued in front of new work; what was in the worker still runs."""

    async def main() -> None:
        with counting_drops() as dropped:
            async with running_pool(size=1, window=2) as pool:
                items = [0.05] * 10_000  # 500 s of work
                if how == "cancelled":
                    with anyio.move_on_after(0.5):
                        await pool.map(nap, items)
                elif how == "timed_out":
                    with pytest.raises(CallTimeout):
                        await pool.map(nap, items, timeout=0.5)
                else:  # a caller that speaks the pool's protocol and sends no "forget"
                    request = ("map", function_reference(nap), [(x,) for x in items])
                    with pytest.raises(CallTimeout):
                        await call(pool.name, request, 0.5)
                assert await pool.run(square, 3, timeout=30) == 9
                info = await pool.info()
                assert info.queued == 0
                worker = info.workers[0]
                assert sum(dropped) + worker.tasks_run + worker.running == len(items) + 1

    run(main)


def test_an_actor_whose_spawn_was_abandoned_is_killed_once_started() -> None:
    """Nobody will ever know its pid, so the pool kills it instead of leaking it."""

    async def main() -> None:
        async with running_pool(size=1) as pool:
            with pytest.raises(CallTimeout):
                await pool.spawn(SlowStart, beamish.self(), 1.0, timeout=0.2)
            _, pid = await beamish.receive(
                lambda m: type(m) is tuple and m[0] == "initialised", timeout=10
            )
            ref = beamish.monitor(pid)
            down = await beamish.receive(lambda m: type(m) is Down and m.ref == ref, timeout=10)
            assert down.reason in ("killed", "noproc")  # noproc: killed before the monitor
            assert (await pool.info()).workers[0].actors == 0

    run(main)


# -- actors in workers --


def test_an_actor_in_a_worker_is_an_ordinary_pid() -> None:
    async def main() -> None:
        async with running_pool(size=2) as pool:
            pid = await pool.spawn(Cruncher, "a")
            assert pid.node != beamish.this_node().name
            kind, tag, os_pid = await call(pid, ("ping",))
            assert (kind, tag) == ("pong", "a")
            info = await pool.info()
            assert os_pid in {w.os_pid for w in info.workers}
            beamish.cast(pid, ("tell", beamish.self()))
            assert await beamish.receive(lambda m: m == ("told", "a"), timeout=10)
            ref = beamish.monitor(pid)
            await beamish.stop(pid)
            down = await beamish.receive(lambda m: type(m) is Down and m.ref == ref, timeout=10)
            assert down.reason == "normal"
            # placement: the second actor goes to the least-loaded worker
            first = await pool.spawn(Cruncher, "b")
            second = await pool.spawn(Cruncher, "c")
            assert first.node != second.node

    run(main)


def test_a_crash_in_a_worker_actor_is_its_exception_and_its_supervisor_restarts_it() -> None:
    async def main() -> None:
        beamish.trap_exits(True)
        async with running_pool(size=1) as pool:
            before = (await pool.info()).workers[0].os_pid
            pid = await pool.spawn_link(Cruncher)
            with pytest.raises(Exited) as info:
                await call(pid, ("raise", "boom"))
            assert isinstance(info.value.reason, ValueError)
            exit_ = await beamish.receive(
                    lambda m: type(m) is Exit and m.pid == pid, timeout=10
                )
            assert isinstance(exit_.reason, ValueError)
            assert str(exit_.reason) == "boom"
            # under a supervisor, the actor comes back in a worker; the worker lived on
            sup = await Supervisor.start_link(children=[child_spec(Cruncher, placement=pool)])
            [child] = [c.pid for c in await which_children(sup)]
            ref = beamish.monitor(child)
            with pytest.raises(Exited):
                await call(child, ("raise", "again"))
            new = await _restarted(sup, ref)
            assert new != child
            assert new.node == child.node
            assert await call(new, ("ping",)) == ("pong", "c", before)
            assert (await pool.info()).workers[0].os_pid == before
            await beamish.stop(sup)

    run(main)


async def _restarted(sup: Any, ref: Any) -> Any:
    """The supervisor's child once the old one is down (``ref``: a monitor of it): the
    supervisor saw the exit before our request, and restarts before it answers."""
    await beamish.receive(lambda m: type(m) is Down and m.ref == ref, timeout=15)
    [child] = await which_children(sup)
    return child.pid


HARD_DEATHS = {
    "os_exit": 3,
    "sigkill": "SIGKILL",
    "segfault": "SIGSEGV",
}


@pytest.mark.parametrize("how", sorted(HARD_DEATHS))
def test_a_dying_worker_is_an_exit_reason_and_is_restarted(how: str) -> None:
    """os._exit, SIGKILL, a segfault: the linked process gets {"worker_died": cause}, the
    pending call fails with Exited, the worker comes back."""

    async def main() -> None:
        beamish.trap_exits(True)
        with worker_events():
            async with running_pool(size=1) as pool:
                await next_event("up")
                linked = await pool.spawn_link(Cruncher)
                watched = await pool.spawn(Cruncher)
                ref = beamish.monitor(watched)
                with pytest.raises(Exited) as info:
                    await call(linked, ("die", how))
                expected = worker_died(HARD_DEATHS[how])
                assert info.value.reason == expected
                exit_ = await beamish.receive(
                    lambda m: type(m) is Exit and m.pid == linked, timeout=10
                )
                assert exit_.reason == expected
                assert is_worker_death(exit_.reason)
                down = await beamish.receive(
                    lambda m: type(m) is Down and m.ref == ref, timeout=10
                )
                assert down.reason == expected
                assert (await next_event("down"))["reason"] == expected
                await next_event("up")
                info_ = await pool.info()
                assert info_.restarts == 1
                assert info_.workers[0].status == "up"
                assert await pool.run(square, 5) == 25
                again = await pool.spawn(Cruncher, "again")
                assert (await call(again, ("ping",)))[:2] == ("pong", "again")

    run(main)


def test_a_run_pending_on_a_killed_worker_fails_with_exited() -> None:
    async def main() -> None:
        with worker_events():
            async with running_pool(size=1) as pool:
                await next_event("up")
                with pytest.raises(Exited) as info:
                    await pool.run(die, "sigkill")
                assert info.value.reason == worker_died("SIGKILL")
                await next_event("up")
                assert await pool.run(square, 4) == 16

    run(main)


def test_a_worker_killed_from_outside_turns_into_exit_signals() -> None:
    async def main() -> None:
        beamish.trap_exits(True)
        with worker_events():
            async with running_pool(size=2) as pool:
                await next_event("up")
                await next_event("up")
                pid = await pool.spawn_link(Cruncher)
                os_pid = (await call(pid, ("ping",)))[2]
                beamish.spawn(_call_and_report, beamish.self(), pid)
                await beamish.receive(lambda m: m == ("calling",), timeout=10)
                os.kill(os_pid, signal.SIGKILL)
                got = await beamish.receive(
                    lambda m: type(m) is tuple and m[0] == "call_failed", timeout=10
                )
                assert got[1] == worker_died("SIGKILL")
                exit_ = await beamish.receive(
                    lambda m: type(m) is Exit and m.pid == pid, timeout=10
                )
                assert exit_.reason == worker_died("SIGKILL")
                up = await next_event("up")
                assert up["os_pid"] != os_pid
                assert len({w.os_pid for w in (await pool.info()).workers}) == 2

    run(main)


async def _call_and_report(parent: Any, pid: Any) -> None:
    beamish.send(parent, ("calling",))
    try:
        await call(pid, ("hang",), timeout=30)
    except Exited as exc:
        beamish.send(parent, ("call_failed", exc.reason))


def test_a_worker_over_max_memory_is_killed_and_restarted() -> None:
    async def main() -> None:
        beamish.trap_exits(True)
        with worker_events():
            async with running_pool(size=1, max_memory=150 * MB, check_interval=0.05) as pool:
                await next_event("up")
                pid = await pool.spawn_link(Cruncher)
                with pytest.raises(Exited) as info:
                    await call(pid, ("hog", 300 * MB), timeout=30)
                assert info.value.reason == worker_died("max_memory")
                exit_ = await beamish.receive(
                    lambda m: type(m) is Exit and m.pid == pid, timeout=10
                )
                assert exit_.reason == worker_died("max_memory")
                over = await next_event("over_memory")
                assert over["max_memory"] == 150 * MB
                await next_event("up")
                with pytest.raises(Exited) as info:
                    await pool.run(hog, 300 * MB, 30.0)
                assert info.value.reason == worker_died("max_memory")
                await next_event("up")
                assert await pool.run(hog, MB, 0.0) == MB

    run(main)


def test_a_supervised_actor_in_a_killed_worker_is_restarted_in_the_new_worker(
    caplog: Any,
) -> None:
    """One worker death costs its supervisor one restart: the pool hears of the death
    before the supervisor does, so the restart never lands on the dead worker."""

    async def main() -> None:
        with worker_events():
            async with running_pool(size=1) as pool:
                await next_event("up")
                sup = await Supervisor.start_link(children=[child_spec(Cruncher, placement=pool)])
                [child] = [c.pid for c in await which_children(sup)]
                ref = beamish.monitor(child)
                old_os = (await call(child, ("ping",)))[2]
                os.kill(old_os, signal.SIGKILL)
                new = await _restarted(sup, ref)
                assert new != child
                assert (await call(new, ("ping",)))[2] != old_os
                assert (await pool.info()).workers[0].actors == 1
                await beamish.stop(sup)

    run(main)
    assert not [r for r in caplog.records if "failed" in r.getMessage()]


def test_the_pool_gives_up_after_max_restarts() -> None:
    async def main() -> None:
        beamish.trap_exits(True)
        pool = WorkerPool(size=1, max_restarts=1, max_seconds=60)
        pid = await pool.start_link()
        for _ in range(2):
            with pytest.raises(Exited):
                await pool.run(die, "sigkill")
        exit_ = await beamish.receive(lambda m: type(m) is Exit and m.pid == pid, timeout=15)
        assert exit_.reason == "shutdown"

    run(main)


# -- recycling, observability --


def test_max_tasks_per_worker_replaces_a_worker_that_ran_enough() -> None:
    async def main() -> None:
        with worker_events():
            async with running_pool(size=1, max_tasks_per_worker=3) as pool:
                await next_event("up")
                pids = [await pool.run(getpid) for _ in range(7)]
                assert len(set(pids[:3])) == 1
                assert len(set(pids[3:6])) == 1
                assert pids[0] != pids[3] != pids[6]
                recycled = await next_event("recycled")
                assert recycled["index"] == 0
                info = await pool.info()
                assert info.restarts == 0
                assert info.workers[0].tasks_run == 7

    run(main)


def test_a_worker_hosting_actors_is_recycled_only_once_they_are_gone() -> None:
    async def main() -> None:
        with worker_events():
            async with running_pool(size=1, max_tasks_per_worker=2) as pool:
                await next_event("up")
                actor = await pool.spawn(Cruncher)
                first = [await pool.run(getpid) for _ in range(5)]  # no stall past the limit
                assert len(set(first)) == 1
                await beamish.stop(actor)
                await next_event("recycled")
                await next_event("up")
                assert await pool.run(getpid) != first[0]

    run(main)


def test_info_reports_each_worker() -> None:
    async def main() -> None:
        async with running_pool(size=2, check_interval=0.05) as pool:
            await pool.map(square, range(10))
            await pool.spawn(Cruncher)
            info = await pool.info()
            assert info.size == 2
            assert info.queued == 0
            assert info.restarts == 0
            assert [w.slot for w in info.workers] == [0, 1]
            assert sum(w.tasks_run for w in info.workers) == 10
            assert sum(w.actors for w in info.workers) == 1
            for worker in info.workers:
                assert worker.status == "up"
                assert worker.running == 0
                assert worker.memory > 5 * MB
                assert psutil.Process(worker.os_pid).ppid() == os.getpid()
                assert worker.pid is not None
                assert worker.pid.node == worker.node

    run(main)


def test_the_pools_state_hides_the_cluster_cookie() -> None:
    """get_state of the pool server (and so its crash reports) never shows the cookie its
    workers connect with."""
    from beamish.actors import get_state, statistics
    from beamish.workers._private import cookie_of

    async def main() -> None:
        async with running_pool(size=1) as pool:
            assert pool.pid is not None
            state = await get_state(pool.pid)
            cookie = cookie_of(beamish.this_node().remote)
            assert cookie not in repr(state)
            assert state["worker_settings"].cookie == "***"
            assert (await statistics(pool.pid)).behaviour == "PoolServer"

    run(main)


# -- lifecycle --


def test_stopping_the_pool_leaves_no_process_behind() -> None:
    async def main() -> None:
        pool = WorkerPool(size=3)
        await pool.start()
        os_pids = [w.os_pid for w in (await pool.info()).workers]
        assert sorted(p.pid for p in children()) == sorted(os_pids)
        actor = await pool.spawn(Cruncher)
        ref = beamish.monitor(actor)
        await pool.stop()
        down = await beamish.receive(lambda m: type(m) is Down and m.ref == ref, timeout=10)
        assert down.reason == "shutdown"
        assert children() == []
        assert pool.pid is None

    run(main)


def test_a_pool_in_the_root_supervisor_stops_with_the_node() -> None:
    pool = WorkerPool(size=2, name="root-pool")

    async def main() -> list[int]:
        assert await pool.run(square, 2) == 4
        return [p.pid for p in children()]

    assert len(run(main, children=[pool])) == 2


def test_a_pool_on_a_node_in_a_cluster_uses_that_cluster() -> None:
    async def main() -> None:
        async with running_pool(size=1) as pool:
            worker = (await pool.info()).workers[0].node
            assert worker in beamish.cluster.nodes()
            assert await pool.run(square, 9) == 81

    run(
        main,
        name="parent@127.0.0.1",
        cluster={"cookie": "workers-test", "discovery": False},
    )


def test_start_failures_reach_the_caller() -> None:
    async def main() -> None:
        async with running_pool(size=1) as pool:
            with pytest.raises(StartError):
                await pool.spawn(_BadInit)
            assert await pool.run(square, 2) == 4

    run(main)


class _BadInit(beamish.Actor):
    def init(self) -> None:
        raise RuntimeError("no")


@pytest.mark.parametrize("backend", ["trio", "uvloop"])
def test_pools_run_on_every_backend(backend: str) -> None:
    async def main() -> None:
        async with running_pool(size=1) as pool:
            assert await pool.run(square, 6) == 36
            pid = await pool.spawn(Cruncher, "t")
            assert (await call(pid, ("ping",)))[:2] == ("pong", "t")

    run(main, backend=backend)
