"""Timers, receive timeouts and sleeping, all on the node clock (virtual in tests)."""

import time

import pytest

import beamish
from beamish import Down
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


async def test_send_after_fires_at_its_time(node):
    """send_after delivers its message after exactly the given seconds of node time."""
    start = node.clock.now()
    beamish.send_after(beamish.self(), "tick", 2.5)
    assert await assert_receive("tick", timeout=10) == "tick"
    assert node.clock.now() - start == pytest.approx(2.5)


async def test_timers_fire_in_deadline_order(node):
    """Timers armed in any order deliver in the order of their deadlines."""
    me = beamish.self()
    for delay in [3, 1, 2]:
        beamish.send_after(me, delay, delay)
    assert [await assert_receive(int) for _ in range(3)] == [1, 2, 3]


async def test_cancel_timer_returns_remaining_seconds(node):
    """cancel_timer returns the seconds left and the message never arrives."""
    ref = beamish.send_after(beamish.self(), "never", 10)
    await beamish.sleep(4)
    assert beamish.cancel_timer(ref) == pytest.approx(6)
    assert beamish.cancel_timer(ref) is None
    await refute_receive("never", timeout=20)


async def test_cancel_timer_after_firing_returns_none(node):
    """cancel_timer on a timer that already fired returns None."""
    ref = beamish.send_after(beamish.self(), "fired", 1)
    await assert_receive("fired")
    assert beamish.cancel_timer(ref) is None
    assert beamish.cancel_timer(beamish.make_ref()) is None


async def test_send_after_to_a_name(node):
    """A timer addressed to a name resolves it when it fires."""
    me = beamish.self()

    async def relay():
        beamish.send(me, ("relayed", await beamish.receive()))

    pid = beamish.spawn(relay)
    beamish.register("relay", pid)
    beamish.send_after("relay", "hello", 1)
    assert await assert_receive(lambda m: m[0] == "relayed") == ("relayed", "hello")


async def test_send_after_to_a_vanished_name_is_dropped(node):
    """A timer whose name is gone by the time it fires is dropped without error."""

    async def idle():
        await beamish.receive(lambda m: False)

    pid, ref = beamish.spawn_monitor(idle)
    beamish.register("gone", pid)
    beamish.send_after("gone", "late", 2)
    beamish.exit(pid, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    beamish.send_after(beamish.self(), "after", 3)
    await assert_receive("after")  # the node clock went past the first timer unharmed
    assert await beamish.call(await _Echo.start(), 1) == 1


class _Echo(beamish.Actor):
    def handle_call(self, request, caller):
        return request


async def test_receive_timeout(node):
    """receive(timeout=s) raises TimeoutError after s seconds of node time."""
    start = node.clock.now()
    with pytest.raises(TimeoutError):
        await beamish.receive(timeout=30)
    assert node.clock.now() - start == pytest.approx(30)


async def test_receive_timeout_is_not_reset_by_other_messages(node):
    """A selective receive times out on schedule even if other messages keep arriving."""
    me = beamish.self()
    for t in (1, 2, 3):
        beamish.send_after(me, ("noise", t), t)
    start = node.clock.now()
    with pytest.raises(TimeoutError):
        await beamish.receive(lambda m: m == "wanted", timeout=5)
    assert node.clock.now() - start == pytest.approx(5)
    assert [beamish.receive_nowait() for _ in range(3)] == [("noise", t) for t in (1, 2, 3)]


async def test_receive_zero_timeout_polls(node):
    """timeout=0 returns a waiting message or raises TimeoutError, without time passing."""
    start = node.clock.now()
    with pytest.raises(TimeoutError):
        await beamish.receive(timeout=0)
    beamish.send(beamish.self(), "here")
    with pytest.raises(TimeoutError):
        await beamish.receive(lambda m: m == "other", timeout=0)
    assert await beamish.receive(timeout=0) == "here"
    assert node.clock.now() == start


async def test_receive_nowait(node):
    """receive_nowait returns a waiting message or raises WouldBlock."""
    with pytest.raises(beamish.WouldBlock):
        beamish.receive_nowait()
    beamish.send(beamish.self(), 1)
    beamish.send(beamish.self(), 2)
    assert beamish.receive_nowait(lambda m: m == 2) == 2
    assert beamish.receive_nowait() == 1


async def test_sleep_is_virtual(node):
    """beamish.sleep advances the node clock, not the wall clock."""
    start, wall = node.clock.now(), time.monotonic()
    await beamish.sleep(3600)
    assert node.clock.now() - start == pytest.approx(3600)
    assert time.monotonic() - wall < 1.0


async def test_one_hour_timer_fires_fast(node):
    """A one-hour timer fires in well under a second of real time on either backend."""
    wall = time.monotonic()
    beamish.send_after(beamish.self(), "an hour later", 3600)
    await assert_receive("an hour later", timeout=7200)
    assert time.monotonic() - wall < 1.0


async def test_timer_armed_during_a_longer_wait_fires_on_time(node):
    """A short timer armed while a longer one is pending fires at its own deadline."""
    me = beamish.self()

    async def short_sleeper():
        await beamish.sleep(1)
        beamish.send(me, ("woke", beamish.this_node().clock.now()))

    start = node.clock.now()
    beamish.spawn(short_sleeper)
    message = await assert_receive(lambda m: m[0] == "woke", timeout=100)
    assert message[1] - start == pytest.approx(1)


async def test_zero_sleep_process_exits_before_a_pending_timeout(node):
    """A process sleeping 0 seconds exits before a receive timeout armed earlier expires."""

    async def idle():
        await beamish.receive(lambda m: False)

    pid, ref = beamish.spawn_monitor(idle)
    beamish.exit(pid, "kill")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    start = node.clock.now()
    pid, ref = beamish.spawn_monitor(beamish.sleep, 0)
    down = await assert_receive(lambda m: type(m) is Down and m.ref == ref, timeout=5)
    assert down.reason == "normal"
    assert node.clock.now() == start


async def test_a_timer_dies_with_its_target(node):
    """A timer aimed at a pid is cancelled when that process exits (as on the BEAM), and
    one aimed at a pid that is already dead is never armed: cancel_timer returns None."""

    async def session():
        await beamish.receive()

    pid, ref = beamish.spawn_monitor(session)
    timers = [beamish.send_after(pid, ("expire", n), 3600) for n in range(3)]
    beamish.send(pid, "bye")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    assert [beamish.cancel_timer(t) for t in timers] == [None, None, None]
    assert beamish.cancel_timer(beamish.send_after(pid, "late", 10)) is None


async def test_a_timer_to_a_name_outlives_the_process_behind_it(node):
    """Only timers aimed at a pid die with it; a name is resolved when the timer fires."""

    async def idle():
        await beamish.receive()

    pid, ref = beamish.spawn_monitor(idle)
    beamish.register("service", pid)
    timer = beamish.send_after("service", "hello", 10)
    beamish.send(pid, "bye")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    assert beamish.cancel_timer(timer) == pytest.approx(10)
