"""Supervision benchmarks: beamish supervisors next to a bare-asyncio baseline.

    python benchmarks/supervision.py [--quick] [--loop asyncio|uvloop|all] [--only W4,DS]

W4 restarts one crashing child of a ``one_for_one`` Supervisor again and again; DS starts
idle children under a DynamicSupervisor and prints them next to the W1 spawn figures of
``benchmarks/kernel.py`` (whose W1 code this script imports). As in ``kernel.py``, every
figure is measured in a fresh child interpreter (``--child``), best of 3 after a warm-up.
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
    REPS,
    Box,
    Report,
    best_of,
    bl_recv,
    bl_send,
    fmt_bytes,
    fmt_rate,
    now,
)

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
    seconds = await best_of(lambda: once(n), lambda: once(n // 10))
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
    seconds = await best_of(lambda: once(n), lambda: once(n // 10))
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


def w4_verdict(loop: str, ratio: float) -> str:
    if loop != "asyncio":
        return "(target on asyncio only)"
    return f"(target >= {W4_TARGET:g}x) {'ok' if ratio >= W4_TARGET else 'MISS'}"


def run_w4(report: Report, loop: str, n: int) -> None:
    base = run_child({"wl": "W4", "impl": "baseline", "loop": loop, "n": n})
    base_rate = n / base["seconds"]
    for intensity, label, target in (
        (W4_BOUNDED, "W4 one_for_one restarts (max_seconds=0.001)", True),
        (W4_WIDE, "W4 one_for_one restarts (all in window, 1h)", False),
    ):
        spec = {"wl": "W4", "impl": "beamish", "loop": loop, "n": n, "intensity": intensity}
        ours = run_child(spec)
        rate = n / ours["seconds"]
        ratio = rate / base_rate
        note = w4_verdict(loop, ratio) if target else "(no target: window of every restart)"
        report.emit(label, loop, rate, base_rate, fmt_rate, note)
    for name, rate in W4_REFERENCES:
        print(f"  reference (figure from the issue, not measured here): {name} {rate:,}/s")


def run_ds(report: Report, loop: str, n: int) -> None:
    """W1 (kernel.py) spawns and baseline, then Actor.start_link and DynamicSupervisor
    children, each of the three beamish figures against the bare baseline of this run."""
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "beamish": []}
    for _ in range(REPS):
        for impl in ("baseline", "beamish"):
            spec = {"wl": "W1", "impl": impl, "loop": loop, "n": n, "gc": None, "trace": False}
            runs[impl].append(run_child(spec))
    unavailable = dynamic_supervisor_available()
    variants = ["actor"] if unavailable else ["actor", "dynamic"]
    for variant in variants:
        runs[variant] = [
            run_child({"wl": "DS", "impl": "beamish", "loop": loop, "n": n, "variant": variant})
            for _ in range(REPS)
        ]
    rate = {k: n / min(r["seconds"] for r in rs) for k, rs in runs.items()}
    per = {k: min(r["rss_delta"] for r in rs) / n for k, rs in runs.items()}
    rows = [
        ("beamish", "W1 beamish.spawn idle processes"),
        ("actor", "DS Actor.start_link idle actors (no supervisor)"),
        ("dynamic", "DS DynamicSupervisor.start_child idle actors"),
    ]
    for key, label in rows:
        if key not in rate:
            print(
                f"{label:<56} {loop:<7}  not available: DynamicSupervisor does not import "
                f"({unavailable})",
                flush=True,
            )
            continue
        note = "(no target; baseline = W1 bare asyncio)"
        report.emit(f"{label} /s", loop, rate[key], rate["baseline"], fmt_rate, note)
        report.emit(f"{label} B each", loop, per[key], per["baseline"], fmt_bytes, note)


class SupReport(Report):
    def emit(self, label: str, loop: str, ours: float, base: float, fmt: Any, note: str) -> None:
        ratio = ours / base if base else float("nan")
        print(
            f"{label:<56} {loop:<7}  beamish {fmt(ours):>13}  baseline {fmt(base):>13}  "
            f"ratio {ratio:.2f}x  {note}",
            flush=True,
        )
        self.rows.append(
            {
                "label": label,
                "loop": loop,
                "beamish": ours,
                "baseline": base,
                "ratio": ratio,
                "verdict": note,
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes (CI smoke)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "all"), default="all")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="e.g. W4")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--src", help="directory holding the beamish package to measure")
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
    info = kernel.machine()
    print(
        f"beamish supervision benchmarks ({'quick' if args.quick else 'full'}): "
        f"{info['cpu']}, {info['nproc']} cpus, Python {info['python']}, "
        f"Linux {info['kernel']}; best of {REPS}, sizes {sizes}; "
        f"beamish from {os.environ.get('BEAMISH_BENCH_SRC', ROOT)}",
        flush=True,
    )
    report = SupReport(args.json)
    start = now()
    for loop in loops:
        if "W4" in only:
            run_w4(report, loop, sizes["W4"]["n"])
        if "DS" in only:
            run_ds(report, loop, sizes["DS"]["n"])
    elapsed = now() - start
    print(f"done in {elapsed:.0f}s", flush=True)
    report.save(sizes, elapsed)


if __name__ == "__main__":
    main()
