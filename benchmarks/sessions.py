"""Session benchmarks: beamish.sessions against the same work without the sessions layer.

    python benchmarks/sessions.py [--quick] [--pairs N] [--only S1,S2,S3,S4,S5]

S1 starts: ``sessions.start(id)`` of N fresh ids (each a KeyValueSession under the
   subtree's DynamicSupervisor, registered by id) against ``start_child`` of a plain Actor
   registered by the same ids through a via name on a DynamicSupervisor (the reference's
   architecture, without limits, activity, telemetry). Target: >= 20,000 starts/s.
S2 bytes per idle session at N sessions (default 100,000): the RSS growth of the
   interpreter per session, against the plain Actor of S1. Target: <= 5 KB.
S3 find: ``sessions.find(id)`` against the registry's ``whereis`` it rests on.
   Target: >= 1,000,000/s.
S4 calls by id: ``sessions.call(id, ...)`` against ``beamish.call(pid, ...)`` to the same
   session. Target: >= 0.8x.
S5 cluster: start on node A, then the first call from node B (three nodes in one
   interpreter over the in-memory transport): latency p50/p99. Needs the registry's
   cluster scope.

Rounds run in interleaved pairs in one interpreter (``pairs.py``); a figure is the median
of the per-pair ratios, with the lowest and highest.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from pairs import Spread, interleave, meets  # noqa: E402

import beamish  # noqa: E402
from beamish import registry, sessions  # noqa: E402
from beamish.registry import Registry  # noqa: E402
from beamish.supervision import DynamicSupervisor, start_child  # noqa: E402

FULL = {"S1": 20_000, "S2": 100_000, "S3": 500_000, "S4": 20_000, "S5": 200}
QUICK = {"S1": 2_000, "S2": 5_000, "S3": 50_000, "S4": 2_000, "S5": 20}

_names = itertools.count()


class Plain(beamish.Actor):
    """The baseline's process: what a session is without the sessions layer."""

    def init(self) -> None:
        beamish.trap_exits(True)
        self.state: dict[str, Any] = {}

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        return request


def line(label: str, spread: Spread, unit: str, target: str) -> str:
    return (
        f"{label:36s} beamish {spread.ours:>12,.0f}{unit}  baseline {spread.base:>12,.0f}{unit}"
        f"  {spread.text()}  {target}"
    )


def absolute(value: float, op: str, bound: float, unit: str) -> str:
    ok = value >= bound if op == ">=" else value <= bound
    return f"(target {op} {bound:,.0f}{unit}: {'ok' if ok else 'MISS'})"


async def fresh_sessions() -> str:
    name = f"bench{next(_names)}"
    sup = await sessions.Sessions.start_link(
        name=name, max_sessions=None, rate_limit=None, ttl=3600
    )
    beamish.unlink(sup)
    return name


async def fresh_baseline() -> tuple[str, beamish.Pid]:
    name = f"plain{next(_names)}"
    await Registry.start(name=name, keys="unique")
    sup = await DynamicSupervisor.start()
    return name, sup


def rss() -> int:
    gc.collect()
    return int(psutil.Process(os.getpid()).memory_info().rss)


async def local(sizes: dict[str, int], pairs: int, only: set[str]) -> None:
    if "S1" in only:
        n = sizes["S1"]
        ids = [f"s{i}" for i in range(n)]
        ours_names = [await fresh_sessions() for _ in range(pairs)]
        bases = [await fresh_baseline() for _ in range(pairs)]
        timings: dict[str, list[float]] = {"ours": [], "base": []}

        async def run_ours() -> None:
            name = ours_names.pop()
            start = time.perf_counter()
            for session_id in ids:
                await sessions.start(session_id, sessions=name)
            timings["ours"].append(n / (time.perf_counter() - start))

        async def run_base() -> None:
            reg, sup = bases.pop()
            start = time.perf_counter()
            for session_id in ids:
                name = registry.via(reg, session_id, "m")
                spec = {
                    "id": session_id,
                    "start": (functools.partial(Plain.start_link, name=name), ()),
                    "restart": "temporary",
                }
                await start_child(sup, spec)
            timings["base"].append(n / (time.perf_counter() - start))

        order = [run_ours, run_base]
        for _ in range(pairs):
            for side in order:
                await side()
            order.reverse()
        spread = Spread.of(timings["ours"], timings["base"])
        print(line("S1 starts (vs DynamicSupervisor+via)", spread, "/s",
                   absolute(spread.ours, ">=", 20_000, "/s")))  # fmt: skip

    if "S2" in only:
        n = sizes["S2"]
        name = await fresh_sessions()
        before = rss()
        for i in range(n):
            await sessions.start(f"m{i}", sessions=name)
        ours = (rss() - before) / n
        reg, sup = await fresh_baseline()
        before = rss()
        for i in range(n):
            spec = {
                "id": i,
                "start": (functools.partial(Plain.start_link, name=registry.via(reg, f"m{i}")), ()),
                "restart": "temporary",
            }
            await start_child(sup, spec)
        base = (rss() - before) / n
        spread = Spread.of([ours], [base])
        print(
            f"S2 bytes per idle session at {n:,}     beamish {ours:>10,.0f} B    baseline "
            f"{base:>10,.0f} B  {spread.text()}  {absolute(ours, '<=', 5_000, ' B')}"
        )

    if "S3" in only or "S4" in only:
        name = await fresh_sessions()
        reg = f"{name}.registry"  # the registry a Sessions called `name` runs
        for i in range(1000):
            await sessions.start(f"f{i}", sessions=name)
        keys = [f"f{i}" for i in range(1000)]

    if "S3" in only:
        reads = sizes["S3"] // len(keys)

        def find_ours() -> float:
            find = sessions.find
            start = time.perf_counter()
            for _ in range(reads):
                for key in keys:
                    find(key, sessions=name)
            return reads * len(keys) / (time.perf_counter() - start)

        def find_base() -> float:
            whereis = registry.whereis
            start = time.perf_counter()
            for _ in range(reads):
                for key in keys:
                    whereis(reg, key)
            return reads * len(keys) / (time.perf_counter() - start)

        rounds = interleave({"ours": find_ours, "base": find_base}, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        print(line("S3 find (vs registry.whereis)", spread, "/s",
                   absolute(spread.ours, ">=", 1_000_000, "/s")))  # fmt: skip

    if "S4" in only:
        n = sizes["S4"]
        pid = sessions.find("f1", sessions=name)
        timings = {"ours": [], "base": []}

        async def by_id() -> None:
            call = sessions.call
            start = time.perf_counter()
            for _ in range(n):
                await call("f1", "ping", sessions=name)
            timings["ours"].append(n / (time.perf_counter() - start))

        async def by_pid() -> None:
            call = beamish.call
            start = time.perf_counter()
            for _ in range(n):
                await call(pid, "ping")
            timings["base"].append(n / (time.perf_counter() - start))

        order = [by_id, by_pid]
        for _ in range(pairs):
            for side in order:
                await side()
            order.reverse()
        spread = Spread.of(timings["ours"], timings["base"])
        print(line("S4 calls by id (vs by pid)", spread, "/s", meets(spread, ">=", 0.8)))


def cluster_first_call(n: int) -> None:
    """S5: three nodes in one interpreter; start on A, then call from B until it answers."""
    import contextlib

    import anyio

    from beamish import cluster
    from beamish.cluster.transports import MemoryNetwork
    from beamish.runtime import run_main

    names = ["a@bench", "b@bench", "c@bench"]

    async def body() -> list[float] | str:
        net = MemoryNetwork()
        async with contextlib.AsyncExitStack() as stack:
            nodes = {}
            for name in names:
                node = await stack.enter_async_context(beamish.runtime.start(name=name))
                the_cluster = await stack.enter_async_context(
                    cluster.start(
                        cookie="bench",
                        transport=net.transport(name),
                        listen=f"mem://{name}",
                        discovery=False,
                    )
                )
                nodes[name] = (node, the_cluster)
            for name in names[1:]:
                await nodes[names[0]][1].connect(f"mem://{name}")
            with anyio.fail_after(30):
                while any(len(c.nodes()) < 2 for _, c in nodes.values()):
                    await anyio.sleep(0.01)

            async def start_tree() -> None:
                sup = await sessions.Sessions.start_link(
                    rate_limit=None, max_sessions=None, scope="cluster"
                )
                beamish.unlink(sup)

            try:
                for name in names:
                    await run_main(nodes[name][0], start_tree)
            except Exception as exc:  # the registry's cluster scope is not there yet
                return f"skipped: {exc!r:.120}"
            latencies = []
            for i in range(n):
                session_id = f"c{i}"
                began = time.perf_counter()
                await run_main(nodes[names[0]][0], sessions.start, session_id)

                async def first_call(session_id: str = session_id) -> None:
                    while True:
                        try:
                            await sessions.call(session_id, "ping")
                            return
                        except sessions.SessionNotFound:
                            await anyio.sleep(0)

                await run_main(nodes[names[1]][0], first_call)
                latencies.append(time.perf_counter() - began)
            return latencies

    result = anyio.run(body)
    if isinstance(result, str):
        print(f"S5 cluster start on A, first call from B: {result}")
        return
    ordered = sorted(result)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(
        f"S5 cluster start on A, first call from B: p50 {p50 * 1e3:.2f} ms, p99 "
        f"{p99 * 1e3:.2f} ms ({n} sessions, in-memory transport, one interpreter)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--only", default="S1,S2,S3,S4,S5")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    pairs = 2 if args.quick else args.pairs
    only = set(args.only.split(","))
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
    beamish.run(local, sizes, pairs, only, shutdown_timeout=120)
    if "S5" in only:
        cluster_first_call(sizes["S5"])
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
