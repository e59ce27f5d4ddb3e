"""Helpers for the channels tests: the test endpoint (app.py) under a real uvicorn, and the
phoenix.js scenario runner."""

from __future__ import annotations

import json
import select
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "app.py"
JS = ROOT / "tests" / "js"


class Server:
    """A test endpoint in its own OS process under uvicorn.

    The child binds port 0 and prints the port it got (``READY <port> <cluster address>``)
    once its node runs: no port is picked here and bound later by someone else.
    ``cluster`` is the node's cluster address when started with ``cluster=...``.
    """

    def __init__(
        self, *options: str, name: str = "chan@localhost", env: dict[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(APP), "0", name, *options],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.early: list[str] = []
        self.port, self.cluster = self._wait_until_serving()
        self.http = f"http://127.0.0.1:{self.port}"
        self.url = f"ws://127.0.0.1:{self.port}/socket"

    def _wait_until_serving(self, timeout: float = 30.0) -> tuple[int, str | None]:
        """The child's ``READY`` line (bounded): its HTTP port and cluster address."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                break
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"server exited: {self.output()}")
            if line.startswith("READY "):
                _, port, address = line.split()
                return int(port), None if address == "-" else address
            self.early.append(line)
        self.proc.kill()
        raise AssertionError(f"the server never got ready: {self.output()}")

    def output(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        out, _ = self.proc.communicate(timeout=10)
        return "".join(self.early) + (out or "")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.output()


def node_modules() -> Path:
    """tests/js/node_modules, installed with ``npm ci`` if missing (skip without node)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the phoenix.js tests")
    modules = JS / "node_modules" / "phoenix"
    if not modules.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    return modules


def run_js(
    url: str, transport: str, scenario: str, *args: str, timeout: float = 40
) -> dict[str, Any]:
    """Run one phoenix.js scenario; its JSON observations."""
    node_modules()
    done = subprocess.run(
        ["node", str(JS / "scenarios.mjs"), url, transport, scenario, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no output: {done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert result.get("ok"), result.get("error", result)
    return result


def stats(server: Server, **query: str) -> dict[str, Any]:
    """The server's /stats (telemetry counts, connections, cluster nodes)."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    with urllib.request.urlopen(f"{server.http}/stats?{qs}", timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def until(predicate: Any, what: str, tries: int = 400) -> Any:
    """Poll ``predicate`` (a state in another OS process) until it holds; bounded."""
    for _ in range(tries):
        value = predicate()
        if value:
            return value
        time.sleep(0.025)
    raise AssertionError(f"never: {what}")
