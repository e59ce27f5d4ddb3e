"""What the browser tests share: the browser, its flags, the example's files."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHOENIX_JS = ROOT / "examples" / "chat" / "node_modules" / "phoenix" / "priv" / "static"

COOKIE = "browser-tests-cookie"
START = 30  # seconds for a chat node to start on a loaded machine
WAIT_MS = 15_000  # what a page may take to show what it should (a rejoin waits ~1 s first)


class Lines:
    """The lines a child process prints, read with a deadline (select on the raw pipe: a
    buffered reader would hide lines it has read ahead from select)."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        self.buffer = b""

    def next(self, deadline: float) -> str:
        """The next line; "" at the end of the output or when ``deadline`` passes."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, left))
            if not ready:
                return ""
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return ""
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode() + "\n"


class ChatServer:
    """``python -m examples.chat`` as an OS process; ``url`` once it serves."""

    def __init__(
        self,
        name: str,
        runtime_dir: Path,
        state_dir: Path,
        seeds: tuple[str, ...] = (),
        options: tuple[str, ...] = (),
    ):
        self.name = name
        self.options = options
        self.runtime_dir, self.state_dir, self.seeds = runtime_dir, state_dir, seeds
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.log = state_dir / f"{name.partition('@')[0]}.log"

    def start(self) -> ChatServer:
        env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime_dir)}
        command = [sys.executable, "-m", "examples.chat", "--port", "0", "--name", self.name]
        command += ["--cookie", COOKIE, "--state-dir", str(self.state_dir)]
        command += [f"--seed={seed}" for seed in self.seeds]
        command += list(self.options)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        lines = Lines(self.process.stdout)
        deadline = time.monotonic() + START
        while not self.url:
            line = lines.next(deadline)
            if not line:
                raise AssertionError(f"{self.name} did not start:\n{self.log.read_text()}")
            if line.startswith("chat: open "):
                self.url = line.split()[-1]
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (SIGTERM: in order; SIGKILL: ``kill -9``) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.communicate(timeout=START)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate(timeout=START)
