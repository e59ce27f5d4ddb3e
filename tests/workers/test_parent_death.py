"""Workers never outlive their parent: SIGKILL the parent (a real process) and watch."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import psutil
import pytest
from workerkit import getpid, running_pool

import beamish
from beamish.workers._executor import loop_poster

pytestmark = pytest.mark.timeout(60)

APP = Path(__file__).with_name("parentapp.py")
BOUND = 15.0  # seconds: the orderly path takes well under one; the stdin watchdog five
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")


Parent = tuple[subprocess.Popen[str], list[psutil.Process]]


@contextlib.contextmanager
def parent_node(size: int, *mode: str) -> Iterator[Parent]:
    """A parent node (``parentapp.py``) with ``size`` workers; kills whatever is left."""
    parent = subprocess.Popen(
        [sys.executable, str(APP), str(size), *mode],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        text=True,
    )
    workers: list[psutil.Process] = []
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        word, *pids = line.split()
        assert word == "WORKERS", line
        assert len(pids) == size, line
        workers.extend(psutil.Process(int(p)) for p in pids)
        assert all(w.ppid() == parent.pid for w in workers)
        yield parent, workers
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for worker in workers:  # a worker that outlived the test must not burn on
            if worker.is_running():
                worker.kill()
        if parent.stdout is not None:
            parent.stdout.close()


def test_workers_exit_when_their_parent_is_sigkilled() -> None:
    with parent_node(3) as (parent, workers):
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=BOUND)
        assert alive == [], f"workers outlived their parent: {alive}"


@linux_only
def test_workers_in_a_gil_holding_call_exit_when_their_parent_is_sigkilled() -> None:
    """Neither the connection nor the stdin watchdog can run while a C call holds the
    GIL; the kernel's parent-death signal still ends the worker at once."""
    with parent_node(2, "busy") as (parent, workers):
        assert parent.stdout is not None
        assert [parent.stdout.readline() for _ in workers] == ["BUSY\n"] * len(workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=BOUND)
        assert alive == [], f"workers outlived their parent: {alive}"


def _trio_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("Trio thread", "trio."))]


@linux_only
def test_a_worker_outlives_the_thread_that_forked_it() -> None:
    """The parent-death signal fires when the *thread* that forked a worker ends: trio's
    cached threads end after ten idle seconds, and the workers must not end with them."""

    async def main() -> None:
        async with running_pool(size=1) as pool:
            os_pid = await pool.run(getpid)
            gone = anyio.Event()
            post = loop_poster()
            threads = _trio_threads()

            def join_them() -> None:
                for thread in threads:
                    thread.join()
                post(gone.set)

            threading.Thread(target=join_them, name="join-trio-threads", daemon=True).start()
            with anyio.fail_after(30):
                await gone.wait()
            assert psutil.pid_exists(os_pid)
            assert await pool.run(getpid) == os_pid

    beamish.run(main, backend="trio")
