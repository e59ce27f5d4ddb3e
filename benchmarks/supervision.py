"""Supervision benchmarks: beamish supervisors next to a bare-asyncio baseline.

    python benchmarks/supervision.py [--quick] [--loop asyncio|uvloop|all] [--only W4,DS]

W4 restarts one crashing child of a ``one_for_one`` Supervisor again and again; DS starts
idle children under a DynamicSupervisor and prints them next to the W1 spawn figures of
``benchmarks/kernel.py`` (whose W1 code this script imports). As in ``kernel.py``, every
round is measured in a fresh child interpreter (``--child``) after a warm-up, beamish and
baseline rounds in interleaved pairs; a figure is the median of the per-pair ratios.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# benchmarks/kernel.py: the bare-asyncio mailbox, W1 and the reporting helpers.
import kernel  # noqa: E402
from kernel import (  # noqa: E402
    PAIRS,
    QUICK_PAIRS,
    Box,
    Report,
    bl_recv,
    bl_send,
    fmt_bytes,
    fmt_rate,
    now,
    rates,
    timed_round,
)
from pairs import Spread, meets  # noqa: E402

ROOT = kernel.ROOT
FULL_SIZES: dict[str, dict[str, int]] = {
    "W4": {"n": 10_000},
    "DS": {"n": 100_000},
}
WORKLOADS = tuple(FULL_SIZES)
W4_TARGET = 0.5  # beamish restarts/s >= 0.5x the bare-asyncio baseline, on asyncio
# W4 restart intensity. The bounded window (the target line): max_seconds so short that
# the sliding window of restart times never holds more than a few entries. The wide
# window (informative): every restart of the run stays in the window.
W4_BOUNDED = {"max_restarts": 1_000_000, "max_seconds": 0.001}
W4_WIDE = {"max_restarts": 1_000_000, "max_seconds": 3600.0}
# For orientation only: figures quoted in the issue, not measured by this script.
W4_REFERENCES = (
    ("bare asyncio (cancel a task, create one)", 96_000),
    ("Erlang/OTP 25 supervisor", 16_000),
    ("best existing Python actor library", 23_000),
)


def dynamic_supervisor_available() -> str | None:
    """None if ``DynamicSupervisor`` and ``start_child`` import, else why not."""
    try:
        from beamish.supervision import DynamicSupervisor, start_child  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


# -- W4: restart a crashing child -------------------------------------------------------


async def w4_baseline(p: dict[str, Any]) -> dict[str, Any]:
    """A task per child; its done-callback (the "supervisor") creates the next one, which
    announces itself in the driver's mailbox; the driver cancels it and waits again."""
    loop = asyncio.get_running_loop()
    create_task = loop.create_task
    inbox = Box()
    current: list[asyncio.Task[None]] = []

    async def child(owner: Box) -> None:
        current[0] = asyncio.current_task()  # type: ignore[assignment]
        bl_send(owner, "up")
        await loop.create_future()  # idle until cancelled

    def restart(task: asyncio.Task[None]) -> None:
        if supervising[0]:
            create_task(child(inbox)).add_done_callback(restart)

    supervising = [True]
    current.append(create_task(child(inbox)))
    current[0].add_done_callback(restart)
    await bl_recv(inbox)

    async def once(n: int) -> float:
        t0 = now()
        for _ in range(n):
            current[0].cancel()
            await bl_recv(inbox)
        return now() - t0

    n = p["n"]
    seconds = await timed_round(lambda: once(n), lambda: once(n // 10))
    supervising[0] = False
    return {"seconds": seconds}


async def w4_beamish(p: dict[str, Any]) -> dict[str, Any]:
    import beamish
    from beamish.supervision import Supervisor, which_children

    class Victim(beamish.Actor):
        def init(self, owner: Any) -> None:
            beamish.send(owner, ("up", self.pid))

    me = beamish.self()
    spec = {"id": "victim", "start": (functools.partial(Victim.start_link, name="victim"), (me,))}
    sup = await Supervisor.start_link([spec], strategy="one_for_one", **p["intensity"])
    receive, kill = beamish.receive, beamish.exit
    _, pid = await receive()

    async def once(n: int) -> float:
        nonlocal pid
        t0 = now()
        for _ in range(n):
            kill(pid, "kill")
            _, pid = await receive()  # the restarted child's init announced itself
        return now() - t0

    n = p["n"]
    seconds = await timed_round(lambda: once(n), lambda: once(n // 10))
    [child] = await which_children(sup)
    assert child.pid == pid == beamish.whereis("victim"), (child, pid)
    assert beamish.is_alive(sup)
    return {"seconds": seconds}


# -- DS: DynamicSupervisor children ------------------------------------------------------


async def ds_beamish(p: dict[str, Any]) -> dict[str, Any]:
    """``n`` idle Actor children: under a DynamicSupervisor (``start_child``, a call to the
    supervisor per child), or, variant "actor", ``Actor.start_link`` from the driver."""
    import beamish

    class Worker(beamish.Actor):
        pass

    if p["variant"] == "actor":

        async def start_many(count: int) -> None:
            start = Worker.start_link
            for _ in range(count):
                await start()

    else:
        from beamish.supervision import DynamicSupervisor, start_child

        sup = await DynamicSupervisor.start_link(max_children=None)

        async def start_many(count: int) -> None:
            for _ in range(count):
                await start_child(sup, (Worker,))

    n = p["n"]
    await start_many(kernel.W1_WARMUP)
    gc.collect()
    rss0 = kernel.rss()
    t0 = now()
    await start_many(n)
    elapsed = now() - t0
    gc.collect()
    rss1 = kernel.rss()
    return {"seconds": elapsed, "rss_delta": rss1 - rss0}


CHILD_FNS = {
    ("W4", "baseline"): w4_baseline,
    ("W4", "beamish"): w4_beamish,
    ("DS", "beamish"): ds_beamish,
    ("W1", "baseline"): kernel.w1_baseline,
    ("W1", "beamish"): kernel.w1_beamish,
}


def child(spec: dict[str, Any]) -> None:
    kernel.child(spec, CHILD_FNS)


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    return kernel.run_child(spec, script=__file__)


def rounds(specs: dict[str, dict[str, Any]], pairs: int) -> dict[str, list[dict[str, Any]]]:
    return kernel.rounds(specs, pairs, script=__file__)


def run_w4(report: Report, loop: str, n: int, pairs: int) -> None:
    spec = {"wl": "W4", "loop": loop, "n": n}
    runs = rounds(
        {
            "baseline": {**spec, "impl": "baseline"},
            "bounded": {**spec, "impl": "beamish", "intensity": W4_BOUNDED},
            "wide": {**spec, "impl": "beamish", "intensity": W4_WIDE},
        },
        pairs,
    )
    base = rates(runs["baseline"], n)
    for key, label in (
        ("bounded", "W4 one_for_one restarts (max_seconds=0.001)"),
        ("wide", "W4 one_for_one restarts (all in window, 1h)"),
    ):
        spread = Spread.of(rates(runs[key], n), base)
        if key == "wide":
            note = "(no target: window of every restart)"
        elif loop != "asyncio":
            note = "(target on asyncio only)"
        else:
            note = meets(spread, ">=", W4_TARGET)
        report.emit(label, loop, spread, fmt_rate, note)
    for name, rate in W4_REFERENCES:
        print(f"  reference (figure from the issue, not measured here): {name} {rate:,}/s")


def run_ds(report: Report, loop: str, n: int, pairs: int) -> None:
    """W1 (kernel.py) spawns and baseline, then Actor.start_link and DynamicSupervisor
    children, each of the three beamish figures against the bare baseline of its pair."""
    w1 = {"wl": "W1", "loop": loop, "n": n, "gc": None, "trace": False}
    specs = {"baseline": {**w1, "impl": "baseline"}, "beamish": {**w1, "impl": "beamish"}}
    unavailable = dynamic_supervisor_available()
    for variant in ["actor"] if unavailable else ["actor", "dynamic"]:
        specs[variant] = {"wl": "DS", "impl": "beamish", "loop": loop, "n": n, "variant": variant}
    runs = rounds(specs, pairs)
    rows = [
        ("beamish", "W1 beamish.spawn idle processes"),
        ("actor", "DS Actor.start_link idle actors (no supervisor)"),
        ("dynamic", "DS DynamicSupervisor.start_child idle actors"),
    ]
    note = "(no target; baseline = W1 bare asyncio)"
    base_bytes = [r["rss_delta"] / n for r in runs["baseline"]]
    for key, label in rows:
        if key not in runs:
            print(
                f"{label:<56} {loop:<7}  not available: DynamicSupervisor does not import "
                f"({unavailable})",
                flush=True,
            )
            continue
        rate = Spread.of(rates(runs[key], n), rates(runs["baseline"], n))
        per = Spread.of([r["rss_delta"] / n for r in runs[key]], base_bytes)
        report.emit(f"{label} /s", loop, rate, fmt_rate, note)
        report.emit(f"{label} B each", loop, per, fmt_bytes, note)


class SupReport(Report):
    def emit(self, label: str, loop: str, spread: Spread, fmt: Any, note: str) -> None:
        print(
            f"{label:<56} {loop:<7}  beamish {fmt(spread.ours):>13}  "
            f"baseline {fmt(spread.base):>13}  {spread.text()}  {note}",
            flush=True,
        )
        self.rows.append({"label": label, "loop": loop, **spread.as_dict(), "verdict": note})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes (CI smoke)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "all"), default="all")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="e.g. W4")
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
    loops = ["asyncio", "uvloop"] if args.loop == "all" else [args.loop]
    if "uvloop" in loops:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("uvloop is not installed: skipping it", flush=True)
            loops.remove("uvloop")
    pairs = args.pairs or (QUICK_PAIRS if args.quick else PAIRS)
    info = kernel.machine()
    print(
        f"beamish supervision benchmarks ({'quick' if args.quick else 'full'}): "
        f"{info['cpu']}, {info['nproc']} cpus, Python {info['python']}, "
        f"Linux {info['kernel']}; {pairs} interleaved pairs per figure, sizes {sizes}; "
        f"beamish from {os.environ.get('BEAMISH_BENCH_SRC', ROOT)}",
        flush=True,
    )
    report = SupReport(args.json)
    start = now()
    for loop in loops:
        if "W4" in only:
            run_w4(report, loop, sizes["W4"]["n"], pairs)
        if "DS" in only:
            run_ds(report, loop, sizes["DS"]["n"], pairs)
    elapsed = now() - start
    print(f"done in {elapsed:.0f}s", flush=True)
    report.save(sizes, elapsed)


if __name__ == "__main__":
    main()
