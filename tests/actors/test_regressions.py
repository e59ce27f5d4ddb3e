"""Regression tests for kernel behaviour found missing in review."""

import logging

import anyio
import pytest

import beamish
from beamish import telemetry
from beamish.testing import TelemetryEvent, assert_receive, capture_telemetry

pytestmark = pytest.mark.anyio


async def test_spawn_receive_is_rejected(node):
    """spawn(receive) fails at once instead of hijacking the spawner's mailbox."""
    with pytest.raises(TypeError, match="spawner's mailbox"):
        beamish.spawn(beamish.receive)
    with pytest.raises(TypeError, match="async function"):
        beamish.spawn(lambda: None)
    assert node.processes() == [beamish.self()]


async def test_mailbox_full_exit_is_logged_as_a_crash(node, caplog):
    """A process ended by the "exit" overflow policy is reported like a crash."""

    async def stuck():
        await beamish.receive(lambda m: False)

    pid = beamish.spawn(stuck, mailbox_limit=1, overflow="exit")
    ref = beamish.monitor(pid)
    with capture_telemetry(telemetry.PROCESS_CRASH):
        beamish.send(pid, 1)
        beamish.send(pid, 2)
        event = await assert_receive(TelemetryEvent)
    assert isinstance(event.metadata["reason"], beamish.MailboxFull)
    down = await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert isinstance(down.reason, beamish.MailboxFull)
    assert any("MailboxFull" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_node_shutdown_runs_terminate_of_unlinked_trapping_actor(anyio_backend):
    """Stopping the node stops an actor started with start() through terminate, at once."""
    log = []

    class Trapper(beamish.Actor):
        def init(self):
            beamish.trap_exits(True)

        def terminate(self, reason):
            log.append(reason)

    async def main():
        await Trapper.start()

    async def app():
        with anyio.fail_after(30):
            async with beamish.runtime.start(shutdown_timeout=20) as node:
                await beamish.runtime.run_main(node, main)
                start = node.clock.now()
            return node.clock.now() - start

    elapsed = anyio.run(app)
    assert log == ["shutdown"]
    assert elapsed < 5, "terminate ran only after the shutdown timeout"


def test_terminate_crash_becomes_the_exit_reason(caplog):
    """An exception in terminate replaces a normal stop reason, as in OTP."""

    class Fragile(beamish.Actor):
        def handle_call(self, request, caller):
            return beamish.Stop("normal", reply="bye")

        def terminate(self, reason):
            raise RuntimeError("cleanup failed")

    async def main():
        pid = await Fragile.start()
        ref = beamish.monitor(pid)
        assert await beamish.call(pid, "stop") == "bye"
        return await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)

    with caplog.at_level(logging.ERROR):
        down = beamish.run(main)
    assert isinstance(down.reason, RuntimeError)
    assert any("cleanup failed" in r.getMessage() for r in caplog.records)
