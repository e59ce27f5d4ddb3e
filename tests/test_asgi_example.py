"""examples/asgi_lifespan.py under a real uvicorn server, over real HTTP."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "asgi_lifespan.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        body: dict[str, object] = json.loads(response.read())
        return body


def wait_until_serving(server: subprocess.Popen[str], url: str) -> None:
    """Poll until the server answers: bounded tries, retrying only on connection refused."""
    for _ in range(200):
        if server.poll() is not None:
            raise AssertionError(f"server exited {server.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError):
                raise
        time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, base + "/hello")
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=15)
    return output


def test_count_increments_and_sigterm_stops_the_tree_in_order(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    """GET /count calls the supervised counter; SIGTERM stops the tree in reverse, exit 0."""
    proc, base = server
    assert [get(base + "/count")["count"] for _ in range(3)] == [1, 2, 3]
    assert get(base + "/hello?ada") == {"greeting": "hello, ada"}

    output = stop(proc)
    assert proc.returncode == 0, output
    lines = [
        "lifespan: shutdown: stopping the supervision tree",
        "greeter",  # started last, stopped first
        "counter",
        "terminate('shutdown') at count 3",
        "lifespan: supervision tree stopped",
        "lifespan: node stopped",
        "Application shutdown complete",
        "stopped by SIGTERM after a graceful shutdown",
    ]
    position = 0
    for line in lines:
        found = output.find(line, position)
        assert found >= 0, f"{line!r} missing or out of order in:\n{output}"
        position = found + len(line)
    assert "Traceback" not in output, output


def test_concurrent_requests_share_the_node(server: tuple[subprocess.Popen[str], str]) -> None:
    """Requests handled at the same time each reach the counter exactly once."""
    proc, base = server
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _: get(base + "/count")["count"], range(32)))
    assert sorted(counts) == list(range(1, 33))  # type: ignore[type-var]
    output = stop(proc)
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
