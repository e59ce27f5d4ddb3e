"""Workers never outlive their parent: SIGKILL the parent (a real process) and watch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.timeout(60)

APP = Path(__file__).with_name("parentapp.py")
BOUND = 15.0  # seconds: the orderly path takes well under one; the stdin watchdog five


def test_workers_exit_when_their_parent_is_sigkilled() -> None:
    parent = subprocess.Popen(
        [sys.executable, str(APP), "3"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        word, *pids = line.split()
        assert word == "WORKERS", line
        assert len(pids) == 3, line
        workers = [psutil.Process(int(p)) for p in pids]
        assert all(w.ppid() == parent.pid for w in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=BOUND)
        assert alive == [], f"workers outlived their parent: {alive}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
