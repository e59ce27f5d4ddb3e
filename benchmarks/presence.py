"""Presence benchmarks: beamish.presence's Tracker next to the simplest thing that does the
same job in beamish.

    python benchmarks/presence.py [--quick] [--pairs N] [--only P1,P2,P3,P4,P1O,PO]

P1 tracks/s on one node: C client processes each track themselves under N/C keys of one
   topic (``presence.track``), concurrently. Baseline: the same calls to a plain Actor that
   links the pid and stores ``(topic, pid, key) -> meta`` in a dict. Target: >= 50k/s.
P2 bytes per presence: tracemalloc growth of tracking N presences (meta
   ``{"status": "online", "user_id": i}``; the processes exist before) / N. Baseline: the
   same entries in a plain dict. Target: <= 1 KB.
P3 ``presence.list(tracker, topic)`` of 10,000 presences, in ms. Baseline: a list of the
   items of a dict of 10,000 entries. Target: <= 20 ms. (``Presence.list``, the grouped
   phoenix.js shape, is printed too.)
P4 three nodes (one interpreter, in-memory network, real clock, default 1.5 s broadcast
   period) are cut apart; each tracks N presences meanwhile; the partition heals: seconds
   until every node's tracker has reported all 3N (counted from its diffs, no polling).
   Baseline: pg (``cluster.join``) of N processes per node under the same partition and
   heal, until a ``monitor_group`` watcher on every node has counted all 3N members.
   Target: <= 2 broadcast periods (3 s).
P1O P1 on the first of three nodes that are real OS processes (``benchnode.py``, TCP on
   127.0.0.1; not in the default set, ``--only P1O``): the same clients and baseline, with
   the same tracker running on the two other nodes, so the deltas go out to two replicas
   (every 1.5 s) while the clients track.
PO P4 across three nodes that are real OS processes (``benchnode.py``; not in the default
   set, ``--only PO``): each node on its own loopback address behind a relay of
   ``tests/cluster/netsplit.py`` that cuts the TCP between them silently; cluster heartbeat
   0.5 s. Each node tracks one presence and all wait until every node lists all three (so
   every replica has heard every other, as in a cluster that has been up a while); then
   the cut; each node notices it (its connections drop) within about 2 s, then
   tracks its other N - 1 presences (default tracker settings: 1.5 s broadcast period); then the
   relays heal. Figure: seconds from the heal until the last node's tracker counted all 3N
   (each node timestamps that itself, from its diffs, on the host-wide monotonic clock).
   Also printed: from the heal until every node was connected to both others again (the
   mesh redials a lost peer every 2 s; the redial held by the cut goes through at the
   heal), sampled every millisecond. Baseline: pg (N processes per node joining one
   group) under the same cut and heal, counted by a ``monitor_group`` watcher per node.
   Fresh nodes and relays every round. Target: <= 2 broadcast periods (3 s).

Rounds run in interleaved pairs (``pairs.py``); a figure is the median of the per-pair
ratios, with the lowest and highest.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import anyio  # noqa: E402
from pairs import Spread, interleave  # noqa: E402

import beamish  # noqa: E402
from beamish import cluster, presence  # noqa: E402
from beamish.cluster.transports import MemoryNetwork  # noqa: E402

FULL = {"P1": 50_000, "P2": 10_000, "P3": 10_000, "P4": 10_000}
QUICK = {"P1": 5_000, "P2": 2_000, "P3": 10_000, "P4": 1_000}
CLIENTS = 100


def line(label: str, spread: Spread, unit: str, target: str) -> str:
    return (
        f"{label:38s} beamish {spread.ours:>12,.1f}{unit}  baseline {spread.base:>12,.1f}{unit}"
        f"  {spread.text()}  {target}"
    )


def verdict(value: float, op: str, bound: float, unit: str) -> str:
    ok = value >= bound if op == ">=" else value <= bound
    return f"(target {op} {bound:,.0f}{unit}: median {value:,.1f}{unit}, {'ok' if ok else 'MISS'})"


class Store(beamish.Actor):
    """The baseline server: link the pid, store the entry in a dict."""

    def init(self) -> None:
        self.entries: dict[Any, Any] = {}
        beamish.trap_exits(True)

    def handle_call(self, request: Any, caller: Any) -> Any:
        _, pid, topic, key, meta = request
        entry = (topic, pid, key)
        if entry in self.entries:
            return ("error", "already")
        beamish.link(pid)
        self.entries[entry] = {**meta, "phx_ref": "x"}
        return ("ok", "x")


class Quiet(presence.Tracker):
    pass


_names = iter(range(10**9))


async def _idle() -> None:
    await beamish.receive(lambda m: m == "stop")


async def _clients(n: int, track_one: Any) -> float:
    """Rate of n tracks made by CLIENTS concurrent processes calling ``track_one``."""
    per = n // CLIENTS
    done = anyio.Event()
    finished = [0]

    async def client(index: int) -> None:
        pid = beamish.self()
        for i in range(per):
            await track_one(pid, f"k{index}-{i}")
        finished[0] += 1
        if finished[0] == CLIENTS:
            done.set()
        await beamish.receive(lambda m: m == "stop")

    start = time.perf_counter()
    pids = [beamish.spawn(client, i) for i in range(CLIENTS)]
    await done.wait()
    elapsed = time.perf_counter() - start
    for pid in pids:
        beamish.send(pid, "stop")
    return per * CLIENTS / elapsed


async def local(sizes: dict[str, int], pairs: int, only: set[str]) -> None:
    if "P1" in only:
        n = sizes["P1"]
        sides = {"ours": _p1_ours_factory(n), "base": _p1_base_factory(n)}
        rounds = await _interleave_async(sides, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        target = verdict(spread.ours, ">=", 50_000, "/s")
        print(line("P1 tracks/s (vs dict-store actor)", spread, "/s", target))

    if "P2" in only:
        n = sizes["P2"]
        pids = [beamish.spawn(_idle) for _ in range(n)]
        keep: list[Any] = []

        async def ours_bytes() -> float:
            name = f"p2-{next(_names)}"
            await Quiet.start(name=name)
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for i, pid in enumerate(pids):
                await presence.track(
                    name, pid, "room", f"user{i}", {"status": "online", "user_id": i}
                )
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            keep.append(name)  # stopped now, its memory would be freed during the next round
            return grown / n

        async def base_bytes() -> float:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            table = {}
            for i, pid in enumerate(pids):
                table[("room", pid, f"user{i}")] = {
                    "status": "online",
                    "user_id": i,
                    "phx_ref": "GOwzcZqLJUrs5wAh",
                }
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            keep.append(table)
            return grown / n

        rounds = await _interleave_async({"ours": ours_bytes, "base": base_bytes}, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        print(
            line(
                "P2 bytes per presence (vs dict entry)",
                spread,
                " B",
                verdict(spread.ours, "<=", 1024, " B"),
            )
        )
        for pid in pids:
            beamish.exit(pid, "kill")

    if "P3" in only:
        n = sizes["P3"]
        name = f"p3-{next(_names)}"
        await Quiet.start(name=name)
        grouped = presence.Presence(f"p3p-{next(_names)}")
        await grouped.start_link()
        pids = [beamish.spawn(_idle) for _ in range(n)]
        for i, pid in enumerate(pids):
            await presence.track(name, pid, "room", f"user{i}", {"status": "online"})
            await grouped.track(pid, "room", f"user{i}", {"status": "online"})
        table = {("room", pid, f"user{i}"): {"status": "online"} for i, pid in enumerate(pids)}
        assert len(presence.list(name, "room")) == n

        def median_ms(fn: Any) -> float:  # the median of 5 calls: one figure per round
            times = []
            for _ in range(5):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1000)
            return sorted(times)[2]

        async def ours_ms() -> float:
            return median_ms(lambda: presence.list(name, "room"))

        async def base_ms() -> float:
            return median_ms(lambda: [(k[2], meta) for k, meta in table.items()])

        async def grouped_ms() -> float:
            return median_ms(lambda: grouped.list("room"))

        rounds = await _interleave_async({"ours": ours_ms, "base": base_ms}, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        print(
            line(
                f"P3 list of {n:,} (ms, vs dict items)",
                spread,
                " ms",
                verdict(spread.ours, "<=", 20, " ms"),
            )
        )
        rounds = await _interleave_async({"ours": grouped_ms, "base": base_ms}, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        print(
            line(
                f"P3 Presence.list of {n:,} (ms)",
                spread,
                " ms",
                verdict(spread.ours, "<=", 20, " ms"),
            )
        )
        for pid in pids:
            beamish.exit(pid, "kill")


async def _interleave_async(sides: dict[str, Any], pairs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for _ in range(pairs):
        for name in order:
            figures[name].append(float(await sides[name]()))
        order.reverse()
    return figures


def _p1_ours_factory(n: int) -> Any:
    async def run() -> float:
        name = f"p1-{next(_names)}"
        await Quiet.start(name=name)
        track = presence.track
        meta = {"status": "online"}

        async def one(pid: beamish.Pid, key: str) -> None:
            await track(name, pid, "room", key, meta)

        rate = await _clients(n, one)
        await beamish.stop(name)
        return rate

    return run


def _p1_base_factory(n: int) -> Any:
    async def run() -> float:
        server = await Store.start()
        call = beamish.call
        meta = {"status": "online"}

        async def one(pid: beamish.Pid, key: str) -> None:
            status, _ = await call(server, ("track", pid, "room", key, meta))
            if status != "ok":
                raise RuntimeError(status)

        rate = await _clients(n, one)
        await beamish.stop(server)
        return rate

    return run


# -- P4: convergence after a partition heals, three nodes in one interpreter --

NAMES = ("n1@bench", "n2@bench", "n3@bench")


@contextlib.asynccontextmanager
async def _three(net: MemoryNetwork) -> Any:
    async with contextlib.AsyncExitStack() as stack:
        started = {}
        for name in NAMES:
            node = await stack.enter_async_context(beamish.runtime.start(name=name))
            the_cluster = await stack.enter_async_context(
                cluster.start(
                    cookie="bench",
                    transport=net.transport(name),
                    listen=f"mem://{name}",
                    discovery=False,
                )
            )
            started[name] = (node, the_cluster)
        yield started


async def _on(node: Any, fn: Any, *args: Any) -> Any:
    return await beamish.runtime.run_main(node, fn, *args)


async def _connect_all(started: dict[str, Any]) -> None:
    for name in NAMES[1:]:
        await started[NAMES[0]][1].connect("mem://" + name)
    for name in NAMES:
        await started[name][1].wait_for_nodes([n for n in NAMES if n != name], 30)


async def _spawn_idle(n: int) -> list[beamish.Pid]:
    return [beamish.spawn(_idle) for _ in range(n)]


async def _track_all(name: str, pids: list[beamish.Pid]) -> None:
    me = beamish.this_node().name
    for i, pid in enumerate(pids):
        await presence.track(name, pid, "room", f"{me}-{i}", {"status": "online"})


async def _join_all(pids: list[beamish.Pid]) -> None:
    await cluster.join("room", pids)


class Counting(presence.Tracker):
    """Counts what its node sees from the diffs; sets ``done`` at ``target`` (no polling)."""

    def init(self, target: int, done: anyio.Event) -> None:
        self.seen, self.target, self.done = 0, target, done

    def handle_diff(self, diff: Any) -> None:
        for joins, leaves in diff.values():
            self.seen += len(joins) - len(leaves)
        if self.seen >= self.target:
            self.done.set()


async def _start_counting(name: str, target: int, done: anyio.Event) -> None:
    await Counting.start(name=name, args=(target, done))


async def _count_members_until(target: int, done: anyio.Event) -> None:
    """A process that watches the pg group and sets ``done`` at ``target`` members."""

    async def watch() -> None:
        await cluster.monitor_group("room")
        seen = len(cluster.members("room"))
        while seen < target:
            change = await beamish.receive(lambda m: isinstance(m, cluster.GroupChange))
            seen += len(change.joined) - len(change.left)
        done.set()

    beamish.spawn(watch)


async def p4_round(n: int, use_tracker: bool) -> float:
    net = MemoryNetwork()
    async with _three(net) as started:
        await _connect_all(started)
        name = f"p4-{next(_names)}"
        done = {node_name: anyio.Event() for node_name in NAMES}
        for node_name in NAMES:
            node = started[node_name][0]
            if use_tracker:
                await _on(node, _start_counting, name, 3 * n, done[node_name])
            else:
                await _on(node, _count_members_until, 3 * n, done[node_name])
        for a in NAMES:
            for b in NAMES:
                if a < b:
                    net.partition(a, b)
        for node_name in NAMES:
            node = started[node_name][0]
            pids = await _on(node, _spawn_idle, n)
            await _on(
                node,
                _track_all if use_tracker else _join_all,
                *((name, pids) if use_tracker else (pids,)),
            )
        net.heal()
        start = time.perf_counter()
        await _connect_all(started)
        for event in done.values():
            await event.wait()
        return time.perf_counter() - start


def p4(n: int, pairs: int) -> None:
    def ours() -> float:
        return anyio.run(p4_round, n, True)

    def base() -> float:
        return anyio.run(p4_round, n, False)

    rounds = interleave({"ours": ours, "base": base}, pairs)
    spread = Spread.of(rounds["ours"], rounds["base"])
    print(
        line(
            f"P4 3 nodes x {n:,} converge after heal (s, vs pg)",
            spread,
            " s",
            verdict(spread.ours, "<=", 3, " s"),
        )
    )


# -- PO: P4 across three OS processes, cut and healed by netsplit's relays --

CLUSTER_HEARTBEAT = 0.5  # seconds: the nodes notice the cut within about 2 s


def po_round(n: int, kind: str, src: str | None = None) -> tuple[float, float]:
    """One round of ``kind`` ("tracker" or "pg"): seconds from the heal until every node
    counted all 3n, and until every node was connected to both others again."""
    from anyio.from_thread import start_blocking_portal

    sys.path.append(str(HERE.parent / "tests" / "cluster"))
    from netsplit import netsplit
    from osprocs import Nodes

    shorts = ("n1", "n2", "n3")
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(netsplit()) as net,
    ):
        members = {short: portal.call(net.member, short) for short in shorts}
        by_name = {member.name: member for member in members.values()}
        options = {
            name: [*member.options(), "--heartbeat", str(CLUSTER_HEARTBEAT)]
            for name, member in by_name.items()
        }
        with Nodes(
            list(by_name),
            options=options,
            attach=lambda name, address: portal.call(by_name[name].attach, address),
            dial={name: member.relay for name, member in by_name.items()},
            src=src,
        ) as nodes:
            nodes.all(op="po-setup", kind=kind, target=3 * n, n=n)
            nodes.all(op="po-fill", kind=kind, warm=True)  # one each: every replica heard
            deadline = time.monotonic() + 60
            while any(seen < len(shorts) for seen in nodes.all(op="po-seen").values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the nodes did not see one another's first entry")
                time.sleep(0.01)
            portal.call(net.cut, *[[short] for short in shorts])
            deadline = time.monotonic() + 60
            while any(nodes.all(op="peers").values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the nodes did not notice the cut")
                time.sleep(0.05)
            nodes.all(op="po-fill", kind=kind)
            healed = time.monotonic()
            portal.call(net.heal)
            got = nodes.all(op="po-reached", since=healed, peers=len(shorts) - 1)
            if any(one["reached"] is None or one["linked"] is None for one in got.values()):
                raise RuntimeError(f"{kind}: no convergence after the heal: {got}")
            if os.environ.get("PO_DEBUG"):
                print({name[:2]: one["counts"] for name, one in got.items()}, file=sys.stderr)
            converged = max(one["reached"] for one in got.values()) - healed
            linked = max(one["linked"] for one in got.values()) - healed
            return converged, linked


def po(n: int, pairs: int, before: str | None = None) -> None:
    relinked: dict[str, list[float]] = {"tracker": [], "pg": [], "before": []}

    def side(kind: str, src: str | None = None) -> float:
        converged, linked = po_round(n, kind, src)
        relinked["before" if src else kind].append(linked)
        return converged

    sides = {"ours": lambda: side("tracker"), "base": lambda: side("pg")}
    if before:
        sides["before"] = lambda: side("tracker", before)
    rounds = interleave(sides, pairs)
    if before:
        spread = Spread.of(rounds["ours"], rounds["before"])
        label = "PO tracker, this tree vs --before's (s)"
        print(line(label, spread, " s", "(lower is better)"))
    spread = Spread.of(rounds["ours"], rounds["base"])
    print(
        line(
            f"PO 3 OS nodes x {n:,} converge after heal (s, vs pg)",
            spread,
            " s",
            verdict(spread.ours, "<=", 3, " s"),
        )
    )
    after = {
        kind: [c - r for c, r in zip(rounds[side], relinked[kind], strict=True)]
        for kind, side in (("tracker", "ours"), ("pg", "base"))
    }
    spread = Spread.of(after["tracker"], after["pg"])
    print(
        line(
            "PO the same from the reconnection (s, vs pg)",
            spread,
            " s",
            verdict(spread.ours, "<=", 3, " s"),
        )
    )

    def listed(values: list[float]) -> str:
        return ", ".join(f"{value:.2f}" for value in values)

    print(
        f"PO per round, heal until every node linked to both others again: tracker "
        f"{listed(relinked['tracker'])} s, pg {listed(relinked['pg'])} s; heal until "
        f"converged: tracker {listed(rounds['ours'])} s, pg {listed(rounds['base'])} s"
    )


# -- P1O: P1 on a node of three OS-process nodes --


def p1o(n: int, pairs: int) -> None:
    from osprocs import Nodes

    with Nodes() as nodes:
        first = nodes.names[0]
        tags = iter(range(10**9))

        def ours() -> float:
            tag = f"p1o-{next(tags)}"
            nodes.all(op="p1-start", tag=tag)
            rate = float(nodes.ask(first, op="p1", kind="tracker", n=n, tag=tag))
            nodes.all(op="p1-stop", tag=tag)
            return rate

        def base() -> float:
            return float(nodes.ask(first, op="p1", kind="store", n=n, tag=""))

        rounds = interleave({"ours": ours, "base": base}, pairs)
        spread = Spread.of(rounds["ours"], rounds["base"])
        target = verdict(spread.ours, ">=", 50_000, "/s")
        print(line("P1O tracks/s on 1 of 3 OS nodes", spread, "/s", target))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--only", default="P1,P2,P3,P4")
    parser.add_argument(
        "--before", metavar="SRC", help="PO: also the tracker of this beamish source tree"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    pairs = 1 if args.quick else args.pairs
    only = set(args.only.split(","))
    beamish.run(local, sizes, pairs, only)
    if "P4" in only:
        p4(sizes["P4"], 1 if args.quick else max(1, args.pairs // 2 + 1))
    if "P1O" in only:
        p1o(sizes["P1"], 1 if args.quick else args.pairs)
    if "PO" in only:
        po(sizes["P4"], 1 if args.quick else args.pairs, args.before)


if __name__ == "__main__":
    main()
