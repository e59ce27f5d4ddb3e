"""Where the server's memory per connected+joined client goes, and what a connect storm costs.

    .venv/bin/python benchmarks/channels_memory.py --clients 1000 [--trace] [--profile]

The server is ``benchmarks/channels.py``'s beamish endpoint, under uvicorn (the same
settings) in its own OS process; the clients (raw WebSocket clients, no deflate, one join
of ``room:bench`` each, 100 handshakes in flight) run in another. The server reports:

- RSS growth per client (as ``channels.py`` measures it; without ``--trace``, whose own
  bookkeeping would be counted);
- the live objects per client by type (``gc.get_objects`` before and after, so only what
  the GC tracks: containers, frames, coroutines, tasks, instances; not str/bytes/int);
- with ``--trace``: ``tracemalloc``'s bytes per client, grouped by the allocating line and
  by the first frame in beamish (or uvicorn/websockets, anyio, asyncio) of the traceback;
- the connect storm: clients/s, and the cyclic GC's collections and total pause during
  it (``gc.callbacks``), by generation;
- with ``--profile``: a cProfile of the storm in the server (top functions by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve()
ROOM = "room:bench"


def _bench_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_channels", HERE.parent / "channels.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_channels"] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


# -- the server ------------------------------------------------------------------------------


class GcTimer:
    """Collections and pause time of the cyclic GC, by generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            took = time.perf_counter() - self._began
            generation = info["generation"]
            self.count[generation] += 1
            self.seconds[generation] += took
            self.longest = max(self.longest, took)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


def _type_counts() -> collections.Counter[str]:
    gc.collect()
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return counts


def _where(traceback: tracemalloc.Traceback) -> str:
    """The most telling frame of an allocation: the innermost in beamish, else the
    innermost in the web stack, else the innermost."""
    for wanted in ("beamish/", "uvicorn/", "websockets/", "anyio/", "asyncio/"):
        for frame in reversed(traceback):  # innermost first
            if wanted in frame.filename:
                name = frame.filename.split("site-packages/")[-1].split("/wt/chmem/")[-1]
                return f"{name}:{frame.lineno}"
    frame = traceback[0]
    return f"{frame.filename}:{frame.lineno}"


def _trace_diff(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int) -> Any:
    by_line = after.compare_to(before, "lineno")
    lines = [
        (
            f"{s.traceback[0].filename.split('site-packages/')[-1]}:{s.traceback[0].lineno}",
            s.size_diff / n,
            s.count_diff / n,
        )
        for s in by_line[:40]
    ]
    by_where: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for s in after.compare_to(before, "traceback"):
        cell = by_where[_where(s.traceback)]
        cell[0] += s.size_diff / n
        cell[1] += s.count_diff / n
    where = sorted(((k, v[0], v[1]) for k, v in by_where.items()), key=lambda x: -x[1])
    by_file: dict[str, float] = collections.defaultdict(float)
    for k, size, _count in where:
        by_file[k.rsplit(":", 1)[0]] += size
    files = sorted(by_file.items(), key=lambda x: -x[1])
    total = sum(s.size_diff for s in by_line) / n
    return {"total": total, "lines": lines, "where": where[:50], "files": files}


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: uvicorn's WebSocket and one task per connection, no channels at all (it
    answers the join with a canned reply, then reads until the client goes)."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        ref = json.loads(message["text"])[1]
        reply = ["1", ref, ROOM, "phx_reply", {"status": "ok", "response": {}}]
        await send({"type": "websocket.send", "text": json.dumps(reply)})


async def _serve(port: int, trace: bool, profile: bool, floor: bool) -> None:
    import uvicorn

    bench = _bench_module()
    app = floor_app if floor else bench.beamish_app()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="off" if floor else "on",
        backlog=4096,
        ws_ping_interval=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    timer = GcTimer()
    gc.callbacks.append(timer)
    if os.environ.get("CHMEM_GC0"):  # an experiment: a fixed generation-0 threshold
        gc.set_threshold(int(os.environ["CHMEM_GC0"]), *gc.get_threshold()[1:])
    proc = psutil.Process()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    state: dict[str, Any] = {}
    profiler: Any = None

    def say(**what: Any) -> None:
        print(json.dumps(what), flush=True)

    say(ready=True)
    while True:
        command = (await lines.get()).strip()
        if command == "base":
            counts = _type_counts()
            if trace:
                tracemalloc.start(16)
                state["snapshot"] = tracemalloc.take_snapshot()
            state["counts"] = counts
            state["rss"] = proc.memory_info().rss
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            timer.reset()
            say(based=True, objects=sum(counts.values()))
        elif command.startswith("measure"):
            n = int(command.split()[1])
            if profiler is not None:
                profiler.disable()
            gcs = {"count": [*timer.count], "seconds": [*timer.seconds], "longest": timer.longest}
            rss = proc.memory_info().rss
            report: dict[str, Any] = {"rss_per_client": (rss - state["rss"]) / n, "gc": gcs}
            if trace:
                snapshot = tracemalloc.take_snapshot()
                tracemalloc.stop()
                report["trace"] = _trace_diff(state["snapshot"], snapshot, n)
            counts = _type_counts()
            counts.subtract(state["counts"])
            report["objects"] = [(k, v / n) for k, v in counts.most_common(40) if v > 0]
            report["objects_total"] = sum(v for v in counts.values() if v > 0) / n
            if os.environ.get("CHMEM_REFERRERS"):  # who holds the objects of one type
                wanted = os.environ["CHMEM_REFERRERS"]
                holders: collections.Counter[str] = collections.Counter()
                for obj in gc.get_objects():
                    if type(obj).__qualname__ == wanted:
                        for ref in gc.get_referrers(obj):
                            holders[type(ref).__qualname__] += 1
                report["holders"] = holders.most_common(10)
            if profiler is not None:
                import io
                import pstats

                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(35)
                report["profile"] = out.getvalue()
            say(**report)
        else:
            break
    server.should_exit = True
    await task


# -- the clients -----------------------------------------------------------------------------


async def _load(port: int, n: int) -> None:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
    gate = asyncio.Semaphore(100)
    stop = asyncio.Event()
    joined = 0
    all_joined = asyncio.Event()
    errors: list[str] = []

    async def one() -> None:
        nonlocal joined
        try:
            async with gate:
                ws = await connect(url, open_timeout=120, compression=None)
                await ws.send(json.dumps(["1", "1", ROOM, "phx_join", {}]))
                reply = json.loads(await ws.recv())
                if reply[3] != "phx_reply" or reply[4]["status"] != "ok":
                    raise RuntimeError(f"join refused: {reply}")
            joined += 1
            if joined == n:
                all_joined.set()
            async with ws:
                await stop.wait()
        except Exception as exc:
            errors.append(repr(exc))
            all_joined.set()

    start = time.time()
    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await all_joined.wait()
    print(
        json.dumps({"joined": joined, "start": start, "end": time.time(), "errors": errors[:3]}),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    stop.set()
    await asyncio.wait(tasks, timeout=30)


# -- the orchestra ---------------------------------------------------------------------------


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def _ask(proc: subprocess.Popen[str], command: str | None = None) -> dict[str, Any]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    if command is not None:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{proc.args!r} ended ({proc.poll()})")
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]


def _tell(proc: subprocess.Popen[str], command: str) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.write(command + "\n")
        proc.stdin.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc breakdown")
    parser.add_argument("--profile", action="store_true", help="cProfile of the storm")
    parser.add_argument("--floor", action="store_true", help="uvicorn alone: no channels")
    args = parser.parse_args()
    bench = _bench_module()
    port = bench.free_port()
    flags = [f"--{f}" for f in ("trace", "profile", "floor") if getattr(args, f)]
    server = _spawn("serve", str(port), *flags)
    loader = None
    try:
        _ask(server)
        time.sleep(1.0)
        base = _ask(server, "base")
        loader = _spawn("load", str(port), str(args.clients))
        hello = _ask(loader)
        if hello["errors"] or hello["joined"] != args.clients:
            raise RuntimeError(f"connect failed: {hello}")
        rate = args.clients / (hello["end"] - hello["start"])
        report = _ask(server, f"measure {args.clients}")
    finally:
        if loader is not None:
            _tell(loader, "quit")
            loader.wait(60)
        _tell(server, "quit")
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    print(
        f"{args.clients} clients: connected+joined {rate:,.0f}/s; "
        f"RSS growth {report['rss_per_client']:,.0f} B/client"
        + (" (tracemalloc on: inflated)" if args.trace else "")
    )
    g = report["gc"]
    print(
        f"GC during the storm: collections by generation {g['count']}, "
        f"seconds {[round(s, 3) for s in g['seconds']]}, longest {g['longest'] * 1000:.1f} ms"
    )
    print(
        f"\nGC-tracked objects per client: {report['objects_total']:.1f} "
        f"(the server held {base['objects']:,} before the clients came)"
    )
    for name, per in report["objects"]:
        if per >= 0.05:
            print(f"  {per:7.2f}  {name}")
    if "holders" in report:
        print(f"held by: {report['holders']}")
    if "trace" in report:
        trace = report["trace"]
        print(f"\ntracemalloc: {trace['total']:,.0f} B/client; by file of the innermost frame in")
        print("beamish, else uvicorn, websockets, anyio, asyncio:")
        for where, size in trace["files"]:
            if size >= 16:
                print(f"  {size:8,.0f} B  {where}")
        print("\nby line (the same frame):")
        for where, size, count in trace["where"]:
            if size >= 16:
                print(f"  {size:8,.0f} B {count:6.1f} blocks  {where}")
        print("\nby allocating line:")
        for where, size, count in trace["lines"]:
            if size >= 16:
                print(f"  {size:8,.0f} B {count:6.1f} blocks  {where}")
    if "profile" in report:
        print(report["profile"])


if __name__ == "__main__":
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        flags = sys.argv[3:]
        asyncio.run(
            _serve(int(sys.argv[2]), "--trace" in flags, "--profile" in flags, "--floor" in flags)
        )
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        asyncio.run(_load(int(sys.argv[2]), int(sys.argv[3])))
    else:
        main()
