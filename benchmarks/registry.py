"""Registry benchmarks: beamish.registry next to a plain dict and the kernel's local names.

    python benchmarks/registry.py [--quick] [--pairs N] [--only R1,R2,RC]

R1 register: one process registers N fresh unique keys (``registry.register``); the
   baseline stores ``(pid, value)`` in a plain dict under the same keys. Target: >= 200k/s.
R2 lookup: N lookups of registered keys (``registry.lookup``) against the kernel's local
   names (``beamish.whereis``, a C-level dict read) on the same number of reads. Target:
   >= 2M/s.
RC cluster: a unique key registered on one of three nodes (in one interpreter, over the
   in-memory transport) until ``lookup`` finds it on both others: median and p99 latency,
   and registrations/s sustained. (Needs the cluster scope.)

Rounds run in interleaved pairs in one interpreter (``pairs.py``); a figure is the median
of the per-pair ratios, with the lowest and highest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from pairs import Spread, interleave, meets  # noqa: E402

import beamish  # noqa: E402
from beamish import registry  # noqa: E402
from beamish.registry import Registry  # noqa: E402

FULL = {"R1": 100_000, "R2": 200_000, "RC": 300}
QUICK = {"R1": 10_000, "R2": 20_000, "RC": 30}


def line(label: str, spread: Spread, unit: str, target: str) -> str:
    return (
        f"{label:34s} beamish {spread.ours:>12,.0f}{unit}  baseline {spread.base:>12,.0f}{unit}"
        f"  {spread.text()}  {target}"
    )


async def local(sizes: dict[str, int], pairs: int, only: set[str]) -> None:
    counter = iter(range(10**9))

    async def fresh() -> str:
        name = f"bench{next(counter)}"
        await Registry.start_link(name=name, keys="unique")
        return name

    if "R1" in only:
        n = sizes["R1"]
        keys = [("session", i) for i in range(n)]
        names = [await fresh() for _ in range(pairs)]

        def ours() -> float:
            name = names.pop()
            register = registry.register
            start = time.perf_counter()
            for key in keys:
                register(name, key, None)
            return n / (time.perf_counter() - start)

        def base() -> float:
            table: dict[Any, Any] = {}
            me = beamish.self()
            start = time.perf_counter()
            for key in keys:
                if key in table:
                    raise RuntimeError("taken")
                table[key] = (me, None)
            return n / (time.perf_counter() - start)

        rounds = interleave({"ours": ours, "base": base}, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        print(line("R1 register (vs dict insert)", spread, "/s", _absolute(spread, 200_000)))

    if "R2" in only:
        n = sizes["R2"]
        name = await fresh()
        keys = [("session", i) for i in range(1000)]
        for key in keys:
            registry.register(name, key)
        beamish.register("bench-self")
        reads = n // len(keys)

        def ours() -> float:
            lookup = registry.lookup
            start = time.perf_counter()
            for _ in range(reads):
                for key in keys:
                    lookup(name, key)
            return reads * len(keys) / (time.perf_counter() - start)

        def base() -> float:
            whereis = beamish.whereis
            start = time.perf_counter()
            for _ in range(reads):
                for _key in keys:
                    whereis("bench-self")
            return reads * len(keys) / (time.perf_counter() - start)

        rounds = interleave({"ours": ours, "base": base}, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        print(line("R2 lookup (vs kernel whereis)", spread, "/s", _absolute(spread, 2_000_000)))


def _absolute(spread: Spread, target: float) -> str:
    low = min(spread.ratios) * spread.base
    verdict = "ok" if spread.ours >= target else "MISS"
    return f"(target >= {target:,.0f}/s: median {spread.ours:,.0f}/s, {verdict}; low {low:,.0f})"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--only", default="R1,R2,RC")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    pairs = 2 if args.quick else args.pairs
    only = set(args.only.split(","))
    beamish.run(local, sizes, pairs, only)
    if "RC" in only:
        import cluster_registry

        cluster_registry.run(sizes["RC"], percentile, statistics)
    _ = meets


if __name__ == "__main__":
    main()
