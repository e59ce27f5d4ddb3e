"""Mailbox semantics under pressure: fairness of a busy process, one receiver per process,
and a bounded ``drop_oldest`` mailbox read with a selective receive."""

import anyio
import pytest

import beamish
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio

PUMPED = 5_000  # messages a self-feeding process handles before it stops on its own
FAIRNESS_BOUND = 3 * 64  # a bystander runs within a few checkpoints (one per 64 messages)


def _bystander(progress, observer):
    """Spawned by a feeder while it runs: it can only run once the feeder yields."""

    async def bystander():
        beamish.send(observer, ("bystander ran at", progress[0]))

    return lambda: beamish.spawn(bystander)


class _SelfFeeder(beamish.Actor):
    """Keeps its own mailbox non-empty: every cast casts the next one."""

    def init(self, progress, on_first):
        self.progress, self.on_first = progress, on_first

    def handle_cast(self, request):
        self.progress[0] += 1
        if self.progress[0] == 1:
            self.on_first()
        if self.progress[0] >= PUMPED:
            return beamish.Stop()
        beamish.cast(self.pid, "more")
        return None


async def _receive_loop_feeder(progress, on_first):
    me = beamish.self()
    while progress[0] < PUMPED:
        await beamish.receive()
        progress[0] += 1
        if progress[0] == 1:
            on_first()
        beamish.send(me, "more")


@pytest.mark.parametrize("kind", ["actor", "receive_loop"])
async def test_a_process_that_feeds_itself_lets_others_run(node, kind):
    """A process whose mailbox never empties still yields every 64 messages: a process
    spawned while it runs gets its turn long before the feeder is done."""
    progress = [0]
    on_first = _bystander(progress, beamish.self())
    if kind == "actor":
        pid = await _SelfFeeder.start(progress, on_first)
    else:
        pid = beamish.spawn(_receive_loop_feeder, progress, on_first)
    ref = beamish.monitor(pid)
    (beamish.cast if kind == "actor" else beamish.send)(pid, "go")
    _, seen = await assert_receive(lambda m: type(m) is tuple and m[0] == "bystander ran at")
    assert seen < FAIRNESS_BOUND, f"the bystander waited for {seen} messages"
    await assert_receive(lambda m: type(m) is beamish.Down and m.ref == ref)
    assert progress[0] == PUMPED


async def test_a_self_feeding_actor_can_be_killed(node):
    """exit(pid, "kill") from a process spawned while the server keeps its own mailbox
    full ends the server long before it would stop on its own."""
    progress = [0]
    pid = None

    async def killer():
        beamish.exit(pid, "kill")

    pid = await _SelfFeeder.start(progress, lambda: beamish.spawn(killer))
    ref = beamish.monitor(pid)
    beamish.cast(pid, "go")
    down = await assert_receive(lambda m: type(m) is beamish.Down and m.ref == ref)
    assert down.reason == "killed"
    assert progress[0] < FAIRNESS_BOUND


async def test_a_second_task_waiting_in_receive_is_an_error(node):
    """Two tasks of one process cannot both wait in receive: the second one fails at once
    with a clear error, and the first one still gets its message."""
    parked = anyio.Event()
    got = []

    async def first():
        parked.set()  # no checkpoint between this and parking in receive
        got.append(await beamish.receive())

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await parked.wait()
        with pytest.raises(RuntimeError, match="already waiting in receive"):
            await beamish.receive(timeout=1)
        beamish.send(beamish.self(), "for the first")
    assert got == ["for the first"]


async def test_a_receiver_woken_but_not_yet_resumed_is_still_receiving(node):
    """Between a receiver's wake-up and its resumption the process is still receiving: a
    second task's receive then fails at once too (it used to slip in, and one of the two
    waited on a waiter the other had replaced)."""
    got = []

    async def first():
        got.append(await beamish.receive(lambda m: m == "mine"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await anyio.wait_all_tasks_blocked()
        beamish.send(beamish.self(), "not for it")  # wakes it; it has not resumed yet
        with pytest.raises(RuntimeError, match="already waiting in receive"):
            await beamish.receive(lambda m: m == "nobody's", timeout=1)
        beamish.send(beamish.self(), "mine")
    assert got == ["mine"]


@pytest.mark.parametrize("overflowing", [1, 2])
async def test_drop_oldest_wakes_a_selective_receive(node, overflowing):
    """A message that arrives in a full drop_oldest mailbox reaches a selective receive
    that is already waiting, however many old messages were dropped before it woke."""
    me = beamish.self()

    def wanted(message):
        beamish.send(me, ("scanned", message))
        return message == "wanted"

    async def picky():
        beamish.send(me, ("got", await beamish.receive(wanted)))

    pid = beamish.spawn(picky, mailbox_limit=2, overflow="drop_oldest")
    for message in ("old 1", "old 2"):  # fill the mailbox; picky scans each and waits on
        beamish.send(pid, message)
        await assert_receive(("scanned", message))
    for n in range(overflowing - 1):
        beamish.send(pid, f"newer {n}")  # dropped messages shift the scan position
    beamish.send(pid, "wanted")
    assert await assert_receive(lambda m: m[0] == "got") == ("got", "wanted")
