"""Snapshots to SQLite: saved on stop, on ttl expiry and every N seconds if changed;
restored on the next start of the id (also by another node sharing the file); a state the
codec cannot carry is an error at save time; a process killed mid-write corrupts nothing.

These run on *real* time: a snapshot is written by a worker thread, and virtual time
would jump over the write (every process waits) straight to the next timeout.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import anyio
import pytest
from sessionkit import Counter

import beamish
from beamish import sessions
from beamish.actors import resume, suspend
from beamish.runtime import run_main
from beamish.sessions import SnapshotStore
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    """Both backends on real time (trio without its MockClock)."""
    return request.param


async def on_real_node(body, *args, name="snap@localhost"):
    async with beamish.runtime.start(name=name, virtual_time=False) as node:
        return await run_main(node, body, *args)


def url(tmp_path):
    return f"sqlite:{tmp_path / 'sessions.db'}"


async def test_saved_on_stop_and_restored_on_start(tmp_path):
    """Stop saves the state; the next start of the id resumes from it (restored=True)."""

    async def body():
        await sessions.Sessions.start_link(snapshots=url(tmp_path), rate_limit=None)
        with capture_telemetry(sessions.SESSION_START, sessions.SNAPSHOT_SAVED):
            await sessions.start("cart", Counter)
            first = await assert_receive(TelemetryEvent)
            await sessions.cast("cart", "add_one")
            await sessions.cast("cart", ("put", "items", ("apple", "pear")))
            await sessions.stop("cart")
            saved = await assert_receive(TelemetryEvent)
            await sessions.start("cart", Counter)
            again = await assert_receive(TelemetryEvent)
        state = await sessions.call("cart", "get_state")
        return first, saved, again, state

    first, saved, again, state = await on_real_node(body)
    assert first.metadata["restored"] is False
    assert (saved.event, saved.metadata["why"]) == (sessions.SNAPSHOT_SAVED, "stop")
    assert saved.measurements["bytes"] > 0
    assert again.metadata["restored"] is True
    assert state == {"value": 1, "items": ("apple", "pear")}


async def test_saved_on_ttl_expiry(tmp_path):
    """An idle session expired by the sweeper is saved first, and comes back restored."""

    async def body():
        await sessions.Sessions.start_link(
            snapshots=url(tmp_path), ttl=0.2, sweep_interval=0.05, rate_limit=None
        )
        server = beamish.whereis("sessions.server")
        await suspend(server)  # no sweep while the test sets up, however slow the machine
        pid = await sessions.start("idle", Counter, {"value": 41})
        await sessions.cast("idle", "add_one")
        assert await sessions.call("idle", "get_value") == 42
        await resume(server)  # expires 0.2 s after the call, its last activity
        with capture_telemetry(sessions.SNAPSHOT_SAVED):
            ref = beamish.monitor(pid)
            down = await assert_receive(beamish.Down)
            saved = await assert_receive(TelemetryEvent)
        assert down.ref == ref
        await sessions.start("idle", Counter)
        return down.reason, saved.metadata["why"], await sessions.call("idle", "get_value")

    assert await on_real_node(body) == (("shutdown", "ttl"), "ttl", 42)


async def test_periodic_saves_only_when_changed(tmp_path):
    """snapshot_every: a changed state is saved on the next tick; an unchanged one is not
    written again (a crash after it loses nothing that was saved)."""

    async def body():
        await sessions.Sessions.start_link(
            snapshots=url(tmp_path), snapshot_every=0.05, rate_limit=None
        )
        await sessions.start("p", Counter)
        with capture_telemetry(sessions.SNAPSHOT_SAVED):
            await sessions.cast("p", "add_one")
            first = await assert_receive(TelemetryEvent)
            await sessions.call("p", "get_value")  # a call that changes nothing
            quiet = []
            with anyio.move_on_after(0.3):  # six ticks of real time: none may write
                quiet.append(await beamish.receive(lambda m: isinstance(m, TelemetryEvent)))
            await sessions.cast("p", "add_one")
            second = await assert_receive(TelemetryEvent)
        return first.metadata["why"], quiet, second.metadata["why"]

    assert await on_real_node(body) == ("periodic", [], "periodic")
    store = SnapshotStore.from_url(url(tmp_path))
    try:
        assert store.decode(store._load_sync("p")) == {"value": 2}
    finally:
        store.close()


async def test_unencodable_state_is_a_clear_error_at_save_time(tmp_path):
    """snapshot(id) of a state holding an object: SnapshotError naming the type; at stop,
    the error is logged and reported (snapshot_error) and the session still stops."""

    async def body():
        await sessions.Sessions.start_link(snapshots=url(tmp_path), rate_limit=None)
        pid = await sessions.start("bad")
        await sessions.call("bad", ("put", "lock", anyio.Lock()))
        try:
            await sessions.snapshot("bad")
        except sessions.SnapshotError as exc:
            error = exc
        with capture_telemetry(sessions.SNAPSHOT_ERROR):
            await sessions.stop("bad")
            event = await assert_receive(TelemetryEvent)
        return error, event, beamish.is_alive(pid)

    error, event, alive = await on_real_node(body)
    assert "Lock" in str(error)
    assert "plain data" in str(error)
    assert isinstance(event.metadata["error"], sessions.SnapshotError)
    assert not alive


async def test_snapshot_without_store_says_how(tmp_path):
    """snapshot(id) on a Sessions without snapshots=: SnapshotError saying what to pass."""

    async def body():
        await sessions.Sessions.start_link(rate_limit=None)
        await sessions.start("x")
        try:
            await sessions.snapshot("x")
        except sessions.SnapshotError as exc:
            return str(exc)

    assert "snapshots='sqlite:" in await on_real_node(body)


async def test_crashed_session_is_not_saved(tmp_path):
    """A crash does not overwrite the last good snapshot with a half-updated state."""

    async def body():
        await sessions.Sessions.start_link(snapshots=url(tmp_path), rate_limit=None)
        await sessions.start("c", Counter)
        await sessions.cast("c", "add_one")
        await sessions.snapshot("c")
        await sessions.cast("c", "add_one")
        try:
            await sessions.call("c", "crash")
        except sessions.SessionCrashed:
            pass
        await sessions.start("c", Counter)
        return await sessions.call("c", "get_value")

    assert await on_real_node(body) == 1


async def test_restored_by_another_node_on_the_same_host(tmp_path):
    """Two nodes share the file: a session stopped on one resumes on the other."""

    async def on_a():
        await sessions.Sessions.start_link(snapshots=url(tmp_path), rate_limit=None)
        await sessions.start("roam", Counter, {"value": 7})
        await sessions.cast("roam", "add_one")
        await sessions.stop("roam")

    async def on_b():
        await sessions.Sessions.start_link(snapshots=url(tmp_path), rate_limit=None)
        await sessions.start("roam", Counter)
        return await sessions.call("roam", "get_value")

    await on_real_node(on_a, name="a@localhost")
    assert await on_real_node(on_b, name="b@localhost") == 8


def test_store_rejects_garbage_rows(tmp_path):
    """A row that is not a snapshot this codec wrote is a SnapshotError on decode."""
    store = SnapshotStore.from_url(url(tmp_path))
    with pytest.raises(sessions.SnapshotError, match="unreadable"):
        store.decode(b"\xc1\xc1")


WRITER = textwrap.dedent(
    """
    import sys
    from beamish.sessions import SnapshotStore
    store = SnapshotStore(sys.argv[1])  # killed mid-write: never closed, on purpose
    big = "x" * 200_000
    i = 0
    while True:
        i += 1
        store._save_sync("hot", "m:C", store.encode({"n": i, "pad": big}))
        print(i, flush=True)
    """
)


@pytest.mark.parametrize("writes", [1, 3, 7, 20, 50])
def test_kill_9_mid_write_never_corrupts(tmp_path, writes):
    """SIGKILL a process that rewrites one large snapshot in a loop, after it has reported
    ``writes`` commits (so mostly in the middle of the next one): the file passes SQLite's
    integrity check and holds a whole snapshot, at least the last one reported."""
    path = str(tmp_path / "hot.db")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True)
    try:
        for expected in range(1, writes + 1):
            assert int(proc.stdout.readline()) == expected
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    store = SnapshotStore(path)
    try:
        state = store.decode(store._load_sync("hot"))
    finally:
        store.close()
    assert state["n"] >= writes
    assert state["pad"] == "x" * 200_000
