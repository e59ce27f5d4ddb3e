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
    """The demo logs a crash, a Down, a trapped Exit and an ordered shutdown, then exits 0."""
    done = run("-m", "beamish", "demo", "--seconds", "2", timeout=20)
    assert done.returncode == 0, done.stderr
    log = done.stderr
    for line in (
        "crashed: ZeroDivisionError",
        "Traceback",
        "main: Down from",
        "got Exit(",
        "shutting down in order",
        "terminate('normal')",
        "main: done after",
    ):
        assert line in log, line
