"""Every benchmark runs end to end in its quick mode (no timing assertions)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def quick_run(script: str, *args: str, timeout: float = 280) -> list[str]:
    """The output lines of ``benchmarks/<script> --quick *args`` (which must succeed)."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCHMARKS.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def assert_measured(lines: list[str], *prefixes: str) -> None:
    """Each workload printed a line with its ratio to the baseline."""
    for prefix in prefixes:
        assert any(line.startswith(prefix) and "ratio" in line for line in lines), (
            prefix,
            "\n".join(lines),
        )


def assert_printed(lines: list[str], prefix: str, *also: str) -> None:
    assert any(line.startswith(prefix) and all(a in line for a in also) for line in lines), (
        prefix,
        "\n".join(lines),
    )


@pytest.mark.timeout(300)
def test_kernel_benchmark_quick_prints_every_workload():
    lines = quick_run("kernel.py", "--loop", "asyncio")
    assert_measured(lines, "W1 ", "W2 ", "W3 ", "W5 ", "W6 ")


@pytest.mark.timeout(300)
def test_supervision_benchmark_quick_prints_every_workload():
    lines = quick_run("supervision.py", "--loop", "asyncio")
    assert_measured(lines, "W4 one_for_one restarts", "W1 beamish.spawn", "DS Actor.start_link")
    # DynamicSupervisor: measured, or skipped with a "not available" line.
    assert_printed(lines, "DS DynamicSupervisor")
    assert any("reference (figure from the issue" in line for line in lines), lines


@pytest.mark.timeout(300)
def test_cluster_benchmark_quick_prints_every_workload():
    lines = quick_run("cluster.py")
    assert_measured(lines, "C1 remote casts", "C2 remote calls")
    # pubsub: measured, or skipped with a line that says why.
    assert_printed(lines, "C3 pubsub")


@pytest.mark.timeout(120)
def test_workers_benchmark_quick_prints_every_workload():
    lines = quick_run("workers.py", "--size", "2", timeout=100)
    assert_measured(
        lines, "P1 calls to an actor", "P1 calls, 64 concurrent", "P2 pool.map", "P2 pool.run"
    )
    assert_printed(lines, "P3 SIGKILL -> replacement up")
    assert_printed(lines, "P3 SIGKILL -> first run", "PPE")
    # the worker tasks travel by reference, as a function in a user's module would
    assert any("sent as 'workers:busy'" in line for line in lines), lines
    assert_printed(lines, "| P2 pool.map")


def test_watchdog_quick() -> None:
    """watchdog.py prints the on/off ratio of the loop-lag watchdog."""
    assert_printed(quick_run("watchdog.py"), "watchdog on/off", "median ratio", "spread")


def test_presence_benchmark_quick_prints_every_workload() -> None:
    """presence.py prints the tracker's figures against their baselines."""
    lines = quick_run("presence.py")
    assert_measured(lines, "P1 tracks/s", "P2 bytes per presence", "P3 list", "P4 3 nodes")


@pytest.mark.timeout(200)
def test_channels_benchmark_quick_prints_every_row() -> None:
    """channels.py: every client connects and joins, every row has a figure for every peer
    (the peers that are installed: beamish always)."""
    import importlib.metadata

    def installed(distribution: str) -> bool:  # by distribution: tests/channels is a package
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return False
        return True

    needs = {"socketio": ("python-socketio",), "django": ("django", "channels")}
    peers = ["beamish"] + [peer for peer, dists in needs.items() if all(map(installed, dists))]
    lines = quick_run("channels.py", "--clients", "40", "--peers", ",".join(peers), timeout=180)
    trouble = [line for line in lines if "FAILED" in line or "problems:" in line]
    assert not trouble, "\n".join(trouble)
    rounds = [line for line in lines if line.startswith("round 1 ")]
    assert len(rounds) == len(peers), lines
    assert all("joined 40 of 40" in r for r in rounds), lines
    for row in (
        "server memory per",
        "connections accepted",
        "joins",
        "fan-out: deliveries/s of",
        "fan-out: deliveries/s over",
        "push-reply round trips",
        "round trip p99",
    ):
        cells = next(line for line in lines if line.startswith(f"| {row}")).split(" | ")
        assert all(c[0].isdigit() for c in cells[1 : 1 + len(peers)]), (row, lines)
