"""Worker-pool benchmarks: calls to an actor in a worker, CPU-bound tasks, and recovery
from a killed worker, each next to a baseline measured in the same run.

    python benchmarks/workers.py [--quick] [--size N] [--json out.json]

The pool side runs in one fresh child interpreter (``--child pool``) that starts the
``WorkerPool`` and a ``concurrent.futures.ProcessPoolExecutor`` of the same size, warms
both, then measures them in alternation. The call baseline is a bare asyncio TCP
request/response pair between two OS processes on loopback (``cluster.py``'s bare server,
the same length-prefixed msgpack frames). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SRC = os.environ.get("BEAMISH_BENCH_SRC", str(ROOT))
if SRC not in sys.path:
    sys.path.insert(0, SRC)
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from kernel import machine  # noqa: E402
from pairs import Child, Spread, answer, commands, interleave, meets  # noqa: E402

HOST = "127.0.0.1"
NODE = f"bench@{HOST}"
CLUSTER = HERE / "cluster.py"
CALLERS = 64  # concurrent caller processes (calls)
TASK_SECONDS = 0.001  # the busy loop is calibrated to this
# call_pairs: interleaved P1 rounds (pool, bare); cpu_pairs: rounds of the three P2
# runners in alternation (map, run, executor, then reversed), each ratio within its pair
FULL_SIZES = {"calls": 10_000, "tasks": 10_000, "restarts": 5, "call_pairs": 5, "cpu_pairs": 3}
QUICK_SIZES = {"calls": 640, "tasks": 400, "restarts": 2, "call_pairs": 2, "cpu_pairs": 2}
TARGETS = {"cpu": 0.9}


def now() -> float:
    return time.perf_counter()


# --------------------------------------------------------------------------------------
# What runs in the workers (both pools): module-level, so that both pickle it by reference
# --------------------------------------------------------------------------------------


def busy(loops: int) -> int:
    """A pure-Python busy loop (calibrated so that ``busy(loops)`` takes about 1 ms)."""
    total = 0
    for i in range(loops):
        total += i & 7
    return total & 0xFF


def echo_actor() -> type:
    """An ``Actor`` that answers a call with its request (made on demand, so that a
    ``ProcessPoolExecutor`` child importing this module never imports beamish)."""
    import beamish

    global _Echo
    if _Echo is None:

        class Echo(beamish.Actor):
            def handle_call(self, request: Any, caller: Any) -> Any:
                return request

        _Echo = Echo
    return _Echo


_Echo: type | None = None


def importable() -> ModuleType:
    """This module under an importable name: run as a script it is ``__main__``, whose
    functions beamish would cloudpickle by value for every task; imported as ``workers``
    (the benchmarks directory is on ``sys.path``, which the workers inherit through
    ``PYTHONPATH``), ``busy`` travels as ``"workers:busy"``, as a function in a user's
    module would, and as ``ProcessPoolExecutor`` pickles it (by reference)."""
    if __name__ != "__main__":
        return sys.modules[__name__]
    return importlib.import_module(Path(__file__).stem)


def calibrate(fn: Any, seconds: float) -> tuple[int, float]:
    """Loops for ``fn(loops)`` to take ``seconds`` of CPU here, and the median CPU time it
    then takes. CPU time (``thread_time``), not wall time: on a loaded machine a wall-clock
    calibration counts the time the process waited for a core, and makes tasks too short."""
    clock = time.thread_time
    loops = 10_000
    while True:
        started = clock()
        fn(loops)
        if clock() - started >= 0.02:
            break
        loops *= 2
    per_loop = []
    for _ in range(5):
        started = clock()
        fn(loops)
        per_loop.append((clock() - started) / loops)
    loops = max(1, round(seconds / statistics.median(per_loop)))
    took = []
    for _ in range(9):
        started = clock()
        fn(loops)
        took.append(clock() - started)
    return loops, statistics.median(took)


# --------------------------------------------------------------------------------------
# The pool side: WorkerPool and ProcessPoolExecutor in one beamish node
# --------------------------------------------------------------------------------------


def pool_child(sizes: dict[str, int], size: int) -> dict[str, Any]:
    """P1 rounds on command (after READY) until the "rest" command; then P2 and P3, whose
    figures it returns."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import anyio

    import beamish
    from beamish.cluster._mesh import function_reference
    from beamish.workers import WorkerPool

    bench = importable()
    task = bench.busy
    results: dict[str, Any] = {"size": size, "reference": str(function_reference(task))}
    loops, took = calibrate(task, TASK_SECONDS)
    results["loops"], results["task_seconds"] = loops, took
    spawn_ctx = multiprocessing.get_context("spawn")

    async def calls(pid: Any, n: int) -> float:
        call = beamish.call
        started = now()
        for i in range(n):
            await call(pid, i)
        return n / (now() - started)

    async def caller(driver: Any, pid: Any, n: int) -> None:
        call = beamish.call
        for i in range(n):
            await call(pid, i)
        beamish.send(driver, ("done",))

    async def concurrent_calls(pid: Any, n: int) -> float:
        me = beamish.self()
        per = n // CALLERS
        started = now()
        for _ in range(CALLERS):
            beamish.spawn(caller, me, pid, per)
        for _ in range(CALLERS):
            await beamish.receive(lambda message: message == ("done",))
        return per * CALLERS / (now() - started)

    async def one_run(driver: Any, pool: WorkerPool, loops: int) -> None:
        value = await pool.run(task, loops, timeout=None)
        beamish.send(driver, ("ran", value))

    async def pool_map(pool: WorkerPool, items: list[int]) -> float:
        started = now()
        out = await pool.map(task, items, timeout=None)
        elapsed = now() - started
        assert len(out) == len(items)
        return len(items) / elapsed

    async def pool_runs(pool: WorkerPool, items: list[int]) -> float:
        me = beamish.self()
        started = now()
        for loops in items:  # a process per call, all submitted at once
            beamish.spawn(one_run, me, pool, loops)
        for _ in items:
            await beamish.receive(lambda message: type(message) is tuple and message[0] == "ran")
        return len(items) / (now() - started)

    async def executor_map(executor: ProcessPoolExecutor, items: list[int]) -> float:
        def run() -> int:
            return len(list(executor.map(task, items, chunksize=1)))

        started = now()
        count = await anyio.to_thread.run_sync(run)
        elapsed = now() - started
        assert count == len(items)
        return len(items) / elapsed

    async def restart(pool: WorkerPool) -> tuple[float, float]:
        """SIGKILL worker 0; seconds until its replacement is "up", and until a run
        landed on it."""
        old = (await pool.info()).workers[0].os_pid
        assert old is not None
        started = now()
        os.kill(old, signal.SIGKILL)
        while True:
            worker = (await pool.info()).workers[0]
            if worker.status == "up" and worker.os_pid not in (None, old):
                break
            await beamish.sleep(0.001)
        up = now() - started
        for _ in range(100):  # the least-loaded worker: the fresh one, as all are idle
            if await pool.run(os.getpid) == worker.os_pid:
                break
        else:
            raise AssertionError("no run landed on the replacement worker")
        return up, now() - started

    async def fresh_executor(method: str) -> float:
        """A new ProcessPoolExecutor and its first result (what follows BrokenProcessPool)."""

        def run() -> float:
            started = now()
            executor = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context(method))
            executor.submit(os.getpid).result()
            elapsed = now() - started
            executor.shutdown()
            return elapsed

        return await anyio.to_thread.run_sync(run)

    async def main() -> None:
        pool = WorkerPool(size=size, max_restarts=100, max_seconds=1.0)
        started = now()
        await pool.start()
        results["pool_start"] = now() - started
        executor = ProcessPoolExecutor(size, mp_context=spawn_ctx)
        try:
            # 1. calls to an actor in a worker: one round per command from the parent,
            # which interleaves them with the bare baseline's rounds
            pid = await pool.spawn(echo_actor())
            n = sizes["calls"]
            await calls(pid, max(n // 10, 1))
            await concurrent_calls(pid, max(n // 10, CALLERS))
            print("READY", flush=True)
            async for command in commands():
                if command["op"] == "calls":
                    answer(await calls(pid, n))
                elif command["op"] == "concurrent_calls":
                    answer(await concurrent_calls(pid, n))
                else:
                    break
            beamish.exit(pid, "kill")

            # 2. CPU-bound tasks: warm both pools (every worker started), then alternate
            warm = [loops] * (size * 4)
            await pool_map(pool, warm)
            await pool_runs(pool, warm)
            await executor_map(executor, warm)
            items = [loops] * sizes["tasks"]
            runners = {
                "pool_map": lambda: pool_map(pool, items),
                "pool_runs": lambda: pool_runs(pool, items),
                "executor_map": lambda: executor_map(executor, items),
            }
            rates: dict[str, list[float]] = {key: [] for key in runners}
            order = list(runners)
            for _ in range(sizes["cpu_pairs"]):
                for key in order:
                    rates[key].append(await runners[key]())
                order.reverse()
            for key, values in rates.items():
                results[key] = values

            # 3. a worker's SIGKILL to its replacement serving
            ups, served = [], []
            for _ in range(sizes["restarts"]):
                await beamish.sleep(0.2)
                up, first = await restart(pool)
                ups.append(up)
                served.append(first)
            results["restart_up"], results["restart_served"] = ups, served
            for method in ("spawn", "forkserver"):
                await fresh_executor(method)  # forkserver: its server starts here, once
                results[f"fresh_{method}"] = [
                    await fresh_executor(method) for _ in range(sizes["restarts"])
                ]
        finally:
            executor.shutdown()
            await pool.stop()

    beamish.run(main, name=NODE)
    return results


# --------------------------------------------------------------------------------------
# The call baseline: a client of cluster.py's bare asyncio server, in another OS process
# --------------------------------------------------------------------------------------


def bare_child(address: str, sizes: dict[str, int]) -> None:
    """Connects to the bare server, prints READY, then one P1 round per command."""
    import asyncio

    from cluster import PID, frame, read_frames

    async def main() -> None:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        buffer = bytearray()
        refs = iter(range(1 << 62))

        async def calls(n: int) -> float:
            started = now()
            for i in range(n):
                ref = next(refs)
                writer.write(frame(["call", PID, ref, i]))
                (reply,) = await read_frames(reader, buffer)
                assert reply[1] == ref
            return n / (now() - started)

        async def concurrent_calls(n: int) -> float:
            loop = asyncio.get_running_loop()
            waiting: dict[int, asyncio.Future[Any]] = {}

            async def replies() -> None:
                while True:
                    for reply in await read_frames(reader, buffer):
                        waiting.pop(reply[1]).set_result(reply[2])

            async def caller(k: int) -> None:
                for i in range(k):
                    ref = next(refs)
                    future = waiting[ref] = loop.create_future()
                    writer.write(frame(["call", PID, ref, i]))
                    await future

            per = n // CALLERS
            reading = asyncio.create_task(replies())
            started = now()
            await asyncio.gather(*(caller(per) for _ in range(CALLERS)))
            elapsed = now() - started
            reading.cancel()
            return per * CALLERS / elapsed

        n = sizes["calls"]
        await calls(max(n // 10, 1))
        await concurrent_calls(max(n // 10, CALLERS))
        print("READY", flush=True)
        async for command in commands():
            answer(await (calls(n) if command["op"] == "calls" else concurrent_calls(n)))
        writer.close()

    asyncio.run(main())


# --------------------------------------------------------------------------------------
# The parent: the bare pair, then the pool child
# --------------------------------------------------------------------------------------


def start_children(sizes: dict[str, int], size: int) -> tuple[Child, Child, Child]:
    """cluster.py's bare server, a bare client of it, and the pool child, all READY."""
    env = {**os.environ, "BEAMISH_BENCH_SRC": SRC}
    script = [sys.executable, __file__, "--child"]
    started: list[Child] = []
    try:
        server = Child([sys.executable, str(CLUSTER), "--child", "bare-server"], cwd=ROOT, env=env)
        started.append(server)
        address = server.ready()
        bare_args = ["bare", "--address", address, "--sizes", json.dumps(sizes)]
        bare = Child([*script, *bare_args], cwd=ROOT, env=env)
        started.append(bare)
        pool_args = ["pool", "--size", str(size), "--sizes", json.dumps(sizes)]
        pool = Child([*script, *pool_args], cwd=ROOT, env=env)
        started.append(pool)
        bare.ready()
        pool.ready()
    except BaseException:
        for child in reversed(started):
            child.close()
        raise
    return server, bare, pool


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def rate(self, label: str, spread: Spread, base_label: str, key: str | None) -> None:
        verdict = "(no target)" if key is None else meets(spread, ">=", TARGETS[key])
        ours, base = spread.ours, spread.base
        print(
            f"{label:<50} beamish {ours:>9,.0f}/s  baseline {base:>9,.0f}/s  "
            f"{spread.text()}  {verdict}  [baseline: {base_label}]",
            flush=True,
        )
        self.rows.append(
            {
                "label": label,
                "beamish": f"{ours:,.0f}/s",
                "baseline": f"{base:,.0f}/s ({base_label})",
                "ratio": f"{spread.median:.2f}x [{spread.low:.2f}-{spread.high:.2f}]",
                "target": verdict,
                "values": spread.as_dict(),
            }
        )

    def times(self, label: str, ours: list[float], base: list[float] | None, base_label: str):
        def fmt(values: list[float]) -> str:
            return f"median {statistics.median(values):.3f}s max {max(values):.3f}s"

        if base is None:
            print(f"{label:<50} beamish {fmt(ours)}  (no baseline)", flush=True)
            ref, ratio = "-", "-"
        else:
            ratio = f"{statistics.median(ours) / statistics.median(base):.2f}x"
            ref = f"{fmt(base)} ({base_label})"
            print(
                f"{label:<50} beamish {fmt(ours)}  reference {fmt(base)} ({base_label})  "
                f"ratio {ratio} of medians (time: lower is better; no target)",
                flush=True,
            )
        self.rows.append(
            {
                "label": label,
                "beamish": fmt(ours),
                "baseline": ref,
                "ratio": ratio,
                "target": "reference only" if base is not None else "no baseline",
                "values": [ours, base],
            }
        )

    def table(self) -> str:
        lines = ["| Workload | beamish | baseline | ratio | target |", "|---|---:|---:|---:|---|"]
        for row in self.rows:
            lines.append(
                f"| {row['label']} | {row['beamish']} | {row['baseline']} | {row['ratio']} "
                f"| {row['target']} |"
            )
        return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--size", type=int, default=os.cpu_count() or 1, help="pool size")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        sizes = json.loads(args.sizes)
        if args.child == "bare":
            bare_child(args.address, sizes)
        else:
            answer(pool_child(sizes, args.size))  # the answer to the "rest" command
        return

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    started = now()
    info = machine()
    print(
        f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, "
        f"kernel {info['kernel']}; pool size {args.size}; sizes {sizes}",
        flush=True,
    )
    server, bare, pool = start_children(sizes, args.size)
    try:
        p1 = {
            op: interleave(
                {"beamish": lambda op=op: pool.ask(op=op), "bare": lambda op=op: bare.ask(op=op)},
                sizes["call_pairs"],
            )
            for op in ("calls", "concurrent_calls")
        }
        ours = pool.ask(op="rest")  # P2 and P3, in the pool child
    finally:
        for child in (pool, bare, server):
            child.close()
    print(
        f"pool start-up {ours['pool_start']:.2f}s (not in any figure); "
        f"task: busy({ours['loops']:,}) = {ours['task_seconds'] * 1000:.2f} ms in the parent, "
        f"sent as {ours['reference']!r}; ideal {args.size / ours['task_seconds']:,.0f} tasks/s",
        flush=True,
    )
    report = Report()
    # fmt: off
    n, tasks, kills = sizes["calls"], sizes["tasks"], len(ours["restart_up"])
    bare_label, executor = "bare TCP", "PPE map chunksize=1"
    report.rate(f"P1 calls to an actor in a worker ({n:,} sequential)",
                Spread.of(p1["calls"]["beamish"], p1["calls"]["bare"]), bare_label, None)
    report.rate(f"P1 calls, {CALLERS} concurrent callers ({n // CALLERS * CALLERS:,})",
                Spread.of(p1["concurrent_calls"]["beamish"], p1["concurrent_calls"]["bare"]),
                bare_label, None)
    report.rate(f"P2 pool.map, {tasks:,} tasks of ~1 ms",
                Spread.of(ours["pool_map"], ours["executor_map"]), executor, "cpu")
    report.rate(f"P2 pool.run x {tasks:,}, all concurrent",
                Spread.of(ours["pool_runs"], ours["executor_map"]), executor, "cpu")
    report.times(f"P3 SIGKILL -> replacement up ({kills} kills)", ours["restart_up"], None, "")
    report.times(f"P3 SIGKILL -> first run served by it ({kills} kills)",
                 ours["restart_served"], ours["fresh_spawn"], "new PPE(spawn) + first result")
    report.times(f"P3 SIGKILL -> first run served by it ({kills} kills)",
                 ours["restart_served"], ours["fresh_forkserver"],
                 "new PPE(forkserver) + first result")
    # fmt: on
    elapsed = now() - started
    print(f"done in {elapsed:.0f}s", flush=True)
    print("\n" + report.table(), flush=True)
    if args.json:
        data = {"sizes": sizes, "seconds": elapsed, "machine": info, "pool": ours,
                "p1": p1, "rows": report.rows}  # fmt: skip
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
