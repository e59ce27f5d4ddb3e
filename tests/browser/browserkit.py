"""What the browser tests share: the browser, its flags, the example's files."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

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


class ChatServer:
    """``python -m examples.chat`` as an OS process; ``url`` once it serves."""

    def __init__(self, name: str, runtime_dir: Path, state_dir: Path, seeds: tuple[str, ...] = ()):
        self.name = name
        self.runtime_dir, self.state_dir, self.seeds = runtime_dir, state_dir, seeds
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.log = state_dir / f"{name.partition('@')[0]}.log"

    def start(self) -> ChatServer:
        env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime_dir)}
        command = [sys.executable, "-m", "examples.chat", "--port", "0", "--name", self.name]
        command += ["--cookie", COOKIE, "--state-dir", str(self.state_dir)]
        command += [f"--seed={seed}" for seed in self.seeds]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.log.open("a")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START
        while not self.url:
            ready, _, _ = select.select([self.process.stdout], [], [], deadline - time.monotonic())
            line = self.process.stdout.readline() if ready else ""
            if not line:
                raise AssertionError(f"{self.name} did not start:\n{self.log.read_text()}")
            if line.startswith("chat: open "):
                self.url = line.split()[-1]
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (SIGTERM: in order; SIGKILL: ``kill -9``) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(START)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(START)
