"""benchmarks/sessions.py runs end to end in its quick mode (no timing assertions)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sessions_benchmark_quick_run():
    """Each local workload prints its figure with the ratio to its baseline."""
    proc = subprocess.run(
        [sys.executable, "benchmarks/sessions.py", "--quick", "--only", "S1,S2,S3,S4"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for prefix in ("S1 starts", "S2 bytes per idle session", "S3 find", "S4 calls by id"):
        assert any(line.startswith(prefix) and "ratio" in line for line in lines), proc.stdout
