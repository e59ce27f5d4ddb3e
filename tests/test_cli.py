"""`python -m beamish run` as a real OS process: signals, exit status, errors, logging."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START = 30  # seconds a child may take to print READY (imports on a loaded machine)
APP = "tests.runtime.cliapp"


def beamish_run(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `python -m beamish run ...`; it is killed after START seconds whatever happens,
    so a read from its pipes never blocks for longer."""
    child = subprocess.Popen(
        [sys.executable, "-m", "beamish", "run", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    deadline = threading.Timer(START, child.kill)
    deadline.daemon = True
    deadline.start()
    return child


def read_until(stream, text: str) -> list[str]:
    """The lines of ``stream`` up to the first one that contains ``text``."""
    lines = []
    for line in stream:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never came: {''.join(lines)}")


def finish(child: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = child.communicate(timeout=START)
    finally:
        child.kill()
    return child.returncode, out, err


def run_to_end(*args: str) -> tuple[int, str, str]:
    return finish(beamish_run(*args))


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_tree_in_order(tmp_path, backend, signum):
    """SIGTERM and SIGINT run every terminate (a supervisor's children in reverse order),
    print no traceback, and end the process by that signal."""
    log = tmp_path / "terminated.log"
    child = beamish_run(f"{APP}:serve", "--backend", backend, env={"CLIAPP_LOG": str(log)})
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "READY\n"  # bounded by finish() on failure
        child.send_signal(signum)
    finally:
        code, _out, err = finish(child)
    assert code == -signum, err
    lines = log.read_text().splitlines()
    assert sorted(lines) == sorted(f"{label} shutdown" for label in "abcxy"), err
    supervised = [line for line in lines if line[0] in "abc"]
    assert supervised == ["c shutdown", "b shutdown", "a shutdown"]
    assert "Traceback" not in err
    assert f"{signum.name}: stopping the node" in err


def test_a_second_signal_ends_the_process_at_once(backend):
    """While terminate hangs (shutdown timeout 600 s), a second SIGTERM ends the process."""
    child = beamish_run(f"{APP}:hang", "--backend", backend, "--shutdown-timeout", "600")
    try:
        assert child.stdout is not None
        assert child.stderr is not None
        assert child.stdout.readline() == "READY\n"
        child.send_signal(signal.SIGTERM)
        read_until(child.stderr, "TERMINATING")
        child.send_signal(signal.SIGTERM)
    finally:
        code, _out, err = finish(child)
    assert code == -signal.SIGTERM
    assert "SIGTERM again: exiting at once" in err


def test_a_crash_in_main_prints_its_traceback_once(backend):
    """main raising: exit status 1 and one traceback that ends in main's exception."""
    code, _out, err = run_to_end(f"{APP}:crash", "--backend", backend)
    assert code == 1
    assert err.count("Traceback") == 1, err
    assert err.count("ValueError: boom from main") == 1, err
    assert "anyio" not in err


def test_another_exit_reason_is_one_line_and_status_1(backend):
    """main exiting with a reason that is not an exception: one line, status 1."""
    code, _out, err = run_to_end(f"{APP}:give_up", "--backend", backend)
    assert code == 1
    assert "exited: gave_up" in err
    assert "Traceback" not in err


def test_a_supervisor_giving_up_exits_non_zero(backend):
    """main's supervisor reaching its restart intensity takes main down: status 1."""
    code, _out, err = run_to_end(f"{APP}:supervise_crasher", "--backend", backend)
    assert code == 1
    assert "reached max restart intensity" in err
    assert err.splitlines()[-1].endswith("exited: shutdown")


def test_a_port_in_use_is_one_clear_line():
    """A listen port already taken: status 1, one line naming the error, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _out, err = run_to_end(
            f"{APP}:heartbeat", "--name", "busy@127.0.0.1", "--cookie", "c",
            "--listen", f"127.0.0.1:{port}", "--no-discovery",
        )  # fmt: skip
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("beamish run: the node could not start: ")
    assert "in use" in line


def test_a_garbage_listen_address_is_one_clear_line():
    """--listen garbage: status 1, one line, no traceback."""
    code, _out, err = run_to_end(
        f"{APP}:heartbeat", "--name", "bad@127.0.0.1", "--cookie", "c",
        "--listen", "garbage", "--no-discovery",
    )  # fmt: skip
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "could not start" in err
    assert "garbage" in err


def test_heartbeat_reaches_the_cluster():
    """--heartbeat SECONDS sets the cluster's heartbeat."""
    code, out, err = run_to_end(
        f"{APP}:heartbeat", "--name", "beat@127.0.0.1", "--cookie", "c",
        "--listen", "127.0.0.1:0", "--no-discovery", "--heartbeat", "2.5",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "2.5"


def test_heartbeat_needs_a_cluster():
    """--heartbeat without --cookie is a usage error."""
    code, _out, err = run_to_end(f"{APP}:heartbeat", "--heartbeat", "2")
    assert code != 0
    assert "--heartbeat needs a cluster" in err


def test_log_lines_name_the_node_and_pid_at_the_chosen_level():
    """Log lines go to stderr with the node and the pid; --log-level filters them."""
    code, _out, err = run_to_end(f"{APP}:log_hello", "--name", "logger@host")
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if "hello at info" in line]
    assert " logger@host <logger@host." in line
    code, _out, err = run_to_end(f"{APP}:log_hello", "--log-level", "warning")
    assert code == 0, err
    assert "hello at info" not in err
    assert "hello at warning" in err
