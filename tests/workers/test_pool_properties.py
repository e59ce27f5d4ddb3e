"""Hypothesis: random sequences of run, spawn and kill keep the pool at its size, and
every piece of work ends with its right result or a worker-death exit, never lost."""

from __future__ import annotations

import os
import signal
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workerkit import Cruncher, next_event, running_pool, square, worker_events

import beamish
from beamish import Down, Exited, call
from beamish.workers import is_worker_death

pytestmark = pytest.mark.timeout(300)

SIZE = 2
operations = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.integers(-1000, 1000)),
        st.tuples(st.just("burst"), st.integers(1, 12), st.booleans()),
        st.tuples(st.just("spawn")),
        st.tuples(st.just("kill"), st.integers(0, SIZE - 1)),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(operations)
def test_random_work_and_kills_keep_the_pool_whole(ops: list[tuple[Any, ...]]) -> None:
    beamish.run(_exercise, ops)
    assert psutil.Process().children(recursive=True) == []


async def _exercise(ops: list[tuple[Any, ...]]) -> None:
    with worker_events():
        async with running_pool(size=SIZE, max_restarts=100, max_seconds=1) as pool:
            for _ in range(SIZE):
                await next_event("up")
            kills = 0
            actors: dict[Any, Any] = {}  # monitor ref -> pid
            killed: set[int] = set()
            for op in ops:
                if op[0] == "run":
                    _check_outcome(await _outcome(pool, op[1]), op[1])
                elif op[0] == "spawn":
                    pid = await _spawn(pool)
                    if pid is not None:
                        actors[beamish.monitor(pid)] = pid
                elif op[0] == "kill":
                    if await _kill(pool, op[1], killed):
                        kills += 1
                else:
                    _, count, kill_during = op
                    me = beamish.self()
                    for i in range(count):
                        beamish.spawn(_run_and_report, me, pool, i)
                    if kill_during and await _kill(pool, 0, killed):
                        kills += 1
                    for _ in range(count):
                        got = await beamish.receive(
                            lambda m: type(m) is tuple and m[0] == "outcome", timeout=30
                        )
                        _check_outcome(got[2], got[1])
            for _ in range(kills):  # every death is followed by exactly one replacement
                await next_event("down")
                await next_event("up")
            info = await pool.info()
            assert [w.status for w in info.workers] == ["up"] * SIZE
            assert info.restarts == kills
            os_pids = {w.os_pid for w in info.workers}
            assert len(os_pids) == SIZE
            assert not os_pids & killed
            assert {p.pid for p in psutil.Process().children()} == os_pids
            for ref, pid in actors.items():  # each actor is alive, or down with its worker
                try:
                    reply = await call(pid, ("ping",), timeout=10)
                    assert reply[2] in os_pids
                except Exited as exc:
                    assert is_worker_death(exc.reason)  # noqa: PT017
                    down = await beamish.receive(
                        lambda m, ref=ref: type(m) is Down and m.ref == ref, timeout=10
                    )
                    assert is_worker_death(down.reason)
            assert await pool.map(square, range(20)) == [x * x for x in range(20)]


async def _outcome(pool: Any, x: int) -> tuple[str, Any]:
    try:
        return ("ok", await pool.run(square, x, timeout=30))
    except Exited as exc:
        return ("exited", exc.reason)


def _check_outcome(outcome: tuple[str, Any], x: int) -> None:
    kind, value = outcome
    if kind == "ok":
        assert value == x * x
    else:
        assert is_worker_death(value), value


async def _run_and_report(parent: Any, pool: Any, x: int) -> None:
    beamish.send(parent, ("outcome", x, await _outcome(pool, x)))


async def _spawn(pool: Any) -> Any:
    try:
        return await pool.spawn(Cruncher, timeout=30)
    except beamish.StartError as exc:  # placed on a worker that died meanwhile
        assert is_worker_death(exc.reason), exc  # noqa: PT017
        return None


async def _kill(pool: Any, slot: int, killed: set[int]) -> bool:
    """SIGKILL the worker in ``slot`` if it is up and was not killed before."""
    worker = (await pool.info()).workers[slot]
    if worker.status != "up" or worker.os_pid in killed:
        return False
    killed.add(worker.os_pid)
    os.kill(worker.os_pid, signal.SIGKILL)
    return True
