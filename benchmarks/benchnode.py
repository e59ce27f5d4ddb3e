"""One benchmark node as a real OS process: the workloads of ``osprocs.py``'s drivers.

    python benchmarks/benchnode.py --name n1@127.0.0.1 --cookie osbench

It joins no cluster by itself: it listens on 127.0.0.1 (a free port), prints ``READY
<address>``, then runs one JSON command per line from stdin (``pairs.commands``) and
answers each with one JSON line, until stdin closes. Commands are ``{"op": ..., ...}``;
the ops are the ``op_*`` functions below.

Times are ``time.monotonic()`` (Linux CLOCK_MONOTONIC: one clock for every process on the
host), so a time taken on one node is compared with one taken on another.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
SRC = os.environ.get("BEAMISH_BENCH_SRC")  # another beamish source tree (before/after runs)
if SRC:
    sys.path.insert(0, SRC)

from pairs import answer, commands  # noqa: E402

import beamish  # noqa: E402
from beamish import cluster, presence, registry  # noqa: E402
from beamish.cluster.transports import TcpTransport  # noqa: E402
from beamish.registry import Registry  # noqa: E402

now = time.monotonic
ARRIVALS = "bench-arrivals"
LATENCY_REGISTRY = "bench-latency"
POLL = 0.001  # seconds between two reads of a count by the sampler


# -- mesh --


async def op_connect(address: str) -> str:
    return await cluster.connect(address)


async def op_wait(nodes: int) -> list[str]:
    return await cluster.wait_for_nodes(nodes, timeout=60)


async def op_ping() -> float:
    return now()


# -- RO latency: a registration on one node until the two others list it --


class Arrivals(beamish.Actor):
    """Timestamps what arrives (a ``Registered`` of the latency registry, or a floor
    message) and tells the watcher, a process on the registering node."""

    def init(self) -> None:
        self.report_to: beamish.Pid | None = None

    def handle_call(self, request: Any, caller: Any) -> Any:
        self.report_to = request[1]
        return None

    def handle_info(self, message: Any) -> None:
        if self.report_to is None:
            return
        if isinstance(message, registry.Registered):
            beamish.send(self.report_to, ("seen", message.key, now()))
        elif isinstance(message, tuple) and message[0] == "floor":
            beamish.send(self.report_to, ("seen", message[1], now()))


async def op_latency_setup() -> bool:
    await Arrivals.start(name=ARRIVALS)
    await Registry.start(
        name=LATENCY_REGISTRY, keys="unique", scope="cluster", listeners=[ARRIVALS]
    )
    return True


_keys = iter(range(10**9))


async def op_latency(kind: str, n: int, peers: list[str]) -> list[float]:
    """``n`` registrations by this process (``kind`` "registry") or floor messages to each
    peer (``kind`` "floor"), one at a time: each one's seconds until every peer has it."""
    me = beamish.self()
    for peer in peers:
        await beamish.call((ARRIVALS, peer), ("watch", me))
    latencies = []
    for _ in range(n):
        key = (beamish.this_node().name, next(_keys))
        start = now()
        if kind == "registry":
            registry.register(LATENCY_REGISTRY, key)
        else:
            for peer in peers:
                beamish.send((ARRIVALS, peer), ("floor", key))
        last = 0.0
        for _ in peers:
            _, _, at = await beamish.receive(
                lambda m, k=key: type(m) is tuple and m[0] == "seen" and m[1] == k,
                timeout=30,
            )
            last = max(last, at)
        latencies.append(last - start)
    return latencies


# -- RO sustained: every node writes entries for a fixed time; when are all visible? --


class Round:
    """The round in progress on this node: its counter of visible entries and the
    sampler's record of ``(time, count)`` at each change."""

    def __init__(self, kind: str, tag: str, count: Callable[[], int]) -> None:
        self.kind, self.tag, self.count = kind, tag, count
        self.samples: list[tuple[float, int]] = []
        self.writers: list[beamish.Pid] = []
        self.sampler: beamish.Pid | None = None
        self.reply_to: beamish.Pid | None = None  # who waits for the writer's count
        self.received = 0  # the "send" kind's counter


_round: Round | None = None


class Counter(beamish.Actor):
    """The plain-send side's receiver: counts the entries sent to it."""

    def handle_info(self, message: Any) -> None:
        if _round is not None and type(message) is tuple and message[0] == "entry":
            _round.received += 1


def _pg_groups() -> int:
    from beamish.cluster._pg import _replica  # pg's own table: an O(1) count of groups

    replica = _replica()
    return len(replica.table.groups) if replica is not None else 0


async def _sample(state: Round) -> None:
    last = -1
    while True:
        count = state.count()
        if count != last:
            state.samples.append((now(), count))
            last = count
        await beamish.sleep(POLL)


async def op_prepare(kind: str, tag: str) -> int:
    """Set up a round of ``kind`` ("registry", "pg" or "send"); the count visible now."""
    global _round
    if kind == "registry":
        await Registry.start(name=tag, keys="unique", scope="cluster")
        state = Round(kind, tag, lambda: registry.count(tag))
    elif kind == "pg":
        await cluster.join("bench-warm")  # the pg server runs before the round starts
        await cluster.leave("bench-warm")
        state = Round(kind, tag, _pg_groups)
    else:
        if beamish.whereis("bench-counter") is None:
            await Counter.start(name="bench-counter")
        state = Round(kind, tag, lambda: _round.received if _round is not None else 0)
    _round = state
    state.sampler = beamish.spawn(_sample, state)
    return state.count()


async def _write(
    state: Round, at: float, window: float, peers: list[str], batch: int, limit: int, label: str
) -> None:
    """Write entries from ``at`` until ``at + window`` (at most ``limit``), ``batch`` at a
    time between yields; then send the number written to ``state.reply_to`` and wait to be
    killed (a writer's registrations and memberships last as long as it does)."""
    owner = beamish.self()
    me = beamish.this_node().name
    while now() < at:
        await beamish.sleep(min(0.01, max(0.0, at - now())))
    written = 0
    end = max(at, now()) + window
    kind, tag = state.kind, state.tag
    register, join, send = registry.register, cluster.join, beamish.send
    targets = [("bench-counter", peer) for peer in peers if peer != me]
    while written < limit and now() < end:
        for _ in range(min(batch, limit - written)):
            key = (me, label, written)
            if kind == "registry":
                register(tag, key)
            elif kind == "pg":
                await join((tag, key), owner)
            else:
                for target in targets:
                    send(target, ("entry", key))
                state.received += 1  # its own entry, as a table counts its own
            written += 1
        await beamish.sleep(0)
    assert state.reply_to is not None
    beamish.send(state.reply_to, ("written", written))
    await beamish.receive(lambda m: False)


async def op_write(
    at: float, window: float, peers: list[str], batch: int = 100, limit: int = 10**12
) -> int:
    """Write entries of the prepared round from ``at`` for ``window`` seconds (or until
    ``limit`` of them): how many."""
    state = _round
    assert state is not None
    state.reply_to = beamish.self()
    label = f"w{len(state.writers)}"
    state.writers.append(beamish.spawn(_write, state, at, window, peers, batch, limit, label))
    _, written = await beamish.receive(
        lambda m: type(m) is tuple and m[0] == "written", timeout=window + 120
    )
    return int(written)


async def op_reached(total: int, timeout: float = 120) -> float | None:
    """When this node first counted ``total`` entries (None: not within ``timeout``)."""
    state = _round
    assert state is not None
    deadline = now() + timeout
    while state.count() < total and now() < deadline:
        await beamish.sleep(POLL)
    for at, count in state.samples:
        if count >= total:
            return at
    if state.count() < total:
        print(f"{beamish.this_node().name}: {state.count()} of {total}", file=sys.stderr)
        return None
    return now()


async def op_finish() -> int:
    """End the round: stop its writer and sampler (the writer's entries go with it)."""
    global _round
    state = _round
    assert state is not None
    for pid in [state.sampler, *state.writers]:
        if pid is not None:
            beamish.exit(pid, "kill")
    if state.kind == "registry":
        await beamish.stop(state.tag)
    _round = None
    return 0


async def op_count(kind: str, tag: str) -> int:
    """The count of ``kind`` visible now (for waiting until a finished round drained)."""
    if kind == "pg":
        return _pg_groups()
    return 0


# -- P1 on a node of the cluster: tracks/s with two peer replicas to keep informed --


async def op_p1_start(tag: str) -> bool:
    """Start the tracker ``tag`` on this node (every node of the round runs one)."""
    from presence import Quiet

    await Quiet.start(name=tag)
    return True


async def op_p1(kind: str, n: int, tag: str) -> float:
    """``n`` tracks/s by concurrent clients into the tracker ``tag`` (``kind`` "tracker")
    or into presence.py's dict-store actor (``kind`` "store"), as presence.py's P1."""
    from presence import Store, _clients

    meta = {"status": "online"}
    if kind == "tracker":
        track = presence.track

        async def one(pid: beamish.Pid, key: str) -> None:
            await track(tag, pid, "room", key, meta)

        return await _clients(n, one)
    server = await Store.start()
    call = beamish.call

    async def store(pid: beamish.Pid, key: str) -> None:
        status, _ = await call(server, ("track", pid, "room", key, meta))
        if status != "ok":
            raise RuntimeError(status)

    rate = await _clients(n, store)
    await beamish.stop(server)
    return rate


async def op_p1_stop(tag: str) -> bool:
    await beamish.stop(tag)
    return True


# -- profiling a round (for reading where the time goes; not part of any figure) --

_profiler: Any = None


async def op_profile_on() -> bool:
    import cProfile

    global _profiler
    _profiler = cProfile.Profile()
    _profiler.enable()
    return True


async def op_profile_off(lines: int = 30) -> str:
    import io
    import pstats

    _profiler.disable()
    out = io.StringIO()
    pstats.Stats(_profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


# -- PO: presences (or pg members) of three nodes converging after a partition heals --


class Watch:
    """What this node saw of the PO round: when its count reached the target, and each
    change of its number of connected peers (sampled every millisecond)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.reached_at: float | None = None
        self.links: list[tuple[float, int]] = []
        self.counts: list[tuple[float, int]] = []  # (time, count) at each diff
        self.pids: list[beamish.Pid] = []

    def add(self, joined: int) -> None:
        self.seen += joined
        self.counts.append((now(), self.seen))
        if self.reached_at is None and self.seen >= self.target:
            self.reached_at = now()


_watch: Watch | None = None
TOPIC = "room"


class Counting(presence.Tracker):
    """Counts the presences its node lists, from its diffs (no polling)."""

    def handle_diff(self, diff: Any) -> None:
        if _watch is not None:
            for joins, leaves in diff.values():
                _watch.add(len(joins) - len(leaves))


async def _watch_group(watch: Watch) -> None:
    await cluster.monitor_group(TOPIC)
    watch.add(len(cluster.members(TOPIC)))
    while True:
        change = await beamish.receive(lambda m: isinstance(m, cluster.GroupChange))
        watch.add(len(change.joined) - len(change.left))


async def _watch_links(watch: Watch) -> None:
    last = -1
    while True:
        linked = len(cluster.nodes())
        if linked != last:
            watch.links.append((now(), linked))
            last = linked
        await beamish.sleep(POLL)


async def op_po_setup(kind: str, target: int, n: int) -> bool:
    """Start the round's counter (a ``Counting`` tracker, or a pg group watcher) and ``n``
    idle processes to track."""
    global _watch
    watch = _watch = Watch(target)
    if kind == "tracker":
        await Counting.start(name="po")
    else:
        beamish.spawn(_watch_group, watch)
    beamish.spawn(_watch_links, watch)
    watch.pids = [beamish.spawn(_idle) for _ in range(n)]
    return True


async def op_peers() -> int:
    return len(cluster.nodes())


async def op_po_fill(kind: str, warm: bool = False) -> int:
    """Track this node's processes (or join them to pg's group): the count seen here.
    ``warm``: only the first one (so that every node has heard every other's replica
    before the cut, as in a cluster that has been up for a while)."""
    watch = _watch
    assert watch is not None
    me = beamish.this_node().name
    pids = watch.pids[:1] if warm else watch.pids[1:]
    first = 0 if warm else 1
    if kind == "tracker":
        meta = {"status": "online"}
        for i, pid in enumerate(pids, first):
            await presence.track("po", pid, TOPIC, f"{me}-{i}", meta)
    else:
        await cluster.join(TOPIC, pids)
    return watch.seen


async def op_po_seen() -> int:
    assert _watch is not None
    return _watch.seen


async def op_po_reached(since: float, peers: int, timeout: float = 120) -> dict[str, Any]:
    """When this node's count reached the target, and when, after ``since``, it was linked
    to ``peers`` peers again (None: not within ``timeout``)."""
    watch = _watch
    assert watch is not None
    deadline = now() + timeout
    while watch.reached_at is None and now() < deadline:
        await beamish.sleep(POLL)
    linked = next((at for at, count in watch.links if at >= since and count >= peers), None)
    counts = [(round(at - since, 3), count) for at, count in watch.counts if at >= since]
    return {"reached": watch.reached_at, "linked": linked, "seen": watch.seen, "counts": counts}


async def _idle() -> None:
    await beamish.receive(lambda m: m == "stop")


OPS: dict[str, Any] = {
    name[3:].replace("_", "-"): fn for name, fn in dict(globals()).items() if name.startswith("op_")
}


async def main() -> None:
    if SRC and not Path(beamish.__file__).is_relative_to(SRC):
        raise RuntimeError(f"beamish comes from {beamish.__file__}, not {SRC}")
    print(f"READY {cluster.this_cluster().address}", flush=True)
    async for command in commands():
        op = command.pop("op")
        answer(await OPS[op](**command))


def run() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--cookie", required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--connect-from", help="the address to dial from (behind netsplit)")
    parser.add_argument("--advertise", help="the address peers dial (netsplit's relay)")
    parser.add_argument("--heartbeat", type=float, default=15.0, help="the cluster's, seconds")
    args = parser.parse_args()
    options: dict[str, Any] = {
        "cookie": args.cookie,
        "listen": args.listen,
        "discovery": False,
        "heartbeat": args.heartbeat,
    }
    if args.connect_from:
        options["transport"] = TcpTransport(local_host=args.connect_from)
    if args.advertise:
        options["advertise"] = args.advertise
    beamish.run(main, name=args.name, cluster=options)


if __name__ == "__main__":
    run()
