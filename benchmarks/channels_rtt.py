"""Push-reply round trips only, for working on them: interleaved rounds, and a profile.

    .venv/bin/python benchmarks/channels_rtt.py [--peers beamish_raw,django] [--pairs 5]
    .venv/bin/python benchmarks/channels_rtt.py --peers beamish_raw --profile /tmp/rtt.prof

The same servers, clients and round-trip workload as ``benchmarks/channels.py`` (imported
from it: 100 clients in one loader OS process, each pushing ``{"i": n}`` and awaiting the
reply in a loop), without the connect, memory and fan-out phases, so that one round takes
seconds. Each round starts a fresh server. A peer ``beamish_raw@DIR`` runs beamish (server and
client) from another checkout (``git worktree add DIR main``): before/after pairs in one run.
``--profile FILE`` runs the server and the loader under cProfile (one round per peer; the
round-trip window only; on asyncio's loop rather than uvloop, to count its passes) and
prints the top functions and the loop passes per round trip.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import statistics
import subprocess
import sys
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
_spec.loader.exec_module(bench)


def install_profiler(out: str) -> None:
    """cProfile this process between SIGUSR1 (start) and SIGUSR2 (stop, write ``out``), and
    count asyncio's loop passes meanwhile (so: asyncio's loop here, not uvloop)."""
    import asyncio
    import cProfile
    import signal

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


def one_round(spec: str, seconds: float, profile: str | None) -> dict[str, float]:
    peer, _, tree = spec.partition("@")  # beamish_raw@DIR: the server imports beamish from DIR
    env = dict(os.environ, PYTHONPATH=tree) if tree else None
    port = bench.free_port()
    kind = peer.split("_")[0]
    if profile:
        args = [sys.executable, str(HERE), "profiled", profile + ".server", "serve", kind]
    else:
        args = [sys.executable, str(bench.HERE), "serve", kind]
    server = subprocess.Popen([*args, str(port)], text=True, env=env)
    loader: Any = None
    try:
        bench.wait_serving(port, server)
        saved = os.environ.get("PYTHONPATH")
        if tree:  # the loader's client from that checkout too
            os.environ["PYTHONPATH"] = tree
        try:
            loader = bench.Proc("load", peer, str(port), str(bench.RTT_CLIENTS))
        finally:
            if tree:
                if saved is None:
                    del os.environ["PYTHONPATH"]
                else:
                    os.environ["PYTHONPATH"] = saved
        if profile:  # the same loader, profiled: Proc runs channels.py, so swap the process
            loader.proc.stdin.close()
            loader.proc.wait()
            loader.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE),
                    "profiled",
                    profile + ".client",
                    "load",
                    peer,
                    str(port),
                    str(bench.RTT_CLIENTS),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        hello = loader.read()
        if hello["errors"] or hello["connected"] != bench.RTT_CLIENTS:
            raise RuntimeError(f"{peer}: connect failed: {hello}")
        if profile:
            for proc in (server, loader.proc):
                os.kill(proc.pid, signal.SIGUSR1)
        cpus = [psutil.Process(server.pid), psutil.Process(loader.proc.pid)]
        before = [sum(c.cpu_times()[:2]) for c in cpus]
        rtt = loader.ask(cmd="rtt", clients=bench.RTT_CLIENTS, seconds=seconds)
        used = [sum(c.cpu_times()[:2]) - b for c, b in zip(cpus, before, strict=True)]
        trips = rtt["rate"] * seconds
        rtt["server_us"], rtt["client_us"] = (u / trips * 1e6 for u in used)
        if profile:
            for proc in (server, loader.proc):
                os.kill(proc.pid, signal.SIGUSR2)
            time.sleep(2.0)  # let them write the stats
            for side in ("server", "client"):
                rtt[f"{side}_passes"] = int(Path(f"{profile}.{side}.passes").read_text())
            rtt["trips"] = trips
        return rtt  # type: ignore[no-any-return]
    finally:
        if loader is not None:
            with contextlib.suppress(Exception):
                loader.ask(cmd="quit")
            loader.stop()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", default="beamish_raw,django")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--profile", default=None, help="cProfile the server into FILE.<peer>")
    args = parser.parse_args()
    peers = args.peers.split(",")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    if args.profile:
        import pstats

        for peer in peers:
            out = f"{args.profile}.{peer}"
            r = one_round(peer, args.seconds, out)
            trips = r["trips"]
            print(f"{peer}: {r['rate']:,.0f}/s (under the profiler), {trips:,.0f} round trips")
            for side in ("server", "client"):
                stats = pstats.Stats(f"{out}.{side}")
                calls = stats.total_calls / trips  # type: ignore[attr-defined]
                print(
                    f"== {side}: {r[side + '_passes'] / trips:.2f} loop passes and {calls:.0f} "
                    "Python calls per round trip"
                )
                stats.sort_stats("tottime").print_stats(30)
        return
    results: dict[str, list[dict[str, float]]] = {p: [] for p in peers}
    order = list(peers)
    for r in range(args.pairs):
        for peer in order:
            f = one_round(peer, args.seconds, None)
            results[peer].append(f)
            print(
                f"round {r + 1} {peer:12} {f['rate']:,.0f}/s p50 {f['p50'] * 1000:.1f} ms "
                f"p99 {f['p99'] * 1000:.1f} ms; CPU per round trip: server "
                f"{f['server_us']:.0f} us, client {f['client_us']:.0f} us "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        order.reverse()
    base = peers[0]
    rows = (
        ("rate", True),
        ("p50", False),
        ("p99", False),
        ("server_us", False),
        ("client_us", False),
    )
    for key, higher in rows:
        cells = []
        for p in peers:
            median = statistics.median(f[key] for f in results[p])
            shown = {
                "rate": f"{median:,.0f}/s",
                "server_us": f"{median:.0f} us",
                "client_us": f"{median:.0f} us",
            }
            cells.append(f"{p} " + shown.get(key, f"{median * 1000:.1f} ms"))
        for p in peers[1:]:
            ratios = [a[key] / b[key] for a, b in zip(results[base], results[p], strict=True)]
            cells.append(
                f"{base}/{p} {statistics.median(ratios):.2f}x "
                f"[{min(ratios):.2f}-{max(ratios):.2f}]" + ("" if higher else " (lower is better)")
            )
        print(f"{key}: " + "; ".join(cells))
    print(f"end load {os.getloadavg()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "profiled":  # profiled OUT serve|load ARGS...
        install_profiler(sys.argv[2])
        sys.argv = [str(bench.HERE), *sys.argv[3:]]
        if sys.argv[1] == "serve":
            bench.serve(sys.argv[2], int(sys.argv[3]))
        else:
            import asyncio

            asyncio.run(bench.load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        main()
