"""The examples and the CLI run end to end, each in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("ping_pong.py", "ping pong done after 3 rounds"),
        ("counter_actor.py", "counter actor done"),
        ("links_and_monitors.py", "trap_exits: got Exit with reason"),
        ("crunch.py", "supervisor restarted tally: new pid"),
        ("sessions_tour.py", "sessions tour done"),
    ],
)
def test_example_runs(script: str, expected: str) -> None:
    """Each example exits 0 and prints its key line."""
    done = run(f"examples/{script}")
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


def test_cli_help_lists_commands() -> None:
    """`python -m beamish --help` names both commands."""
    done = run("-m", "beamish", "--help")
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout
    assert "demo" in done.stdout


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cli_run_module_function(backend: str) -> None:
    """`python -m beamish run module:function` runs it as a node's main process."""
    done = run("-m", "beamish", "run", "examples.ping_pong:main", "--backend", backend)
    assert done.returncode == 0, done.stderr
    assert "ping pong done after 3 rounds" in done.stdout


def test_cli_run_rejects_a_bad_target() -> None:
    """A target without ``:function`` is a usage error, not a traceback."""
    done = run("-m", "beamish", "run", "examples.ping_pong")
    assert done.returncode != 0
    assert "module:function" in done.stderr


def test_cli_demo_ends_by_itself() -> None:
    """The demo logs the kernel part, then a supervised app: tree, restarts, ordered stop."""
    done = run("-m", "beamish", "demo", "--seconds", "2", timeout=20)
    assert done.returncode == 0, done.stderr
    log = done.stderr
    for line in (
        # the kernel: a crash, a Down, a trapped Exit
        "crashed: ZeroDivisionError",
        "Traceback",
        "main: Down from",
        "got Exit(",
        # the supervision tree, printed with which_children (nested)
        "tree of App",
        "  counter    worker     permanent",
        "  pipeline   supervisor permanent",
        "    parser   worker     permanent",
        # a one_for_one restart with a new pid and fresh state
        "crashed: RuntimeError: injected fault",
        "restarting 'counter' after RuntimeError: injected fault",
        "the new counter starts from 0: get -> 0",
        "main: done after",
    ):
        assert line in log, line
    lines = log.splitlines()

    def index(text: str, start: int = 0) -> int:
        return next(i for i in range(start, len(lines)) if text in lines[i])

    # the counter's restart shows as a new pid in the tree printed after it
    after_counter = index("tree of App", index("restarting 'counter'"))
    assert "<- new pid" in lines[after_counter + 1]
    assert "<- new pid" not in lines[after_counter + 2]
    # rest_for_one: parser and sink get new pids, source keeps its own
    after_parser = index("tree of App", index("restarting 'parser'"))
    stages = {line.split()[0]: line for line in lines[after_parser + 3 : after_parser + 6]}
    assert "<- new pid" not in stages["source"]
    assert "<- new pid" in stages["parser"]
    assert "<- new pid" in stages["sink"]
    # orderly shutdown: reverse start order, each child runs terminate
    stop = index("shutting down the tree in order")
    order = [index(f"{name} <", stop) for name in ("sink", "parser", "source", "counter")]
    assert order == sorted(order)
    assert all("terminate('shutdown')" in lines[i] for i in order)
    assert "final count 10" in lines[index("main: tree stopped", stop)]
