"""Nodes as real OS processes (``python -m beamish run tests.cluster.nodeapp:main``) for the
tests that drive them from a node in the test process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "os-nodes-cookie"
HOST = "127.0.0.1"
START = 20  # seconds a node may take to print READY (an import of beamish, a cold disk)
WAIT = 10  # seconds for anything that should happen at once


class OsNode:
    """One ``python -m beamish run tests.cluster.nodeapp:main`` process."""

    def __init__(self, name: str, process: anyio.abc.Process, log: Path) -> None:
        self.name, self.process, self.log = name, process, log
        self.address = ""

    async def ready(self) -> None:
        """Wait for its ``READY <name> <address>`` line."""
        assert self.process.stdout is not None
        lines = BufferedByteReceiveStream(self.process.stdout)
        try:
            with anyio.fail_after(START):
                line = (await lines.receive_until(b"\n", 4096)).decode()
        except (TimeoutError, anyio.EndOfStream, anyio.IncompleteRead) as exc:
            raise AssertionError(f"{self.name} did not start: {self.log.read_text()}") from exc
        word, name, self.address = line.split()
        assert (word, name) == ("READY", self.name), line

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGSTOP: the process holds its sockets open and reads nothing."""
        os.kill(self.process.pid, signal.SIGSTOP)


@contextlib.asynccontextmanager
async def launcher(tmp_path: Path, app: str = "tests.cluster.nodeapp:main", cookie: str = COOKIE):
    """Yields ``launch(name, seeds, options=(), env=None, ready=True)`` that starts
    ``python -m beamish run <app>`` (it prints ``READY <name> <address>``); every process
    launched is killed (and continued, if stopped) on the way out. ``options`` are more
    ``beamish run`` arguments (``--no-discovery`` unless ``options`` name discovery)."""
    launched: list[OsNode] = []

    async def launch(
        name: str,
        seeds: Sequence[str] = (),
        options: Sequence[str] = ("--no-discovery",),
        env: Mapping[str, str] | None = None,
        ready: bool = True,
    ) -> OsNode:
        log = tmp_path / f"{name.partition('@')[0]}-{len(launched)}.log"
        command = [
            sys.executable, "-m", "beamish", "run", app,
            "--name", name, "--cookie", cookie, "--listen", f"{HOST}:0", *options,
        ]  # fmt: skip
        for seed in seeds:
            command += ["--seed", seed]
        with log.open("wb") as stderr:
            process = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=ROOT,
                env={**os.environ, **env} if env is not None else None,
            )
        node = OsNode(name, process, log)
        launched.append(node)
        if ready:
            await node.ready()
        return node

    try:
        yield launch
    finally:
        with anyio.CancelScope(shield=True):
            for node in launched:
                with contextlib.suppress(ProcessLookupError):
                    node.process.kill()
                    os.kill(node.process.pid, signal.SIGCONT)
            for node in launched:
                with anyio.move_on_after(WAIT):
                    await node.process.aclose()
