"""The tracker on three nodes that are real OS processes (TCP on 127.0.0.1), watched from a
node in the test process: presences replicate; kill -9 of a node takes its presences away
from the others after the down period; the node restarted under its name is a new replica."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from meshkit import on, until_connected
from presenceapp import OPTIONS
from trackerkit import LEDGER, TRACKER, Reporting, start_ledger

import beamish
from beamish import cluster
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),  # real processes: the real clock
    pytest.mark.timeout(90),
]

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "presence-os-cookie"
HOST = "127.0.0.1"
N1, N2, N3, T = (f"{short}@{HOST}" for short in ("p1", "p2", "p3", "pt"))
START = 20  # seconds a node may take to print READY
WAIT = 15  # seconds for anything that should happen within a few periods
ROOM = "room:os"


class OsNode:
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


@contextlib.asynccontextmanager
async def launcher(tmp_path: Path):
    launched: list[OsNode] = []

    async def launch(name: str, seeds: tuple[str, ...] = ()) -> OsNode:
        log = tmp_path / f"{name.partition('@')[0]}-{len(launched)}.log"
        command = [
            sys.executable, "-m", "beamish", "run", "tests.presence.presenceapp:main",
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


async def until(node: str, expected: set, timeout: float = WAIT) -> None:
    """``node``'s ledger of ROOM reaches exactly ``expected``, with no double report."""
    seen, errors = await beamish.call(
        (LEDGER, node), ("until", ROOM, sorted(expected)), timeout=timeout
    )
    assert not errors, (node, errors)
    assert set(seen) == expected


async def test_kill_9_hides_a_nodes_presences_after_the_down_period_and_restart_is_new(tmp_path):
    """Each OS node tracks one presence; everyone sees all three. kill -9 of p3: after the
    down period its presence leaves everywhere, once. p3 restarted under its name tracks
    again: a new replica, seen by everyone, and the old presence never comes back."""
    async with launcher(tmp_path) as launch:
        n1 = await launch(N1)
        started = {N1: n1}
        for name in (N2, N3):
            started[name] = await launch(name, (n1.address,))
        async with beamish.runtime.start(name=T) as node:
            async with cluster.start(
                cookie=COOKIE,
                transport=TcpTransport(),
                listen=f"{HOST}:0",
                discovery=False,
                heartbeat=1.0,
            ) as the_cluster:
                assert await the_cluster.connect(n1.address) == N1
                await until_connected(the_cluster, [N1, N2, N3], timeout=WAIT)

                async def client():
                    await start_ledger()
                    await Reporting.start(name=TRACKER, **OPTIONS)
                    items = {}
                    for name in (N1, N2, N3):
                        items[name] = tuple(
                            await beamish.call(("pctl", name), ("track", ROOM, name), timeout=WAIT)
                        )
                    everyone = set(items.values())
                    for name in (N1, N2, N3, T):
                        await until(name, everyone)
                    start = anyio.current_time()
                    os.kill(started[N3].process.pid, signal.SIGKILL)
                    rest = everyone - {items[N3]}
                    for name in (N1, N2, T):
                        await until(name, rest, timeout=WAIT + OPTIONS["down_period"])
                    hidden_after = anyio.current_time() - start
                    restarted = await launch(N3, (n1.address,))
                    await the_cluster.connect(restarted.address)
                    again = tuple(
                        await beamish.call(("pctl", N3), ("track", ROOM, "again"), timeout=WAIT)
                    )
                    for name in (N1, N2, N3, T):
                        await until(name, rest | {again})
                    return hidden_after

                hidden_after = await on(node, client)
                assert hidden_after >= OPTIONS["down_period"] - 2 * OPTIONS["broadcast_period"]
