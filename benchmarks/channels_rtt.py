"""Push-reply round trips only, for working on them: interleaved rounds, CPU per round trip,
and a profile of the server.

    .venv/bin/python benchmarks/channels_rtt.py [--peers beamish,django] [--pairs 5]
    .venv/bin/python benchmarks/channels_rtt.py --peers beamish,beamish@/tmp/main --pairs 5
    .venv/bin/python benchmarks/channels_rtt.py --peers beamish --profile /tmp/rtt.prof

The servers, the client and the round-trip phase of ``benchmarks/channels.py`` (imported
from it): ``--clients`` clients (100) connect and join, then each pushes and awaits the reply
in a loop (a 1 s warm-up, then ``--seconds``), spread over ``--loaders`` OS processes; no
memory or fan-out phases, so that a round takes seconds. Each round starts a fresh server.
Besides round trips/s, p50 and p99, it reports the CPU time of the server and of the
loaders per round trip (psutil), which the load of a shared machine moves less than rates.

A peer ``beamish@DIR`` runs the beamish server from another checkout (``git worktree add
DIR main``): before/after pairs in one run. ``--profile FILE`` runs each peer's server once
under cProfile (the round-trip window only; on asyncio's loop rather than uvloop, to count
its passes) and prints the loop passes and Python calls per round trip and the top functions.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve()
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]  # see channels.py
_spec = importlib.util.spec_from_file_location("bench_channels", HERE.parent / "channels.py")
assert _spec is not None
assert _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_channels"] = bench  # dataclasses look their module up
_spec.loader.exec_module(bench)


def install_profiler(out: str) -> None:
    """cProfile this process between SIGUSR1 (start) and SIGUSR2 (stop, write ``out``), and
    count asyncio's loop passes meanwhile (so: asyncio's loop here, not uvloop)."""
    import asyncio
    import cProfile

    profile = cProfile.Profile()
    passes = [0]
    run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]  # noqa: SLF001

    def counted(self: Any) -> None:
        passes[0] += 1
        run_once(self)

    asyncio.base_events.BaseEventLoop._run_once = counted  # type: ignore[attr-defined]  # noqa: SLF001
    sys.modules["uvloop"] = None  # type: ignore[assignment]

    def start(*_: Any) -> None:
        passes[0] = 0
        profile.enable()

    def stop(*_: Any) -> None:
        profile.disable()
        profile.dump_stats(out)
        Path(out + ".passes").write_text(str(passes[0]))

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


class Child(bench.Child):  # type: ignore[name-defined,misc]
    """channels.py's child process, started with any argv and environment."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ps = psutil.Process(self.proc.pid)


def one_round(
    spec: str, clients: int, loaders: int, seconds: float, profile: str | None
) -> dict[str, Any]:
    peer, _, tree = spec.partition("@")  # beamish@DIR: the server imports beamish from DIR
    env = dict(os.environ, PYTHONPATH=tree) if tree else None
    port = bench.free_port()
    if profile:
        server = Child([str(HERE), "profiled", profile, "serve", peer, str(port)], env)
    else:
        server = Child([str(bench.HERE), "serve", peer, str(port)], env)
    share = [clients // loaders + (i < clients % loaders) for i in range(loaders)]
    children: list[Any] = []
    try:
        bench.wait_serving(port, server)
        children = [bench.Child("load", peer, str(port)) for _ in share]
        for child in children:
            child.read(60)
        deadline = time.monotonic() + 120
        for child, k in zip(children, share, strict=True):
            for cmd, extra in (("connect", {"n": k}), ("join", {"skip": 0})):
                done = child.ask(
                    150, cmd=cmd, concurrency=64, timeout=60, deadline=deadline, **extra
                )
                if done["ok"] != k:
                    raise RuntimeError(f"{spec}: {cmd}: {done['ok']} of {k}: {done['errors']}")
        if profile:
            os.kill(server.proc.pid, signal.SIGUSR1)
        cpus = [c.cpu() for c in (server, *children)]
        start = time.monotonic() + 0.3
        until = start + 1.0 + seconds
        command = {"cmd": "rtt", "start": start, "warmup": 1.0, "until": until}
        done = bench.ask_all(children, seconds + 60, [{**command, "clients": k} for k in share])
        used = [c.cpu() - u for c, u in zip((server, *children), cpus, strict=True)]
        wall = until - start  # CPU over the whole phase, warm-up included
        latencies = sorted(x for d in done for x in d["latencies"])
        span = max(d["end"] for d in done) - min(d["begin"] for d in done)
        rate = len(latencies) / span
        out = {
            "rate": rate,
            "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)],
            "failed": sum(d["failed"] for d in done),
            "server_us": used[0] / (rate * wall) * 1e6,
            "client_us": sum(used[1:]) / (rate * wall) * 1e6,
        }
        if profile:
            os.kill(server.proc.pid, signal.SIGUSR2)
            for _ in range(100):
                if Path(profile + ".passes").exists():
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            out["passes"] = int(Path(profile + ".passes").read_text())
            out["trips"] = rate * wall
        return out
    finally:
        bench.stop_all(server, children)


ROWS = (("rate", "/s", True), ("p50", " ms", False), ("p99", " ms", False))
CPU_ROWS = (("server_us", " us", False), ("client_us", " us", False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers", default="beamish,django")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--profile", help="cProfile each peer's server into FILE.<peer>")
    args = parser.parse_args()
    peers = args.peers.split(",")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    if args.profile:
        import pstats

        for peer in peers:
            out = f"{args.profile}.{peer.replace('/', '_')}"
            Path(out + ".passes").unlink(missing_ok=True)
            r = one_round(peer, args.clients, args.loaders, args.seconds, out)
            trips = r["trips"]
            stats = pstats.Stats(out)
            calls = stats.total_calls / trips  # type: ignore[attr-defined]
            print(
                f"{peer}: {r['rate']:,.0f}/s under the profiler; per round trip: "
                f"{r['passes'] / trips:.2f} loop passes, {calls:.0f} Python calls"
            )
            stats.sort_stats("tottime").print_stats(30)
        return
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
    order = list(peers)
    for r in range(args.pairs):
        for peer in order:
            f = one_round(peer, args.clients, args.loaders, args.seconds, None)
            results[peer].append(f)
            print(
                f"round {r + 1} {peer}: {f['rate']:,.0f}/s p50 {f['p50']:.1f} ms "
                f"p99 {f['p99']:.1f} ms; CPU per round trip: server {f['server_us']:.0f} us, "
                f"loaders {f['client_us']:.0f} us; failed {f['failed']} "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        order.reverse()
    base = peers[0]
    print(f"\nmedians; {base}/peer per round: median [min-max]")
    for key, unit, higher in ROWS + CPU_ROWS:
        cells = [f"{p} {statistics.median(f[key] for f in results[p]):,.1f}{unit}" for p in peers]
        for p in peers[1:]:
            ratios = [a[key] / b[key] for a, b in zip(results[base], results[p], strict=True)]
            cells.append(
                f"{base}/{p} {statistics.median(ratios):.2f}x "
                f"[{min(ratios):.2f}-{max(ratios):.2f}]" + ("" if higher else " (lower is better)")
            )
        print(f"{key}: " + "; ".join(cells))
    print(f"end load {os.getloadavg()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "profiled":  # profiled OUT serve PEER PORT
        install_profiler(sys.argv[2])
        bench.serve(sys.argv[4], int(sys.argv[5]))
    else:
        main()
