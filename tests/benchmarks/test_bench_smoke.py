"""The kernel benchmark runs end to end in its quick mode (no timing assertions)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kernel.py"


@pytest.mark.timeout(300)
def test_kernel_benchmark_quick_prints_every_workload():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--loop", "asyncio"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for workload in ("W1", "W2", "W3", "W5", "W6"):
        assert any(line.startswith(f"{workload} ") and "ratio" in line for line in lines), (
            workload,
            proc.stdout,
        )


SUPERVISION = SCRIPT.with_name("supervision.py")


@pytest.mark.timeout(300)
def test_supervision_benchmark_quick_prints_every_workload():
    proc = subprocess.run(
        [sys.executable, str(SUPERVISION), "--quick", "--loop", "asyncio"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=SUPERVISION.parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for prefix in ("W4 one_for_one restarts", "W1 beamish.spawn", "DS Actor.start_link"):
        assert any(line.startswith(prefix) and "ratio" in line for line in lines), (
            prefix,
            proc.stdout,
        )
    # DynamicSupervisor: measured, or skipped with a "not available" line.
    assert any(line.startswith("DS DynamicSupervisor") for line in lines), proc.stdout
    assert any("reference (figure from the issue" in line for line in lines), proc.stdout


CLUSTER = SCRIPT.with_name("cluster.py")


@pytest.mark.timeout(300)
def test_cluster_benchmark_quick_prints_every_workload():
    """The distribution benchmark runs end to end in its quick mode (no timing assertions)."""
    proc = subprocess.run(
        [sys.executable, str(CLUSTER), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=CLUSTER.parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for prefix in ("C1 remote casts", "C2 remote calls"):
        assert any(line.startswith(prefix) and "ratio" in line for line in lines), (
            prefix,
            proc.stdout,
        )
    # pubsub: measured, or skipped with a line that says why.
    assert any(line.startswith("C3 pubsub") for line in lines), proc.stdout


WORKERS = SCRIPT.with_name("workers.py")


@pytest.mark.timeout(120)
def test_workers_benchmark_quick_prints_every_workload():
    """The worker-pool benchmark runs end to end in its quick mode (no timing assertions)."""
    proc = subprocess.run(
        [sys.executable, str(WORKERS), "--quick", "--size", "2"],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=WORKERS.parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for prefix in ("P1 calls to an actor", "P1 calls, 64 concurrent", "P2 pool.map", "P2 pool.run"):
        assert any(line.startswith(prefix) and "ratio" in line for line in lines), (
            prefix,
            proc.stdout,
        )
    assert any(line.startswith("P3 SIGKILL -> replacement up") for line in lines), proc.stdout
    assert any(line.startswith("P3 SIGKILL -> first run") and "PPE" in line for line in lines), (
        proc.stdout
    )
    # the worker tasks travel by reference, as a function in a user's module would
    assert any("sent as 'workers:busy'" in line for line in lines), proc.stdout
    assert any(line.startswith("| P2 pool.map") for line in lines), proc.stdout
