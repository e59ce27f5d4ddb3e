"""Sessions across real OS processes on 127.0.0.1: started on A, called from B and C;
kill -9 A: its ids leave B's view, and start again on B, restored from the snapshot in
the SQLite file the nodes share on this host."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from meshkit import until_connected

import beamish
from beamish.registry import Registry

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),  # real processes, real clock
    pytest.mark.timeout(90),
    pytest.mark.skipif(
        "replication" not in inspect.signature(Registry.child_spec).parameters,
        reason="needs the registry's cluster scope (registry branch, not merged yet)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "sessions-os-cookie"
HOST = "127.0.0.1"
A, B, C = (f"{short}@{HOST}" for short in ("sa", "sb", "sc"))
START = 30  # seconds a node may take to print READY
WAIT = 15  # seconds for anything that should happen soon


async def launch(name, seeds, db, tmp_path, launched):
    log = tmp_path / f"{name.partition('@')[0]}.log"
    command = [
        sys.executable, "-m", "beamish", "run", "tests.sessions.sessionapp:main",
        "--name", name, "--cookie", COOKIE, "--listen", f"{HOST}:0", "--no-discovery",
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
            env={**os.environ, "SESSIONS_DB": str(db)},
        )
    launched.append(process)
    lines = BufferedByteReceiveStream(process.stdout)
    try:
        with anyio.fail_after(START):
            line = (await lines.receive_until(b"\n", 4096)).decode()
    except (TimeoutError, anyio.EndOfStream, anyio.IncompleteRead) as exc:
        raise AssertionError(f"{name} did not start: {log.read_text()}") from exc
    word, got, address = line.split()
    assert (word, got) == ("READY", name), line
    return process, address


async def ctl(node, *request):
    status, value = await beamish.call(("sessionctl", node), request, timeout=WAIT)
    return status, value


async def test_started_on_a_called_from_b_and_c_then_a_is_killed(tmp_path):
    """Start on A; B and C call it by id; kill -9 A; B's view loses it; B starts it again,
    restored from A's last snapshot."""
    from beamish import cluster
    from beamish.cluster.transports import TcpTransport

    db = tmp_path / "sessions.db"
    launched = []
    try:
        proc_a, address_a = await launch(A, (), db, tmp_path, launched)
        await launch(B, (address_a,), db, tmp_path, launched)
        await launch(C, (address_a,), db, tmp_path, launched)
        async with beamish.runtime.start(name=f"t@{HOST}") as node:
            async with cluster.start(
                cookie=COOKIE, transport=TcpTransport(), listen=f"{HOST}:0", discovery=False
            ) as the_cluster:
                await the_cluster.connect(address_a)
                await until_connected(the_cluster, [A, B, C], timeout=WAIT)

                async def scenario():
                    status, pid = await ctl(A, "start", "roam")
                    assert status == "ok"
                    assert pid.node == A
                    for other in (B, C):
                        await until(lambda o=other: ctl(o, "find", "roam"), ("ok", pid))
                    assert await ctl(B, "cast", "roam", 5) == ("ok", None)
                    # B's call follows B's cast to A (one sender: in order); only then C's
                    assert await ctl(B, "call", "roam") == ("ok", 5)
                    assert await ctl(C, "call", "roam") == ("ok", 5)
                    assert await ctl(A, "snapshot", "roam") == ("ok", None)
                    assert await ctl(C, "cast", "roam", 1) == ("ok", None)  # not saved
                    assert await ctl(C, "call", "roam") == ("ok", 6)

                    os.kill(proc_a.pid, signal.SIGKILL)
                    await until(lambda: ctl(B, "find", "roam"), ("ok", None))
                    assert await ctl(B, "call", "roam") == ("error", "SessionNotFound")
                    status, again = await ctl(B, "start", "roam")
                    assert status == "ok"
                    assert again.node == B
                    assert await ctl(B, "call", "roam") == ("ok", 5)  # the saved state
                    await until(lambda: ctl(C, "find", "roam"), ("ok", again))
                    assert await ctl(C, "call", "roam") == ("ok", 5)

                await beamish.runtime.run_main(node, scenario)
    finally:
        with anyio.CancelScope(shield=True):
            for process in launched:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            for process in launched:
                with anyio.move_on_after(WAIT):
                    await process.aclose()


async def until(ask, expected, timeout=WAIT):
    """Ask until the answer is ``expected`` (replication is asynchronous): bounded."""
    with anyio.fail_after(timeout):
        while (answer := await ask()) != expected:
            await beamish.sleep(0.05)
    return answer
