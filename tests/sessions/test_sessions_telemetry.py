"""Telemetry for every lifecycle event and every error (the reference's telemetry tests,
and more): each event once, with its documented measurements and metadata."""

import pytest
from sessionkit import Counter, start_sessions

import beamish
from beamish import sessions, telemetry
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry

pytestmark = pytest.mark.anyio


def test_every_event_is_listed_once():
    """SESSION_EVENTS lists the fourteen events, each under ("beamish", "sessions", ...)."""
    names = [e[-1] for e in sessions.SESSION_EVENTS]
    assert len(set(sessions.SESSION_EVENTS)) == len(names) == 14
    assert all(e[:2] == ("beamish", "sessions") for e in sessions.SESSION_EVENTS)
    assert set(names) >= {
        "start", "stop", "start_error", "call", "cast", "communication_error",
        "session_start", "session_end", "cleanup", "cleanup_error",
        "rate_limit_check", "rate_limit_exceeded",
    }  # fmt: skip
    documented = sessions._telemetry.__doc__
    for name in ("START", "STOP", "CALL", "CAST", "SESSION_END", "SNAPSHOT_ERROR"):
        assert f"``{name}``" in documented


async def test_start_and_stop_events(node):
    """start: duration, id, module, pid; session_start; stop; session_end normal with a
    lifetime (reference: start/stop telemetry)."""
    await start_sessions()
    events = (sessions.START, sessions.STOP, sessions.SESSION_START, sessions.SESSION_END)
    with capture_telemetry(*events):
        pid = await sessions.start("t", Counter)
        await beamish.sleep(3)
        await sessions.stop("t")
        seen = {}
        for _ in range(4):
            event = await assert_receive(TelemetryEvent)
            seen[event.event[-1]] = event
    assert set(seen) == {"start", "stop", "session_start", "session_end"}
    for name in ("start", "stop"):
        assert seen[name].metadata["id"] == "t"
        assert seen[name].metadata["pid"] == pid
        assert seen[name].metadata["module"].endswith(":Counter")
        assert seen[name].measurements["duration"] >= 0
    assert seen["session_start"].metadata["restored"] is False
    assert seen["session_end"].metadata["reason"] == "normal"
    assert 3 <= seen["session_end"].measurements["lifetime"] < 4


async def test_call_and_cast_events(node):
    """call: duration and the request; cast: the request."""
    await start_sessions()
    pid = await sessions.start("t", Counter)
    with capture_telemetry(sessions.CALL, sessions.CAST):
        await sessions.cast("t", "add_one")
        await sessions.call("t", "get_value")
        cast = await assert_receive(TelemetryEvent)
        called = await assert_receive(TelemetryEvent)
    assert cast.event == sessions.CAST
    assert (cast.metadata["request"], cast.metadata["pid"]) == ("add_one", pid)
    assert called.event == sessions.CALL
    assert called.metadata["request"] == "get_value"
    assert called.measurements["duration"] >= 0


async def test_communication_errors(node):
    """Timeout, crash and not-found each emit communication_error with the operation and
    the reason."""
    await start_sessions()
    await sessions.start("t", Counter)
    with capture_telemetry(sessions.COMMUNICATION_ERROR):
        with pytest.raises(sessions.SessionTimeout):
            await sessions.call("t", "slow", timeout=1)
        with pytest.raises(sessions.SessionCrashed):
            await sessions.call("t", "crash")
        with pytest.raises(sessions.SessionNotFound):
            await sessions.cast("gone", "x")
        events = [await assert_receive(TelemetryEvent) for _ in range(3)]
    assert [(e.metadata["operation"], e.metadata["id"]) for e in events] == [
        ("call", "t"),
        ("call", "t"),
        ("cast", "gone"),
    ]
    assert events[0].metadata["reason"] == "timeout"
    assert isinstance(events[1].metadata["reason"], RuntimeError)
    assert events[2].metadata["reason"] == "not_found"


async def test_session_end_crash(node):
    """A crashing session ends with reason "crash"."""
    await start_sessions()
    await sessions.start("t", Counter)
    with capture_telemetry(sessions.SESSION_END):
        with pytest.raises(sessions.SessionCrashed):
            await sessions.call("t", "crash")
        event = await assert_receive(TelemetryEvent)
    assert event.metadata["reason"] == "crash"


class Flooded(sessions.SessionProcess):
    """A mailbox of two: more while it is busy, and it exits MailboxFull."""

    mailbox_limit = 2
    overflow = "exit"

    async def handle_call(self, request, caller):
        await beamish.receive(lambda m: m == "go on")
        return "done"

    def handle_cast(self, request):
        pass


async def _call_quietly(session_id, request):
    try:
        await sessions.call(session_id, request)
    except sessions.SessionError:
        pass


async def test_session_end_limit(node):
    """A session whose mailbox overflows its mailbox_limit ends with reason "limit"."""
    await start_sessions()
    pid = await sessions.start("t", Flooded)
    ref = beamish.monitor(pid)
    with capture_telemetry(sessions.SESSION_END):
        beamish.cast(pid, "busy?")  # handled at once: the mailbox is empty again
        beamish.spawn(_call_quietly, "t", "block")
        for i in range(5):
            beamish.cast(pid, i)
        down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
        event = await assert_receive(TelemetryEvent)
    assert isinstance(down.reason, beamish.MailboxFull)
    assert event.metadata["reason"] == "limit"


async def test_session_end_shutdown(node):
    """Stopping the Sessions subtree ends its sessions with reason "shutdown"."""
    sup = await start_sessions()
    beamish.unlink(sup)
    await sessions.start("a", Counter)
    await sessions.start("b", Counter)
    with capture_telemetry(sessions.SESSION_END):
        await beamish.stop(sup, "shutdown")
        events = [await assert_receive(TelemetryEvent) for _ in range(2)]
    assert sorted(e.metadata["id"] for e in events) == ["a", "b"]
    assert {e.metadata["reason"] for e in events} == {"shutdown"}


async def test_a_failing_handler_does_not_break_sessions(node):
    """A telemetry handler that raises is detached by telemetry; start still works."""
    await start_sessions()

    def broken(*_):
        raise RuntimeError("handler bug")

    telemetry.attach("sessions-broken", sessions.START, broken)
    try:
        pid = await sessions.start("t", Counter)
        assert sessions.find("t") == pid
    finally:
        telemetry.detach("sessions-broken")
