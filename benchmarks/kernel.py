"""Kernel benchmarks: beamish next to a bare-asyncio baseline, on asyncio and uvloop.

    python benchmarks/kernel.py [--quick] [--loop asyncio|uvloop|all] [--only W1,W3]

Every figure is measured in a fresh child interpreter (``--child``), so one workload's
heap, GC generations and loop state never leak into another's. The baseline is what one
would write with no framework: a native asyncio task per actor, a ``collections.deque``
(created on first delivery, as beamish does) plus an ``asyncio.Future`` as its mailbox.
Each child times one round after a warm-up; beamish and baseline children run in
interleaved pairs (``pairs.py``), and each figure is the median of the per-pair ratios with
their spread. See ``benchmarks/README.md`` for what each workload measures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The directory holding the beamish package to measure: the working tree by default, or a
# pinned snapshot (``--src``, e.g. from ``git archive``) while the kernel is being edited.
SRC = os.environ.get("BEAMISH_BENCH_SRC", str(ROOT))
if SRC not in sys.path:
    sys.path.insert(0, SRC)
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from pairs import Spread, interleave, meets  # noqa: E402

PAIRS = 5  # interleaved pairs of children (one round each) per figure
QUICK_PAIRS = 2
GC_TUNED = 100_000
W1_WARMUP = 1_000
FULL_SIZES: dict[str, dict[str, int]] = {
    "W1": {"n": 100_000},
    "W2": {"n": 1_000_000},
    "W3": {"n": 100_000},
    "W5": {"names": 100_000, "lookups": 1_000_000},
    "W6": {"subscribers": 10_000, "messages": 100},
}
WORKLOADS = tuple(FULL_SIZES)
W6_LABEL = "W6 fan-out: send over a member list (pg arrives later)"

# (comparison, bound): the ratio beamish/baseline each line is held to, on asyncio.
TARGETS: dict[str, tuple[str, float]] = {
    "spawn": (">=", 0.9),
    "bytes": ("<=", 1.15),
    "casts": (">=", 0.5),
    "calls": (">=", 0.7),
    "lookups": (">=", 0.5),
    "fanout": (">=", 0.5),
}
# Targets that also hold under uvloop (against the bare uvloop baseline).
UVLOOP_TARGETS = {"calls"}


def now() -> float:
    return time.perf_counter()


# --------------------------------------------------------------------------------------
# The bare-asyncio baseline: a task per actor, deque + Future mailbox, no framework.
# --------------------------------------------------------------------------------------


class Box:
    """A baseline mailbox: a deque (made on first delivery) and the receiver's Future."""

    __slots__ = ("fut", "q")

    def __init__(self) -> None:
        self.q: deque[Any] | None = None
        self.fut: asyncio.Future[None] | None = None


def bl_send(box: Box, message: Any) -> None:
    q = box.q
    if q is None:
        q = box.q = deque()
    q.append(message)
    fut = box.fut
    if fut is not None:
        box.fut = None
        if not fut.done():
            fut.set_result(None)


async def bl_recv(box: Box) -> Any:
    q = box.q
    if q:
        return q.popleft()
    create_future = asyncio.get_running_loop().create_future
    while True:
        fut = box.fut = create_future()
        await fut
        q = box.q
        if q:
            return q.popleft()


async def bl_idle(box: Box) -> None:
    await bl_recv(box)


def tune_gc(threshold: int | None) -> None:
    if threshold is not None:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])


def rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


async def timed_round(run: Any, warmup: Any) -> float:
    """Warm up once, then one timed round (its seconds); the parent pairs the rounds."""
    await warmup()
    return float(await run())


# -- W1: spawn idle actors ---------------------------------------------------------------


async def w1_measure(spawn_many: Any, n: int, trace: bool) -> dict[str, Any]:
    """Shared by both sides: warm up, then time ``n`` spawns until all of them wait."""
    import tracemalloc

    spawn_many(W1_WARMUP)
    await asyncio.sleep(0)
    gc.collect()
    if trace:
        tracemalloc.start()
    traced0 = tracemalloc.get_traced_memory()[0] if trace else 0
    rss0 = rss()
    t0 = now()
    spawn_many(n)
    await asyncio.sleep(0)  # every new task runs up to its receive and parks
    elapsed = now() - t0
    gc.collect()
    rss1 = rss()
    traced = (tracemalloc.get_traced_memory()[0] - traced0) if trace else 0
    return {"seconds": elapsed, "rss_delta": rss1 - rss0, "traced": traced}


async def w1_baseline(p: dict[str, Any]) -> dict[str, Any]:
    tune_gc(p["gc"])
    create_task = asyncio.get_running_loop().create_task
    boxes: list[Box] = []

    def spawn_many(count: int) -> None:
        append = boxes.append
        for _ in range(count):
            box = Box()
            append(box)
            create_task(bl_idle(box))

    result = await w1_measure(spawn_many, p["n"], p["trace"])
    assert sum(1 for b in boxes if b.fut is not None) == len(boxes)
    return result


async def w1_beamish(p: dict[str, Any]) -> dict[str, Any]:
    import beamish

    receive = beamish.receive
    pids: list[Any] = []

    async def idle() -> None:
        await receive()

    def spawn_many(count: int) -> None:
        spawn = beamish.spawn
        append = pids.append
        for _ in range(count):
            append(spawn(idle))

    result = await w1_measure(spawn_many, p["n"], p["trace"])
    assert all(beamish.process_info(pid).status == "waiting" for pid in pids[-100:])
    return result


# -- W2: one sender, one receiver ---------------------------------------------------------


async def w2_baseline(p: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()

    async def sink(box: Box, n: int, done: asyncio.Future[None]) -> None:
        for _ in range(n):
            await bl_recv(box)
        done.set_result(None)

    async def once(n: int) -> float:
        box, done = Box(), loop.create_future()
        task = loop.create_task(sink(box, n, done))
        await asyncio.sleep(0)
        send = bl_send
        t0 = now()
        for i in range(n):
            send(box, i)
        await done
        elapsed = now() - t0
        await task
        return elapsed

    n = p["n"]
    return {"seconds": await timed_round(lambda: once(n), lambda: once(n // 10))}


async def w2_beamish(p: dict[str, Any]) -> dict[str, Any]:
    import beamish

    class CastSink(beamish.Actor):
        def init(self, n: int, notify: Any) -> None:
            self.left = n
            self.notify = notify

        def handle_cast(self, request: Any) -> None:
            self.left -= 1
            if not self.left:
                beamish.send(self.notify, "done")

    async def sink(n: int, notify: Any) -> None:
        receive = beamish.receive
        for _ in range(n):
            await receive()
        beamish.send(notify, "done")

    async def once_cast(n: int) -> float:
        pid = await CastSink.start(n, beamish.self())
        cast = beamish.cast
        t0 = now()
        for i in range(n):
            cast(pid, i)
        await beamish.receive()
        elapsed = now() - t0
        await beamish.stop(pid)
        return elapsed

    async def once_send(n: int) -> float:
        pid = beamish.spawn(sink, n, beamish.self())
        await asyncio.sleep(0)
        send = beamish.send
        t0 = now()
        for i in range(n):
            send(pid, i)
        await beamish.receive()
        return now() - t0

    once = once_cast if p["variant"] == "cast" else once_send
    n = p["n"]
    return {"seconds": await timed_round(lambda: once(n), lambda: once(n // 10))}


# -- W3: sequential calls -----------------------------------------------------------------


async def w3_baseline(p: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()

    async def server(box: Box) -> None:
        while True:
            request, fut = await bl_recv(box)
            if not fut.done():
                fut.set_result(request)

    async def once(n: int) -> float:
        box = Box()
        task = loop.create_task(server(box))
        await asyncio.sleep(0)
        create_future, send = loop.create_future, bl_send
        t0 = now()
        for i in range(n):
            fut = create_future()
            send(box, (i, fut))
            await fut
        elapsed = now() - t0
        task.cancel()
        return elapsed

    n = p["n"]
    return {"seconds": await timed_round(lambda: once(n), lambda: once(n // 10))}


async def w3_beamish(p: dict[str, Any]) -> dict[str, Any]:
    import beamish

    class Echo(beamish.Actor):
        def handle_call(self, request: Any, caller: Any) -> Any:
            return request

    async def once(n: int) -> float:
        pid = await Echo.start()
        call = beamish.call
        t0 = now()
        for i in range(n):
            await call(pid, i)
        elapsed = now() - t0
        await beamish.stop(pid)
        return elapsed

    n = p["n"]
    return {"seconds": await timed_round(lambda: once(n), lambda: once(n // 10))}


# -- W5: name lookups ---------------------------------------------------------------------


def w5_keys(p: dict[str, Any]) -> list[str]:
    return [f"name-{i}" for i in range(p["names"])]


async def w5_lookups(lookup: Any, keys: list[str], total: int) -> dict[str, Any]:
    rounds = max(1, total // len(keys))

    async def once(r: int) -> float:
        t0 = now()
        for _ in range(r):
            for key in keys:
                lookup(key)
        return now() - t0

    seconds = await timed_round(lambda: once(rounds), lambda: once(1))
    return {"seconds": seconds, "ops": rounds * len(keys)}


async def w5_baseline(p: dict[str, Any]) -> dict[str, Any]:
    keys = w5_keys(p)
    names = {key: Box() for key in keys}
    return await w5_lookups(names.get, keys, p["lookups"])


async def w5_beamish(p: dict[str, Any]) -> dict[str, Any]:
    import beamish

    keys = w5_keys(p)

    async def idle() -> None:
        await beamish.receive()

    for key in keys:
        beamish.register(key, beamish.spawn(idle))
    await asyncio.sleep(0)
    assert beamish.whereis(keys[-1]) is not None
    # "function": beamish.whereis, which finds the node through the current process;
    # "node": Node.whereis, the API for code that holds the node (an ASGI app, a library).
    lookup = beamish.this_node().whereis if p.get("variant") == "node" else beamish.whereis
    return await w5_lookups(lookup, keys, p["lookups"])


# -- W6: fan-out to subscribers -----------------------------------------------------------


async def w6_baseline(p: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()

    async def subscriber(box: Box, count: int, state: list[Any]) -> None:
        for _ in range(count):
            await bl_recv(box)
        state[0] -= 1
        if not state[0]:
            state[1].set_result(None)

    async def once(subscribers: int, count: int) -> float:
        state = [subscribers, loop.create_future()]
        members = [Box() for _ in range(subscribers)]
        tasks = [loop.create_task(subscriber(box, count, state)) for box in members]
        await asyncio.sleep(0)
        send = bl_send
        t0 = now()
        for j in range(count):
            for box in members:
                send(box, j)
            await asyncio.sleep(0)
        await state[1]
        elapsed = now() - t0
        await asyncio.gather(*tasks)
        return elapsed

    s, m = p["subscribers"], p["messages"]
    return {"seconds": await timed_round(lambda: once(s, m), lambda: once(s, max(1, m // 10)))}


async def w6_beamish(p: dict[str, Any]) -> dict[str, Any]:
    import beamish

    async def subscriber(count: int, state: list[Any], notify: Any) -> None:
        receive = beamish.receive
        for _ in range(count):
            await receive()
        state[0] -= 1
        if not state[0]:
            beamish.send(notify, "done")

    async def once(subscribers: int, count: int) -> float:
        state = [subscribers]
        me, spawn = beamish.self(), beamish.spawn
        members = [spawn(subscriber, count, state, me) for _ in range(subscribers)]
        await asyncio.sleep(0)
        send = beamish.send
        t0 = now()
        for j in range(count):
            for pid in members:
                send(pid, j)
            await asyncio.sleep(0)
        await beamish.receive()
        return now() - t0

    s, m = p["subscribers"], p["messages"]
    return {"seconds": await timed_round(lambda: once(s, m), lambda: once(s, max(1, m // 10)))}


CHILD_FNS = {
    ("W1", "baseline"): w1_baseline,
    ("W1", "beamish"): w1_beamish,
    ("W2", "baseline"): w2_baseline,
    ("W2", "beamish"): w2_beamish,
    ("W3", "baseline"): w3_baseline,
    ("W3", "beamish"): w3_beamish,
    ("W5", "baseline"): w5_baseline,
    ("W5", "beamish"): w5_beamish,
    ("W6", "baseline"): w6_baseline,
    ("W6", "beamish"): w6_beamish,
}


def child(spec: dict[str, Any], fns: dict[tuple[str, str], Any] = CHILD_FNS) -> None:
    """Run one measurement and print it as JSON; exit at once (skip node shutdown)."""
    fn = fns[spec["wl"], spec["impl"]]

    async def main() -> None:
        result = await fn(spec)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)  # tearing down 100,000 processes is not what we measure

    if spec["impl"] == "beamish":
        import beamish

        config = {"gc_threshold": spec["gc"]} if spec.get("gc") is not None else {}
        beamish.run(main, backend=spec["loop"], **config)
    elif spec["loop"] == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())
    raise SystemExit("the measurement returned without reporting")


# --------------------------------------------------------------------------------------
# The parent: schedule children, pair figures, print lines.
# --------------------------------------------------------------------------------------


def run_child(spec: dict[str, Any], script: str = __file__) -> dict[str, Any]:
    """Run one measurement of ``script`` in a fresh interpreter; its JSON result."""
    proc = subprocess.run(
        [sys.executable, str(Path(script).resolve()), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {spec} failed with exit code {proc.returncode}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}/s"


def fmt_bytes(value: float) -> str:
    return f"{value:,.0f} B"


def verdict(key: str | None, loop: str, spread: Spread) -> str:
    if key is None:
        return "(no target: tuned GC, not the default)"
    if loop != "asyncio" and key not in UVLOOP_TARGETS:
        return "(target on asyncio only)"
    return meets(spread, *TARGETS[key])


class Report:
    def __init__(self, json_path: str | None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.json_path = json_path

    def line(self, label: str, loop: str, spread: Spread, fmt: Any, key: str | None) -> None:
        """One figure: the median of each side, the median pair ratio and its spread."""
        text = (
            f"{label:<56} {loop:<7}  beamish {fmt(spread.ours):>13}  "
            f"baseline {fmt(spread.base):>13}  {spread.text()}  {verdict(key, loop, spread)}"
        )
        print(text, flush=True)
        row = {"label": label, "loop": loop, **spread.as_dict()}
        self.rows.append({**row, "verdict": verdict(key, loop, spread)})

    def save(self, sizes: dict[str, dict[str, int]], seconds: float) -> None:
        if self.json_path:
            data = {"sizes": sizes, "seconds": seconds, "machine": machine(), "rows": self.rows}
            Path(self.json_path).write_text(json.dumps(data, indent=2) + "\n")


def rounds(
    specs: dict[str, dict[str, Any]], pairs: int, script: str = __file__
) -> dict[str, list[dict[str, Any]]]:
    """Each spec's child results (a fresh ``script --child`` each), ``pairs`` of each, the
    children in interleaved order."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in specs}

    def side(name: str) -> Any:
        def run() -> float:
            results[name].append(run_child(specs[name], script))
            return 0.0

        return run

    interleave({name: side(name) for name in specs}, pairs)
    return results


def rates(results: list[dict[str, Any]], ops: int | None = None) -> list[float]:
    """Operations per second of each result (``ops``, or the result's own ``ops``)."""
    return [(ops or r["ops"]) / r["seconds"] for r in results]


def run_w1(report: Report, loop: str, sizes: dict[str, int], pairs: int) -> None:
    n = sizes["n"]
    for gc_setting in (None, GC_TUNED):
        spec = {"wl": "W1", "loop": loop, "n": n, "gc": gc_setting, "trace": False}
        runs = rounds(
            {impl: {**spec, "impl": impl} for impl in ("baseline", "beamish")}, pairs
        )  # a fresh interpreter per run, the two sides in alternation
        rate = Spread.of(rates(runs["beamish"], n), rates(runs["baseline"], n))
        per = Spread.of(
            *([r["rss_delta"] / n for r in runs[impl]] for impl in ("beamish", "baseline"))
        )
        if gc_setting is None:
            report.line("W1 spawn idle actors", loop, rate, fmt_rate, "spawn")
            report.line("W1 bytes per idle actor (RSS delta / N)", loop, per, fmt_bytes, "bytes")
            traced = {
                impl: [run_child({**spec, "impl": impl, "trace": True})["traced"] / n]
                for impl in ("baseline", "beamish")
            }
            report.line(
                "W1 bytes per idle actor (tracemalloc / N, 1 run)",
                loop,
                Spread.of(traced["beamish"], traced["baseline"]),
                fmt_bytes,
                "bytes",
            )
        else:
            tag = f"[TUNED gc_threshold={gc_setting:,}]"
            report.line(f"W1 spawn idle actors {tag}", loop, rate, fmt_rate, None)
            report.line(f"W1 bytes/idle actor (RSS) {tag}", loop, per, fmt_bytes, None)


def run_variants(
    report: Report,
    loop: str,
    wl: str,
    params: dict[str, Any],
    variants: dict[str | None, str],
    key: str,
    pairs: int,
    ops: int | None = None,
) -> None:
    """The baseline and each beamish variant of ``wl`` in interleaved rounds; a line per
    variant, its ratios taken against the baseline round of the same pair."""
    spec = {"wl": wl, "loop": loop, "gc": None, **params}
    specs = {"baseline": {**spec, "impl": "baseline"}}
    for variant in variants:
        specs[str(variant)] = {**spec, "impl": "beamish", "variant": variant}
    runs = rounds(specs, pairs)
    base = rates(runs["baseline"], ops)
    for variant, label in variants.items():
        report.line(label, loop, Spread.of(rates(runs[str(variant)], ops), base), fmt_rate, key)


def run_loop(
    report: Report, loop: str, only: list[str], sizes: dict[str, dict[str, int]], pairs: int
) -> None:
    if "W1" in only:
        run_w1(report, loop, sizes["W1"], pairs)
    if "W2" in only:
        variants = {
            "cast": "W2 casts (Actor.handle_cast)",
            "send": "W2 sends (raw send to a receive loop)",
        }
        n = sizes["W2"]["n"]
        run_variants(report, loop, "W2", sizes["W2"], variants, "casts", pairs, n)
    if "W3" in only:
        n = sizes["W3"]["n"]
        variants = {None: "W3 calls (sequential round trips)"}
        run_variants(report, loop, "W3", sizes["W3"], variants, "calls", pairs, n)
    if "W5" in only:
        variants = {
            "function": "W5 lookups beamish.whereis (vs dict.get)",
            "node": "W5 lookups node.whereis (vs dict.get)",
        }
        run_variants(report, loop, "W5", sizes["W5"], variants, "lookups", pairs)
    if "W6" in only:
        s = sizes["W6"]
        total = s["subscribers"] * s["messages"]
        run_variants(report, loop, "W6", s, {None: W6_LABEL}, "fanout", pairs, total)


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes (CI smoke)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "all"), default="all")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="e.g. W1,W3")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--src", help="directory holding the beamish package to measure")
    parser.add_argument(
        "--pairs", type=int, help=f"pairs per figure ({PAIRS}; quick {QUICK_PAIRS})"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.src:
        os.environ["BEAMISH_BENCH_SRC"] = str(Path(args.src).resolve())
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {','.join(WORKLOADS)}")
    scale = 10 if args.quick else 1
    sizes = {wl: {k: max(1, v // scale) for k, v in s.items()} for wl, s in FULL_SIZES.items()}
    if args.quick:  # 10x fewer W6 deliveries: fewer subscribers, same messages each
        sizes["W6"]["messages"] = FULL_SIZES["W6"]["messages"]
    loops = ["asyncio", "uvloop"] if args.loop == "all" else [args.loop]
    if "uvloop" in loops:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("uvloop is not installed: skipping it", flush=True)
            loops.remove("uvloop")
    pairs = args.pairs or (QUICK_PAIRS if args.quick else PAIRS)
    info = machine()
    print(
        f"beamish kernel benchmarks ({'quick' if args.quick else 'full'}): "
        f"{info['cpu']}, {info['nproc']} cpus, Python {info['python']}, "
        f"Linux {info['kernel']}; {pairs} interleaved pairs per figure, sizes {sizes}; "
        f"beamish from {os.environ.get('BEAMISH_BENCH_SRC', ROOT)}",
        flush=True,
    )
    report = Report(args.json)
    start = now()
    for loop in loops:
        run_loop(report, loop, only, sizes, pairs)
    elapsed = now() - start
    print(f"done in {elapsed:.0f}s", flush=True)
    report.save(sizes, elapsed)


if __name__ == "__main__":
    main()
