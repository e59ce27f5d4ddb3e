"""OS-process nodes that run ``tests.registry.regnode:main`` (see test_cluster_os.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "registry-os-cookie"
HOST = "127.0.0.1"
START = 20  # seconds a node may take to print READY
WAIT = 10  # seconds for anything that should happen at once


class OsNode:
    """One ``python -m beamish run tests.registry.regnode:main`` process."""

    def __init__(self, name: str, process: anyio.abc.Process, log: Path) -> None:
        self.name, self.process, self.log = name, process, log
        self.address = ""

    async def ready(self) -> None:
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


@contextlib.asynccontextmanager
async def launcher(tmp_path: Path):
    """Yields ``launch(name, seeds)``; every process launched is killed on the way out."""
    launched: list[OsNode] = []

    async def launch(name: str, seeds: tuple[str, ...] = ()) -> OsNode:
        log = tmp_path / f"{name.partition('@')[0]}-{len(launched)}.log"
        command = [
            sys.executable, "-m", "beamish", "run", "tests.registry.regnode:main",
            "--name", name, "--cookie", COOKIE, "--listen", f"{HOST}:0", "--no-discovery",
        ]  # fmt: skip
        for seed in seeds:
            command += ["--seed", seed]
        with log.open("wb") as stderr:
            process = await anyio.open_process(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT
            )
        node = OsNode(name, process, log)
        launched.append(node)
        await node.ready()
        return node

    try:
        yield launch
    finally:
        with anyio.CancelScope(shield=True):
            for node in launched:
                with contextlib.suppress(ProcessLookupError):
                    node.process.kill()
            for node in launched:
                with anyio.move_on_after(WAIT):
                    await node.process.aclose()
