"""What the loop-lag watchdog costs: the same node workload with it on and off.

    python benchmarks/watchdog.py [--pairs 15] [--backend asyncio|trio] [--quick]

The watchdog is a thread that posts one probe to the event loop every ``threshold / 4``
seconds; nothing runs on the message path. The workload is the hot path it must not
slow down: sequential calls to an ``Actor`` and raw sends to a ``receive`` loop. Each pair
runs the workload with ``loop_lag_threshold=None`` (the baseline) and with the default
threshold, in alternating order, in one interpreter; the figure is the median of the pair
ratios (watchdog on / off, throughput) with their spread.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import beamish
from beamish.runtime import Config


class Echo(beamish.Actor):
    def handle_call(self, request, caller):
        return request


async def _sink(count: int, reporter: beamish.Pid) -> None:
    for _ in range(count):
        await beamish.receive()
    beamish.send(reporter, "done")


async def workload(calls: int, sends: int) -> float:
    """Seconds for ``calls`` sequential calls then ``sends`` sends drained by a receiver."""
    began = time.perf_counter()
    pid = await Echo.start()
    for i in range(calls):
        await beamish.call(pid, i)
    sink = beamish.spawn(_sink, sends, beamish.self())
    for i in range(sends):
        beamish.send(sink, i)
        if i % 1000 == 0:  # let the receiver run: a long send loop would block the loop
            await beamish.sleep(0)
    await beamish.receive(lambda m: m == "done")
    return time.perf_counter() - began


def measure(backend: str, threshold: float | None, calls: int, sends: int) -> float:
    seconds: float = beamish.run(
        workload, calls, sends, backend=backend, loop_lag_threshold=threshold
    )
    return (calls + sends) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    args = parser.parse_args()
    calls, sends = (2_000, 20_000) if args.quick else (20_000, 200_000)
    pairs = 3 if args.quick else args.pairs
    threshold = Config().loop_lag_threshold
    measure(args.backend, None, calls, sends)  # warm-up
    ratios = []
    for index in range(pairs):
        if index % 2:
            on = measure(args.backend, threshold, calls, sends)
            off = measure(args.backend, None, calls, sends)
        else:
            off = measure(args.backend, None, calls, sends)
            on = measure(args.backend, threshold, calls, sends)
        ratios.append(on / off)
    cpu = platform.processor() or platform.machine()
    print(
        f"watchdog on/off ({args.backend}, threshold {threshold}s, {calls:,} calls + "
        f"{sends:,} sends, {pairs} pairs; {cpu}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}): median ratio {statistics.median(ratios):.3f}x, "
        f"spread {min(ratios):.3f}-{max(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
