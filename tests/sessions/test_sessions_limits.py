"""TTL expiry and touch, the rate limiter, max_sessions, and the sweeper's crash: all on
virtual time (the reference slept or reset; here the clock moves)."""

import pytest
from sessionkit import Counter, start_sessions

import beamish
from beamish import sessions
from beamish.supervision import which_children
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry

pytestmark = pytest.mark.anyio


async def test_idle_session_expires_after_the_ttl(node):
    """A session with no activity is stopped by the sweeper between ttl and
    ttl + sweep_interval, with session_end reason "ttl"."""
    await start_sessions(ttl=10, sweep_interval=1)
    clock = node.clock
    with capture_telemetry(sessions.SESSION_END):
        began = clock.now()
        pid = await sessions.start("idle", Counter)
        ref = beamish.monitor(pid)
        down = await assert_receive(beamish.Down, timeout=60)
        ended = clock.now() - began
    assert down.ref == ref
    assert down.reason == ("shutdown", "ttl")
    assert 10 <= ended <= 11.5
    event = await assert_receive(TelemetryEvent)
    assert event.metadata["reason"] == "ttl"
    assert not sessions.started("idle")


async def test_touch_postpones_expiry(node):
    """touch, call and cast each restart the idle clock; expiry comes ttl after the last."""
    await start_sessions(ttl=10, sweep_interval=1)
    clock = node.clock
    pid = await sessions.start("busy", Counter)
    ref = beamish.monitor(pid)
    for keep_alive in (
        lambda: sessions.touch("busy"),
        lambda: sessions.call("busy", "get_value"),
        lambda: sessions.cast("busy", "add_one"),
    ):
        await beamish.sleep(8)
        await keep_alive()
    last = clock.now()
    await beamish.sleep(8)
    assert beamish.is_alive(pid)  # 24 s after the start, 8 s after the last activity
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref, 60)
    assert down.reason == ("shutdown", "ttl")
    assert 10 <= clock.now() - last <= 11.5


async def test_no_ttl_never_expires(node):
    """ttl=None: a session stays however long it idles."""
    await start_sessions(ttl=None, sweep_interval=10)  # 1,000 sweeps while it idles
    pid = await sessions.start("forever", Counter)
    await beamish.sleep(10_000)
    assert beamish.is_alive(pid)


async def test_cleanup_telemetry(node):
    """The sweeper reports each session it expires (cleanup, with the idle time)."""
    await start_sessions(ttl=5, sweep_interval=1)
    with capture_telemetry(sessions.CLEANUP):
        pid = await sessions.start("c", Counter)
        event = await assert_receive(TelemetryEvent, timeout=60)
    assert event.metadata["id"] == "c"
    assert event.metadata["pid"] == pid
    assert event.metadata["module"].endswith(":Counter")
    assert 5 <= event.measurements["idle"] <= 6.5


async def test_killed_session_is_reported_and_its_id_freed(node):
    """A session killed outright runs no terminate: its supervisor (its parent) reports
    session_end "killed" and frees its place under max_sessions at once."""
    await start_sessions(ttl=5, sweep_interval=1, max_sessions=1)
    pid = await sessions.start("k", Counter)
    with capture_telemetry(sessions.SESSION_END):
        beamish.exit(pid, "kill")
        event = await assert_receive(TelemetryEvent)
    assert (event.metadata["id"], event.metadata["reason"]) == ("k", "killed")
    await sessions.start("k", Counter)


async def test_stale_activity_entry_is_cleaned_with_cleanup_error(node):
    """An activity entry whose session is gone (it died before the server watched it) is
    dropped by the sweeper, which says so: cleanup_error, reason noproc."""
    await start_sessions(ttl=5, sweep_interval=1)
    shared = sessions._shared.lookup("sessions")
    with capture_telemetry(sessions.CLEANUP_ERROR):
        shared.activity["ghost"] = node.clock.now()
        event = await assert_receive(TelemetryEvent, timeout=60)
    assert event.metadata == {"node": node.name, "id": "ghost", "reason": "noproc"}
    assert "ghost" not in shared.activity


async def test_sweeper_crash_keeps_the_activity_table(node):
    """Kill the sweeper: its supervisor restarts it, and the sessions it had not yet
    expired still expire on time: the activity table outlived it."""
    sup = await start_sessions(ttl=10, sweep_interval=1)
    clock = node.clock
    began = clock.now()
    pid = await sessions.start("survivor", Counter)
    ref = beamish.monitor(pid)
    await beamish.sleep(5)
    server = beamish.whereis("sessions.server")
    server_ref = beamish.monitor(server)
    beamish.exit(server, "kill")
    await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == server_ref)
    children = {c.id: c.pid for c in await which_children(sup)}
    assert children["server"] not in (None, server)
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref, 60)
    assert down.reason == ("shutdown", "ttl")
    assert 10 <= clock.now() - began <= 11.5


async def test_rate_limit_under_over_and_after_the_window(node):
    """rate_limit=(5, 60): five starts pass, the sixth is RateLimitExceeded; once the window
    has slid past the first starts, starts pass again (reference's rate limiter tests)."""
    await start_sessions(rate_limit=(5, 60), ttl=None)
    for i in range(5):
        await sessions.start(f"s{i}")
    with pytest.raises(sessions.RateLimitExceeded) as info:
        await sessions.start("s5")
    assert (info.value.limit, info.value.window) == (5, 60)
    assert not sessions.started("s5")
    await beamish.sleep(59)
    with pytest.raises(sessions.RateLimitExceeded):
        await sessions.start("s5")
    await beamish.sleep(1.5)
    for i in range(5, 10):
        await sessions.start(f"s{i}")
    with pytest.raises(sessions.RateLimitExceeded):
        await sessions.start("s10")


async def test_rate_limit_telemetry(node):
    """Each start checks the window (rate_limit_check, with the count so far); a refused
    one also emits rate_limit_exceeded."""
    await start_sessions(rate_limit=(2, 60))
    with capture_telemetry(sessions.RATE_LIMIT_CHECK, sessions.RATE_LIMIT_EXCEEDED):
        await sessions.start("a")
        await sessions.start("b")
        with pytest.raises(sessions.RateLimitExceeded):
            await sessions.start("c")
        seen = [await assert_receive(TelemetryEvent) for _ in range(4)]
    assert [(e.event[-1], e.measurements["count"]) for e in seen] == [
        ("rate_limit_check", 0),
        ("rate_limit_check", 1),
        ("rate_limit_check", 2),
        ("rate_limit_exceeded", 2),
    ]
    assert seen[0].metadata["limit"] == 2
    assert seen[0].metadata["window"] == 60


async def test_max_sessions(node):
    """max_sessions + 1 -> SessionLimitReached; stopping one makes room."""
    await start_sessions(max_sessions=3)
    for i in range(3):
        await sessions.start(f"s{i}")
    with pytest.raises(sessions.SessionLimitReached) as info:
        await sessions.start("s3")
    assert info.value.max == 3
    await sessions.stop("s0")
    await sessions.start("s3")


async def test_start_error_telemetry_for_each_refusal(node):
    """start_error carries the error for an invalid id, the limit and the rate limit."""
    await start_sessions(max_sessions=1, rate_limit=(2, 60))
    with capture_telemetry(sessions.START_ERROR):
        with pytest.raises(sessions.InvalidSessionId):
            await sessions.start("invalid@session")
        await sessions.start("one")
        with pytest.raises(sessions.SessionLimitReached):
            await sessions.start("two")
        await sessions.stop("one")
        await sessions.start("three")
        await sessions.stop("three")
        with pytest.raises(sessions.RateLimitExceeded):
            await sessions.start("four")
        events = [await assert_receive(TelemetryEvent) for _ in range(3)]
    assert [type(e.metadata["reason"]) for e in events] == [
        sessions.InvalidSessionId,
        sessions.SessionLimitReached,
        sessions.RateLimitExceeded,
    ]
    assert events[0].metadata["id"] == "invalid@session"
    assert all(e.measurements["duration"] >= 0 for e in events)
