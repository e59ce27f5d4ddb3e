"""How long a node takes to see a peer go: a closed socket, and a silent peer.

    python benchmarks/detection.py [--rounds 5] [--heartbeat 0.5]

A peer node runs in a child OS process on 127.0.0.1; this process connects to it,
``monitor_node``s it, and then either kills it with SIGKILL (its kernel closes the socket:
the connection sees the end of the stream) or freezes it with SIGSTOP (the socket stays
open and nothing comes: only the heartbeat can tell). It reports the time from the signal
to ``NodeDown``: median, min and max over the rounds, in milliseconds and in heartbeat
intervals. The signal lands at a random phase of the heartbeat.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import beamish  # noqa: E402
from beamish import cluster  # noqa: E402

COOKIE = "detection-benchmark"
PEER = """
import sys
import beamish
from beamish import cluster

async def main():
    print(cluster.this_cluster().address, flush=True)
    await beamish.receive()

beamish.run(main, name="peer@127.0.0.1", cluster={
    "cookie": %r, "listen": "127.0.0.1:0", "discovery": False, "heartbeat": %r})
"""


def start_peer(heartbeat: float) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    peer = subprocess.Popen(
        [sys.executable, "-c", PEER % (COOKIE, heartbeat)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert peer.stdout is not None
    return peer, peer.stdout.readline().strip()


async def one_round(heartbeat: float, how: signal.Signals) -> float:
    """Seconds from sending ``how`` to the peer until ``NodeDown`` arrives here."""
    peer, address = start_peer(heartbeat)
    try:
        name = await cluster.connect(address)
        cluster.monitor_node(name)
        # a few heartbeats cross first (a steady link); the signal lands at a random phase
        await beamish.sleep(2 * heartbeat + random.uniform(0, heartbeat))
        began = time.perf_counter()
        os.kill(peer.pid, how)
        await beamish.receive(lambda m: isinstance(m, cluster.NodeDown), timeout=60)
        return time.perf_counter() - began
    finally:
        peer.kill()
        peer.wait()


async def main(rounds: int, heartbeat: float) -> None:
    print(
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, heartbeat {heartbeat}s, {rounds} rounds"
    )
    for label, how in (
        ("closed socket (SIGKILL)", signal.SIGKILL),
        ("silent peer (SIGSTOP)", signal.SIGSTOP),
    ):
        times = [await one_round(heartbeat, how) for _ in range(rounds)]
        median = statistics.median(times)
        print(
            f"{label}: median {median * 1000:.1f} ms ({median / heartbeat:.2f} heartbeats), "
            f"min {min(times) * 1000:.1f} ms ({min(times) / heartbeat:.2f}), "
            f"max {max(times) * 1000:.1f} ms ({max(times) / heartbeat:.2f})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--heartbeat", type=float, default=0.5)
    options = parser.parse_args()
    beamish.run(
        main,
        options.rounds,
        options.heartbeat,
        name="watcher@127.0.0.1",
        cluster={
            "cookie": COOKIE,
            "listen": None,
            "discovery": False,
            "heartbeat": options.heartbeat,
        },
    )
