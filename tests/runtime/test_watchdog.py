"""The loop-lag watchdog: code that blocks the event loop is reported, with who ran it."""

import logging
import time

import anyio
import pytest

import beamish
from beamish import telemetry
from beamish.runtime import Config

BACKENDS = ["asyncio", "trio"]


class Sleeper(beamish.Actor):
    """Blocks the whole event loop in handle_call, as a careless handler would."""

    def handle_call(self, seconds, caller):
        time.sleep(seconds)  # the defect under test: a blocking call on the loop
        return "woke"


def _capture_blocked_events(reported=None):
    events = []

    def record(_event, measurements, metadata, _config):
        events.append((measurements, metadata))
        if reported:
            reported[0].set()

    handler_id = f"test-watchdog-{id(events)}"
    telemetry.attach(handler_id, telemetry.LOOP_BLOCKED, record)
    return handler_id, events


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_blocking_handler_is_reported_with_its_process_and_callback(backend, caplog):
    """time.sleep in handle_call: one telemetry event and one warning naming the pid, the
    callback and the delay."""
    caplog.set_level(logging.WARNING, logger="beamish.runtime")
    reported = []
    handler_id, events = _capture_blocked_events(reported)

    async def main():
        reported.append(anyio.Event())
        pid = await Sleeper.start()
        assert await beamish.call(pid, 0.6) == "woke"
        with anyio.fail_after(10):  # the loop thread reports once it runs again
            await reported[0].wait()
        return pid

    try:
        pid = beamish.run(main, backend=backend, loop_lag_threshold=0.1, name="lag@host")
    finally:
        telemetry.detach(handler_id)
    [(measurements, metadata)] = [e for e in events if e[1]["pid"] is not None]
    assert measurements["delay"] > 0.1
    assert metadata["node"] == "lag@host"
    assert metadata["pid"] == pid
    assert "Sleeper.handle_call" in metadata["callback"]
    assert "test_watchdog.py" in metadata["callback"]
    [record] = [r for r in caplog.records if "blocked" in r.getMessage() and r.pid == pid]
    assert repr(pid) in record.getMessage()
    assert "Sleeper.handle_call" in record.getMessage()
    assert record.pid == pid
    assert record.node == "lag@host"


def test_the_watchdog_can_be_turned_off():
    """loop_lag_threshold=None: no watchdog thread; a bad threshold is refused."""
    handler_id, events = _capture_blocked_events()

    async def main():
        pid = await Sleeper.start()
        return await beamish.call(pid, 0.3)

    try:
        assert beamish.run(main, loop_lag_threshold=None) == "woke"
    finally:
        telemetry.detach(handler_id)
    assert events == []
    with pytest.raises(ValueError, match="loop_lag_threshold"):
        Config(loop_lag_threshold=0)
