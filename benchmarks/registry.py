"""Registry benchmarks: beamish.registry next to a plain dict and the kernel's local names.

    python benchmarks/registry.py [--quick] [--pairs N] [--only R1,R2,RC,RO] [--window S]

R1 register: one process registers N fresh unique keys (``registry.register``); the
   baseline stores ``(pid, value)`` in a plain dict under the same keys. Target: >= 200k/s.
R2 lookup: N lookups of registered keys (``registry.lookup``) against the kernel's local
   names (``beamish.whereis``, a C-level dict read) on the same number of reads; and the
   same reads through a handle held by the caller (``Registry.table(name).lookup``), in the
   same pairs. Target: >= 2M/s.
RC cluster: a unique key registered on one of three nodes (in one interpreter, over the
   in-memory transport) until ``lookup`` finds it on both others: median and p99 latency,
   and registrations/s sustained. (Needs the cluster scope.)
RO cluster scope across three nodes that are real OS processes (``benchnode.py``, TCP on
   127.0.0.1; not in the default set, ``--only RO``):
   - latency: a unique key registered by a process on node 1 until both other nodes'
     registries report it (a listener's ``Registered``, timestamped on arrival with the
     host-wide monotonic clock); floor: one plain message from node 1 to a process on each
     other node over the same connections, in the same interleaved pairs;
   - sustained: all three nodes register fresh keys (one process each, 100 per batch
     between yields) for ``--window`` seconds at once; the rate is the registrations made
     / the time until the last node lists all of them (each node samples its count every
     millisecond). Baselines, the same count of entries written the same way: pg joins (one
     group per entry: the other node-owned table replicated to every node, which is what a
     BEAM user reaches for), and plain sends (each entry sent to the two other nodes as a
     message and counted there: the floor of replicating by hand).

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

from pairs import Spread, interleave  # noqa: E402

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

        table = getattr(Registry, "table", None)  # the handle, where this beamish has it

        def held() -> float:
            assert table is not None
            lookup = table(name).lookup
            start = time.perf_counter()
            for _ in range(reads):
                for key in keys:
                    lookup(key)
            return reads * len(keys) / (time.perf_counter() - start)

        sides = {"ours": ours, "base": base} | ({"held": held} if table is not None else {})
        rounds = interleave(sides, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        print(line("R2 lookup (vs kernel whereis)", spread, "/s", _absolute(spread, 2_000_000)))
        if table is not None:
            spread = Spread.of(rounds["held"], rounds["base"])
            label = "R2 Registry.table(name).lookup"
            print(line(label, spread, "/s", _absolute(spread, 2_000_000)))


def _absolute(spread: Spread, target: float) -> str:
    low = min(spread.ratios) * spread.base
    verdict = "ok" if spread.ours >= target else "MISS"
    return f"(target >= {target:,.0f}/s: median {spread.ours:,.0f}/s, {verdict}; low {low:,.0f})"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


RC_NODES = ("a@bench", "b@bench", "c@bench")


async def cluster_round(nodes: dict[str, Any], kind: str, n: int, counter: Any) -> list[float]:
    """``n`` registrations on A (or floor messages A -> B, C); the latency of each until
    both B and C have it."""
    from beamish.runtime import run_main

    a = nodes[RC_NODES[0]]

    async def measure() -> list[float]:
        me = beamish.self()
        for name in RC_NODES[1:]:
            await beamish.call(("bench-arrivals", name), ("watch", me))
        latencies = []
        for _ in range(n):
            key = next(counter)
            start = time.perf_counter()
            if kind == "registry":
                beamish.spawn(_holder, key)
            else:
                for name in RC_NODES[1:]:
                    beamish.send(("bench-arrivals", name), ("floor", key))
            last = 0.0
            for _ in RC_NODES[1:]:
                _, _, at = await beamish.receive(lambda m, k=key: m[0] == "seen" and m[1] == k)
                last = max(last, at)
            latencies.append(last - start)
        return latencies

    return await run_main(a, measure)


async def _holder(key: Any) -> None:
    registry.register("bench", key)
    await beamish.receive()


class _ArrivalsServer(beamish.Actor):
    def init(self) -> None:
        self.report_to: beamish.Pid | None = None

    def handle_call(self, request: Any, caller: Any) -> Any:
        self.report_to = request[1]
        return None

    def handle_info(self, message: Any) -> None:
        if self.report_to is None:
            return
        if isinstance(message, registry.Registered):
            beamish.send(self.report_to, ("seen", message.key, time.perf_counter()))
        elif isinstance(message, tuple) and message[0] == "floor":
            beamish.send(self.report_to, ("seen", message[1], time.perf_counter()))


async def cluster_bench(n: int, pairs: int) -> None:
    import contextlib

    from beamish import cluster
    from beamish.cluster.transports import MemoryNetwork
    from beamish.runtime import run_main

    net = MemoryNetwork()
    async with contextlib.AsyncExitStack() as stack:
        nodes = {}
        for name in RC_NODES:
            node = await stack.enter_async_context(beamish.runtime.start(name=name))
            await stack.enter_async_context(
                cluster.start(
                    cookie="bench",
                    transport=net.transport(name),
                    listen=f"mem://{name}",
                    discovery=False,
                )
            )
            nodes[name] = node

        async def setup() -> None:
            await _ArrivalsServer.start(name="bench-arrivals")
            await Registry.start(
                name="bench", keys="unique", scope="cluster", listeners=["bench-arrivals"]
            )

        first = nodes[RC_NODES[0]]
        for name in RC_NODES[1:]:
            await run_main(first, cluster.connect, f"mem://{name}")
        for node in nodes.values():
            await run_main(node, cluster.wait_for_nodes, 2)
            await run_main(node, setup)
        counter = iter(range(10**9))
        ours: list[float] = []
        base: list[float] = []
        ratios = []
        for i in range(pairs):
            order = ["registry", "floor"] if i % 2 == 0 else ["floor", "registry"]
            got = {kind: await cluster_round(nodes, kind, n, counter) for kind in order}
            ours += got["registry"]
            base += got["floor"]
            ratios.append(statistics.median(got["registry"]) / statistics.median(got["floor"]))
        ms = 1000
        print(
            f"RC register on A visible on B and C: median {statistics.median(ours) * ms:.2f} ms"
            f", p99 {percentile(ours, 0.99) * ms:.2f} ms ({len(ours)} registrations); "
            f"floor (a message A -> B, C): median {statistics.median(base) * ms:.3f} ms, "
            f"p99 {percentile(base, 0.99) * ms:.3f} ms; per-pair ratio of medians "
            f"{statistics.median(ratios):.0f}x [{min(ratios):.0f}-{max(ratios):.0f}]"
        )


def os_cluster_bench(n: int, pairs: int, window: float, before: str | None = None) -> None:
    import contextlib

    from osprocs import Nodes

    with contextlib.ExitStack() as stack:
        nodes = stack.enter_context(Nodes())
        olds = tuple(f"o{i}@127.0.0.1" for i in (1, 2, 3))  # another mesh, other names
        old = stack.enter_context(Nodes(olds, src=before)) if before else None
        first, *others = nodes.names
        nodes.all(op="latency-setup")
        ours: list[float] = []
        base: list[float] = []
        ratios = []
        for i in range(pairs):
            order = ["registry", "floor"] if i % 2 == 0 else ["floor", "registry"]
            got = {
                kind: nodes.ask(first, op="latency", kind=kind, n=n, peers=others) for kind in order
            }
            ours += got["registry"]
            base += got["floor"]
            ratios.append(statistics.median(got["registry"]) / statistics.median(got["floor"]))
        ms = 1000
        print(
            f"RO register on n1 visible on n2 and n3 (OS processes): median "
            f"{statistics.median(ours) * ms:.2f} ms, p99 {percentile(ours, 0.99) * ms:.2f} ms "
            f"({len(ours)} registrations); floor (a message n1 -> n2, n3): median "
            f"{statistics.median(base) * ms:.3f} ms, p99 {percentile(base, 0.99) * ms:.3f} ms;"
            f" per-pair ratio of medians {statistics.median(ratios):.1f}x "
            f"[{min(ratios):.1f}-{max(ratios):.1f}]"
        )

        tags = iter(range(10**9))

        def sustained(kind: str, nodes: Nodes = nodes) -> float:
            tag = f"sus-{kind}-{next(tags)}"
            nodes.all(op="prepare", kind=kind, tag=tag)
            # one entry per node first: every node's replica of the round is up and heard
            warm = nodes.all(op="write", at=0.0, window=60.0, peers=list(nodes.names), limit=1)
            nodes.all(op="reached", total=sum(warm.values()))
            at = time.monotonic() + 0.2
            written = nodes.all(op="write", at=at, window=window, peers=list(nodes.names))
            total = sum(warm.values()) + sum(written.values())
            reached = nodes.all(op="reached", total=total)
            nodes.all(op="finish")
            if None in reached.values():
                raise RuntimeError(f"{kind}: not every node saw all {total}: {reached}")
            deadline = time.monotonic() + 120
            while any(nodes.all(op="count", kind=kind, tag=tag).values()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind}: the last round's entries did not drain")
                time.sleep(0.05)
            return sum(written.values()) / (max(reached.values()) - at)

        sides = {
            "registry": lambda: sustained("registry"),
            "pg": lambda: sustained("pg"),
            "send": lambda: sustained("send"),
        }
        if old is not None:
            sides["before"] = lambda: sustained("registry", old)
        rounds = interleave(sides, pairs)
        if old is not None:
            spread = Spread.of(rounds["registry"], rounds["before"])
            print(line("RO registrations/s, this tree vs --before's", spread, "/s", ""))
        for name, label in (("pg", "vs pg joins"), ("send", "vs plain sends")):
            spread = Spread.of(rounds["registry"], rounds[name])
            print(
                line(f"RO registrations/s, 3 OS nodes ({label})", spread, "/s", "(no target)")
                + f" window {window:g} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--only", default="R1,R2,RC")
    parser.add_argument("--window", type=float, default=2.0, help="RO: seconds of writing")
    parser.add_argument(
        "--before", metavar="SRC", help="RO: also the registry of this beamish source tree"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    pairs = 2 if args.quick else args.pairs
    only = set(args.only.split(","))
    beamish.run(local, sizes, pairs, only)
    if "RC" in only:
        import asyncio

        asyncio.run(cluster_bench(sizes["RC"], pairs))
    if "RO" in only:
        os_cluster_bench(sizes["RC"], pairs, 0.5 if args.quick else args.window, args.before)


if __name__ == "__main__":
    main()
