"""Distribution benchmarks: two beamish nodes in two OS processes on loopback, next to a
bare asyncio TCP stream pair carrying the same length-prefixed msgpack frames.

    python benchmarks/cluster.py [--quick] [--pairs N] [--profile [casts|calls|pubsub]] [--json F]

Each side runs in two child interpreters (a server and a client, ``--child``) that stay up
for the whole run; after a warm-up round per workload the two sides run in interleaved
pairs (``pairs.py``) and each figure is the median of the per-pair ratios, with their
spread. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = os.environ.get("BEAMISH_BENCH_SRC", str(ROOT))
if SRC not in sys.path:
    sys.path.insert(0, SRC)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel import machine  # noqa: E402
from pairs import Child, Spread, answer, commands, interleave, meets  # noqa: E402

HOST = "127.0.0.1"
COOKIE = "cluster-benchmark"
SERVER = f"srv@{HOST}"
CLIENT = f"cli@{HOST}"
PAIRS = 7  # interleaved pairs (beamish round, baseline round) per figure
QUICK_PAIRS = 2
YIELD_EVERY = 1000  # both senders let their event loop run once per this many casts
FULL_SIZES = {"casts": 1_000_000, "calls": 20_000, "subscribers": 10_000, "messages": 20}
QUICK_SIZES = {"casts": 100_000, "calls": 2_000, "subscribers": 1_000, "messages": 5}
TARGETS = {"casts": 0.5, "calls": 0.5, "pubsub": 0.7}
HEADER = struct.Struct(">BI")
PUBSUB = importlib.util.find_spec("beamish.pubsub") is not None


def now() -> float:
    return time.perf_counter()


# --------------------------------------------------------------------------------------
# beamish: a counting Actor on the server node, a driver process on the client node
# --------------------------------------------------------------------------------------


async def subscriber(owner: Any, messages: int) -> None:
    """A pubsub subscriber: takes ``messages`` broadcasts, tells ``owner`` it is done, and
    waits for ``("stop",)``: its exit (pg's leave, replicated to the other node) comes
    after the clock stops, as the baseline's boxes have no exit to pay for."""
    import beamish
    from beamish import pubsub

    await pubsub.subscribe("bench")
    receive = beamish.receive
    for _ in range(messages):
        await receive()
    beamish.send(owner, ("done",))
    await receive(lambda message: message == ("stop",))


def beamish_server() -> None:
    import cProfile
    import io
    import pstats

    import beamish
    from beamish import cluster

    profiler = cProfile.Profile()  # enabled only by a "profile-on" call (--profile)

    class Counter(beamish.Actor):
        """Counts casts; answers "count" with the count since the last one, else echoes."""

        def init(self) -> None:
            self.count = 0
            self.done = 0
            self.want_done: tuple[int, Any] | None = None
            self.subscribers: list[Any] = []

        def handle_info(self, message: Any) -> None:
            if message == ("done",):
                self.done += 1
                self._check_done()

        def _check_done(self) -> None:
            if self.want_done is not None and self.done >= self.want_done[0]:
                beamish.reply(self.want_done[1], self.done)
                self.want_done, self.done = None, 0

        def handle_cast(self, request: Any) -> None:
            self.count += 1

        def handle_call(self, request: Any, caller: Any) -> Any:
            if request == "count":
                count, self.count = self.count, 0
                return count
            if request == "pid":
                return beamish.self()
            if request == "profile-on":
                profiler.enable()
                return True
            if request == "profile-off":
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
                return out.getvalue()
            if type(request) is not tuple:  # a plain call: echo it
                return request
            if request[0] == "subscribers":  # start n subscribers of m messages each
                _, n, m = request
                me = beamish.self()
                self.subscribers = [beamish.spawn(subscriber, me, m) for _ in range(n)]
                return n
            if request[0] == "stop-subscribers":
                for pid in self.subscribers:
                    beamish.send(pid, ("stop",))
                return len(self.subscribers)
            if request[0] == "wait-done":
                self.want_done = (request[1], caller)
                self._check_done()
                return beamish.NoReply()
            return request

    async def main() -> None:
        await Counter.start(name="counter")
        print(f"READY {cluster.this_cluster().address}", flush=True)
        async for _ in commands():  # up until stdin closes
            pass

    beamish.run(
        main,
        name=SERVER,
        cluster={"cookie": COOKIE, "listen": f"{HOST}:0", "discovery": False},
    )


def beamish_client(address: str, sizes: dict[str, int]) -> None:
    """Connects to the server node, prints READY, then runs one round per command."""
    import cProfile
    import io
    import pstats

    import beamish
    from beamish import cluster

    async def casts(pid: Any, n: int) -> float:
        cast = beamish.cast
        started = now()
        for i in range(n):
            cast(pid, i)
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await beamish.sleep(0)
        count = await beamish.call(pid, "count", timeout=600)
        elapsed = now() - started
        assert count == n, (count, n)
        return n / elapsed

    async def calls(pid: Any, n: int) -> float:
        call = beamish.call
        started = now()
        for i in range(n):
            await call(pid, i)
        return n / (now() - started)

    async def fanout(pid: Any, n: int, m: int) -> float:
        from beamish import pubsub

        me = beamish.self()
        half = n // 2
        await beamish.call(pid, ("subscribers", n - half, m))
        pids = [beamish.spawn(subscriber, me, m) for _ in range(half)]
        while len(pubsub.subscribers("bench")) < n:  # pg replication: setup, not timed
            await beamish.sleep(0.01)
        started = now()
        for i in range(m):
            pubsub.broadcast("bench", i)
            await beamish.sleep(0)
        for _ in range(half):
            await beamish.receive(lambda message: message == ("done",))
        await beamish.call(pid, ("wait-done", n - half), timeout=600)
        elapsed = now() - started
        await beamish.call(pid, ("stop-subscribers",))
        for subscriber_pid in pids:
            beamish.send(subscriber_pid, ("stop",))
        while pubsub.subscribers("bench"):  # the exited subscribers leave their groups
            await beamish.sleep(0.01)
        return n * m / elapsed

    async def profiled(pid: Any, what: str) -> dict[str, str]:
        """cProfile both nodes during one round of ``what``."""
        profiler = cProfile.Profile()
        await beamish.call(pid, "profile-on")
        profiler.enable()
        await RUNNERS[what](pid)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
        return {"client": out.getvalue(), "server": await beamish.call(pid, "profile-off")}

    RUNNERS = {
        "casts": lambda pid, n=sizes["casts"]: casts(pid, n),
        "calls": lambda pid, n=sizes["calls"]: calls(pid, n),
        "pubsub": lambda pid, n=sizes["subscribers"], m=sizes["messages"]: fanout(pid, n, m),
    }

    async def main() -> None:
        await cluster.connect(address)
        pid = await beamish.call(("counter", SERVER), "pid")
        print("READY", flush=True)
        async for command in commands():
            op, scale = command["op"], command.get("scale", 1)
            if op == "profile":
                answer(await profiled(pid, command["what"]))
            elif op == "casts":
                answer(await casts(pid, max(1, sizes["casts"] // scale)))
            elif op == "calls":
                answer(await calls(pid, max(1, sizes["calls"] // scale)))
            else:
                answer(await fanout(pid, sizes["subscribers"], max(1, sizes["messages"] // scale)))

    beamish.run(
        main,
        name=CLIENT,
        cluster={"cookie": COOKIE, "listen": f"{HOST}:0", "discovery": False},
    )


# --------------------------------------------------------------------------------------
# The baseline: asyncio streams, length-prefixed msgpack frames, the same message shapes
# --------------------------------------------------------------------------------------

PID = ["srv@127.0.0.1", 1, 1]  # a pid as msgpack sees it: node, serial, creation


def frame(message: Any) -> bytes:
    import msgpack

    payload = msgpack.packb(message)
    return HEADER.pack(1, len(payload)) + payload


async def read_frames(reader: asyncio.StreamReader, buffer: bytearray) -> list[Any]:
    """The next complete frames (at least one), decoded; ``buffer`` keeps the tail."""
    import msgpack

    unpackb = msgpack.unpackb
    while True:
        out = []
        pos, end = 0, len(buffer)
        while end - pos >= 5:
            _, size = HEADER.unpack_from(buffer, pos)
            if end - pos - 5 < size:
                break
            out.append(unpackb(buffer[pos + 5 : pos + 5 + size]))
            pos += 5 + size
        del buffer[:pos]
        if out:
            return out
        data = await reader.read(65536)
        if not data:
            raise EOFError
        buffer += data


def bare_server() -> None:
    from kernel import Box, bl_recv, bl_send

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = 0
        buffer = bytearray()
        boxes: list[Box] = []
        done = [0, 0]  # finished subscribers, how many the client waits for

        async def box_subscriber(box: Box, messages: int) -> None:
            for _ in range(messages):
                await bl_recv(box)
            done[0] += 1
            if done[0] == done[1]:
                writer.write(frame(["done", done[0]]))
                boxes.clear()
                done[0] = 0

        tasks = set()
        try:
            while True:
                for message in await read_frames(reader, buffer):
                    op = message[0]
                    if op == "send":  # ["send", pid, ["$cast", i]]: a cast to the counter
                        count += 1
                    elif op == "send_name":  # ["send_name", "fanout", [topic, msg, None]]
                        item = message[2][1]
                        for box in boxes:
                            bl_send(box, item)
                    elif op == "subscribers":  # ["subscribers", n, m]
                        _, n, m = message
                        done[1] = n
                        for _ in range(n):
                            box = Box()
                            boxes.append(box)
                            task = asyncio.create_task(box_subscriber(box, m))
                            tasks.add(task)
                            task.add_done_callback(tasks.discard)
                        writer.write(frame(["ready", n]))
                    elif op == "call":  # ["call", pid, ref, request]
                        request = message[3]
                        if request == "count":
                            writer.write(frame(["reply", message[2], count]))
                            count = 0
                        else:
                            writer.write(frame(["reply", message[2], request]))
        except (EOFError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        print(f"READY {HOST}:{port}", flush=True)
        async with server:
            async for _ in commands():  # up until stdin closes
                pass

    asyncio.run(main())


def bare_client(address: str, sizes: dict[str, int]) -> None:
    """Connects to the bare server, prints READY, then runs one round per command."""
    import msgpack

    packb = msgpack.packb
    pack_header = HEADER.pack

    async def main() -> None:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        buffer = bytearray()
        refs = iter(range(1 << 62))

        async def call(request: Any) -> Any:
            ref = next(refs)
            writer.write(frame(["call", PID, ref, request]))
            (reply,) = await read_frames(reader, buffer)
            assert reply[1] == ref
            return reply[2]

        async def casts(n: int) -> float:
            started = now()
            batch: list[bytes] = []
            for i in range(n):
                payload = packb(["send", PID, ["$cast", i]])
                batch.append(pack_header(1, len(payload)))
                batch.append(payload)
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    writer.write(b"".join(batch))
                    batch.clear()
                    await writer.drain()
                    await asyncio.sleep(0)
            writer.write(b"".join(batch))
            count = await call("count")
            elapsed = now() - started
            assert count == n, (count, n)
            return n / elapsed

        async def calls(n: int) -> float:
            started = now()
            for i in range(n):
                await call(i)
            return n / (now() - started)

        async def fanout(n: int, m: int) -> float:
            from kernel import Box, bl_recv, bl_send

            half = n // 2
            writer.write(frame(["subscribers", n - half, m]))
            ((ready, _),) = await read_frames(reader, buffer)
            assert ready == "ready"
            boxes = [Box() for _ in range(half)]
            finished = asyncio.get_running_loop().create_future()
            left = [half]

            async def box_subscriber(box: Box) -> None:
                for _ in range(m):
                    await bl_recv(box)
                left[0] -= 1
                if not left[0]:
                    finished.set_result(None)

            tasks = [asyncio.create_task(box_subscriber(box)) for box in boxes]
            await asyncio.sleep(0)
            started = now()
            for i in range(m):  # one frame per remote node, then the local deliveries
                writer.write(frame(["send_name", "fanout", ["bench", i, None]]))
                for box in boxes:
                    bl_send(box, i)
                await asyncio.sleep(0)
            await finished
            ((done, _),) = await read_frames(reader, buffer)
            assert done == "done"
            elapsed = now() - started
            await asyncio.gather(*tasks)
            return n * m / elapsed

        print("READY", flush=True)
        async for command in commands():
            op, scale = command["op"], command.get("scale", 1)
            if op == "casts":
                answer(await casts(max(1, sizes["casts"] // scale)))
            elif op == "calls":
                answer(await calls(max(1, sizes["calls"] // scale)))
            else:
                answer(await fanout(sizes["subscribers"], max(1, sizes["messages"] // scale)))
        writer.close()

    asyncio.run(main())


# --------------------------------------------------------------------------------------
# The parent: a server child, then a client child against it, per side
# --------------------------------------------------------------------------------------


class Side:
    """One side of the comparison: its server child, and a client child connected to it
    that runs one round per command."""

    def __init__(self, name: str, sizes: dict[str, int], src: str = SRC) -> None:
        env = {**os.environ, "BEAMISH_BENCH_SRC": src}
        script = [sys.executable, __file__, "--child"]
        self.server = Child([*script, f"{name}-server"], cwd=ROOT, env=env)
        self.client: Child | None = None
        try:
            address = self.server.ready()
            self.client = Child(
                [*script, f"{name}-client", "--address", address, "--sizes", json.dumps(sizes)],
                cwd=ROOT,
                env=env,
            )
            self.client.ready()
        except BaseException:
            self.close()
            raise

    def round(self, op: str, scale: int = 1) -> float:
        """One round of ``op``: its rate; ``self.cpu`` gets the CPU seconds (user + system)
        both children spent in it."""
        assert self.client is not None
        before = self._cpu()
        rate = float(self.client.ask(op=op, scale=scale))
        self.cpu = self._cpu() - before
        return rate

    def _cpu(self) -> float:
        import psutil

        total = 0.0
        for child in (self.server, self.client):
            if child is not None:
                times = psutil.Process(child.proc.pid).cpu_times()
                total += times.user + times.system
        return total

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.server.close()


def line(label: str, spread: Spread, key: str) -> dict[str, Any]:
    verdict = meets(spread, ">=", TARGETS[key])
    print(
        f"{label:<56} {'asyncio':<7}  beamish {spread.ours:>11,.0f}/s  "
        f"baseline {spread.base:>11,.0f}/s  {spread.text()}  {verdict}",
        flush=True,
    )
    return {"label": label, **spread.as_dict(), "verdict": verdict}


def operations(op: str, sizes: dict[str, int]) -> int:
    """How many operations one round of ``op`` makes (deliveries, for pubsub)."""
    if op == "pubsub":
        return sizes["subscribers"] * sizes["messages"]
    return sizes[op]


def cpu_line(ours: list[float], base: list[float], count: int) -> dict[str, Any]:
    """CPU per operation (both processes of a side) and the per-pair ratio baseline CPU /
    beamish CPU: what the rate ratio would be if both sides were CPU-bound. It moves far
    less with the machine's load than wall time does."""
    spread = Spread.of(base, ours)  # base / ours: higher is better for beamish
    ours_us, base_us = spread.base / count * 1e6, spread.ours / count * 1e6
    per_op = f"beamish {ours_us:>9.1f} us  baseline {base_us:>9.1f} us"
    print(f"{'  CPU per operation, both processes':<65}{per_op}  {spread.text()}", flush=True)
    return spread.as_dict()


def before_line(
    figures: dict[str, list[float]], cpu: dict[str, list[float]], count: int
) -> dict[str, Any]:
    """The ``--before`` tree against the baseline, and this tree against it (after/before),
    from the same interleaved rounds."""
    against_base = Spread.of(figures["before"], figures["baseline"])
    after_before = Spread.of(figures["beamish"], figures["before"])
    cpu_after_before = Spread.of(cpu["before"], cpu["beamish"])  # before CPU / after CPU
    print(f"{'  before: beamish of --before / baseline':<65}{against_base.text()}", flush=True)
    print(f"{'  after / before, rate':<65}{after_before.text()}", flush=True)
    print(
        f"{'  after / before, CPU (before CPU / after CPU)':<65}{cpu_after_before.text()}  "
        f"before {cpu_after_before.ours / count * 1e6:.1f} us",
        flush=True,
    )
    return {
        "before_vs_baseline": against_base.as_dict(),
        "after_vs_before": after_before.as_dict(),
        "cpu_before_over_after": cpu_after_before.as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes (CI smoke run)")
    parser.add_argument(
        "--pairs", type=int, help=f"pairs per figure ({PAIRS}; quick {QUICK_PAIRS})"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="casts",
        choices=("casts", "calls", "pubsub"),
        help="cProfile both beamish nodes during one round (default: casts); no figures",
    )
    parser.add_argument("--only", default="casts,calls,pubsub", help="e.g. calls,pubsub")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="also run beamish from this source tree (another checkout), interleaved with "
        "the two sides: the before/after ratio of each pair is reported too",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "beamish-server":
            beamish_server()
        elif args.child == "bare-server":
            bare_server()
        elif args.child == "beamish-client":
            beamish_client(args.address, json.loads(args.sizes))
        else:
            bare_client(args.address, json.loads(args.sizes))
        return

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    pairs = args.pairs or (QUICK_PAIRS if args.quick else PAIRS)
    started = now()
    info = machine()
    print(
        f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, "
        f"kernel {info['kernel']}; sizes {sizes}; {pairs} interleaved pairs per figure",
        flush=True,
    )
    if args.profile:
        side = Side("beamish", sizes)
        try:
            side.round(args.profile, scale=10)  # warm-up
            assert side.client is not None
            profiles = side.client.ask(op="profile", what=args.profile)
        finally:
            side.close()
        print(f"--- client node, {args.profile}, by tottime ---\n" + profiles["client"])
        print(f"--- server node, {args.profile}, by tottime ---\n" + profiles["server"])
        return
    ours = Side("beamish", sizes)
    before: Side | None = None
    try:
        base = Side("bare", sizes)
        if args.before:
            before = Side("beamish", sizes, src=args.before)
    except BaseException:
        ours.close()
        raise
    workloads = [
        ("casts", f"C1 remote casts ({sizes['casts']:,} to a counting Actor)"),
        ("calls", f"C2 remote calls ({sizes['calls']:,} sequential round trips)"),
    ]
    if PUBSUB:
        label = f"C3 pubsub deliveries ({sizes['subscribers']:,} subscribers on 2 nodes)"
        workloads.append(("pubsub", label))
    only = {op.strip() for op in args.only.split(",")}
    rows = []
    try:
        for op, label in [(op, label) for op, label in workloads if op in only]:
            ours.round(op, scale=10)  # warm-up rounds, not measured
            base.round(op, scale=10)
            cpu: dict[str, list[float]] = {"beamish": [], "baseline": [], "before": []}
            sides = {
                "beamish": lambda: measured(ours, "beamish"),
                "baseline": lambda: measured(base, "baseline"),
            }
            if before is not None:
                before.round(op, scale=10)
                sides["before"] = lambda: measured(before, "before")

            def measured(side: Side, name: str, op: str = op, cpu: dict = cpu) -> float:
                rate = side.round(op)
                cpu[name].append(side.cpu)
                return rate

            figures = interleave(sides, pairs)
            rows.append(line(label, Spread.of(figures["beamish"], figures["baseline"]), op))
            rows[-1]["cpu"] = cpu_line(cpu["beamish"], cpu["baseline"], operations(op, sizes))
            if before is not None:
                rows[-1]["before"] = before_line(figures, cpu, operations(op, sizes))
    finally:
        ours.close()
        base.close()
        if before is not None:
            before.close()
    if not PUBSUB:
        print(f"{'C3 pubsub deliveries':<56} skipped: beamish.pubsub does not exist", flush=True)
    elapsed = now() - started
    print(f"done in {elapsed:.0f}s", flush=True)
    if args.json:
        data = {"sizes": sizes, "pairs": pairs, "seconds": elapsed, "machine": info, "rows": rows}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
