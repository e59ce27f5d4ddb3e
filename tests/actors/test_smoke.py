"""Smoke tests of the kernel through the public API."""

import pytest

import beamish
from beamish.actors import lowlevel
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio


async def test_echo_round_trip(node):
    """A spawned process answers a message sent to it."""

    async def echo():
        sender, text = await beamish.receive()
        beamish.send(sender, text.upper())

    pid = beamish.spawn(echo)
    beamish.send(pid, (beamish.self(), "hi"))
    assert await assert_receive() == "HI"


async def test_one_hour_timer_fires_on_virtual_time(node):
    """A one-hour timer fires without an hour of real time passing."""
    beamish.send_after(beamish.self(), "late", 3600)
    start = node.clock.now()
    assert await assert_receive("late", timeout=7200) == "late"
    assert node.clock.now() - start == pytest.approx(3600)


async def test_taskless_process_killed_by_link_raises_on_receive(node):
    """A task-less process (code outside any process) killed through a link sees Exited in
    receive. (The test process itself is stopped instead: see tests/testing.)"""

    async def crash():
        raise RuntimeError("boom")

    with lowlevel.borrow_process(node) as outsider:
        node.spawn(crash, link=outsider.pid)
        with pytest.raises(beamish.Exited) as info:
            await beamish.receive(timeout=60)
    assert isinstance(info.value.reason, RuntimeError)
