"""``python -m beamish top`` against a node running in another OS process."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from beamish import Pid
from beamish.observe._info import NodeSnapshot, ProcessDetails
from beamish.observe._top import render, sort_processes

from .topnode import BACKLOG

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "observe-top-cookie"
WAIT = 30  # seconds: a node starting on a loaded machine, a frame taking its interval


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A node OS process with a tree, a counter and a backlog; its name and environment."""
    name = f"watched{os.getpid()}@localhost"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beamish",
            "run",
            "tests.observe.topnode:main",
            "--name",
            name,
            "--cookie",
            COOKIE,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], WAIT)
        assert ready, "the watched node did not start"
        line = process.stdout.readline().strip()
        assert line == "READY", f"{line!r}: {process.stderr.read() if process.stderr else ''}"
        yield name, env
    finally:
        process.kill()
        process.communicate(timeout=WAIT)  # reaps it and closes its pipes


def top(name: str, env: dict[str, str], *extra: str) -> list[str]:
    """Run ``top --once`` against ``name``; the lines it printed."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "beamish",
            "top",
            "--node",
            name,
            "--cookie",
            COOKIE,
            "--once",
            "--interval",
            "0.2",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def row(lines: list[str], name: str) -> list[str]:
    [line] = [line for line in lines if f" {name} " in line]
    return line.split()


def test_top_once_shows_the_node_sorted_by_mailbox(node: tuple[str, dict[str, str]]) -> None:
    """One frame names the node, and the process with the longest mailbox comes first."""
    name, env = node
    lines = top(name, env)
    assert lines[0].startswith(f"beamish top  {name}")
    assert "sorted by mailbox" in lines[2]
    first = lines[5].split()
    assert first[1] == "backlog"
    assert int(first[4]) == BACKLOG
    counter = row(lines, "counter")
    assert counter[2] == "Counter"
    assert int(counter[-2]) >= 5  # the casts it handled
    assert row(lines, "app")[2] == "App"


def test_top_refuses_a_wrong_cookie(node: tuple[str, dict[str, str]]) -> None:
    """A wrong cookie is a one-line error and exit status 1, not a hang."""
    name, env = node
    done = subprocess.run(
        [sys.executable, "-m", "beamish", "top", "--node", name, "--cookie", "wrong", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 1
    assert "beamish top:" in done.stderr


def test_top_live_quits_on_q(node: tuple[str, dict[str, str]]) -> None:
    """Under a terminal, top redraws until ``q``; ``m`` re-sorts by memory first."""
    name, env = node
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beamish",
            "top",
            "--node",
            name,
            "--cookie",
            COOKIE,
            "--interval",
            "0.2",
        ],
        cwd=ROOT,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    try:
        seen = read_until(leader, b"sorted by mailbox")
        assert name.encode() in seen
        os.write(leader, b"m")
        read_until(leader, b"sorted by memory")
        os.write(leader, b"q")
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)
        os.close(leader)


def read_until(fd: int, wanted: bytes) -> bytes:
    """What the terminal showed up to and including ``wanted`` (fails after ``WAIT``)."""
    seen = b""
    deadline = time.monotonic() + WAIT
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {wanted!r}; saw {seen[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 65536)
    return seen


def details(serial: int, mailbox: int, memory: int, messages: int | None) -> ProcessDetails:
    return ProcessDetails(
        pid=Pid("a@h", serial, 0),
        name=f"p{serial}",
        status="waiting",
        message_queue_len=mailbox,
        memory=memory,
        links=(),
        monitors=(),
        monitored_by=(),
        trap_exits=False,
        calling=None,
        messages=messages,
    )


def test_sorts() -> None:
    """Each sort puts its busiest first; an unknown sort is refused."""
    procs = (details(1, 5, 100, 1), details(2, 0, 900, 2), details(3, 1, 10, 50))
    rates = {procs[2].pid: 10.0, procs[1].pid: 1.0}
    assert [p.pid.serial for p in sort_processes(procs, rates, "mailbox")] == [1, 3, 2]
    assert [p.pid.serial for p in sort_processes(procs, rates, "memory")] == [2, 1, 3]
    assert [p.pid.serial for p in sort_processes(procs, rates, "rate")] == [3, 2, 1]
    with pytest.raises(ValueError, match="sort by"):
        sort_processes(procs, rates, "name")


def test_render_fits_the_terminal() -> None:
    """No line is wider than the terminal, and rows stop at its height."""
    procs = tuple(details(n, n, n * 10, n) for n in range(100))
    frame = NodeSnapshot("a@h", 0.0, 1, 1 << 30, procs)
    lines = render(frame, {}, "mailbox", width=50, height=12, clock=lambda t: "00:00:00")
    assert len(lines) == 12
    assert all(len(line) <= 50 for line in lines)
    assert lines[1].startswith("processes 100  rss 1.0 GiB")
    assert lines[5].split()[1] == "p99"
