"""A Hypothesis state machine: track, untrack, update, process death, partition (a node
down for the other) and heal on two nodes of the in-memory network, against a model.

After every step each node's view, and the sum of the diffs its tracker reported, must
become exactly what the model says: the node's own presences, plus the other node's
unless a partition has lasted past the down period. The nodes run on the real clock with
short periods (asyncio, in a thread of their own between steps).
"""

import contextlib

import anyio.from_thread
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from meshkit import nodes, on, until_connected
from trackerkit import TRACKER, Ledgers, Reporting, listed, start_ledger, track_new

import beamish
from beamish import presence
from beamish.cluster.transports import MemoryNetwork

A, B = "a@stateful", "b@stateful"
ROOM = "room"
OPTIONS = {"broadcast_period": 0.05, "max_silent_periods": 3, "down_period": 0.5}


async def _start():
    await start_ledger()
    await Reporting.start(name=TRACKER, **OPTIONS)


async def _call(fn, *args):
    return await fn(*args)


async def _untrack(pid, key):
    await presence.untrack(TRACKER, pid, ROOM, key)


async def _update(pid, key, n):
    return (key, await presence.update(TRACKER, pid, ROOM, key, {"n": n}))


async def _kill(pid):
    beamish.exit(pid, "kill")


class TrackerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.net = MemoryNetwork()
        self._stack = contextlib.ExitStack()
        self.portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal("asyncio"))
        self.started = self._stack.enter_context(
            self.portal.wrap_async_context_manager(nodes(self.net.transport, [A, B], heartbeat=1.0))
        )
        self.portal.call(self._connect)
        for name in (A, B):
            self.on(name, _start)
        self.ledgers = Ledgers(lambda name: self.started[name][0])
        self.own = {A: {}, B: {}}  # node -> (key, ref) -> pid
        self.partitioned = False
        self.serial = 0

    async def _connect(self):
        await self.started[A][1].connect("mem://" + B)
        for name, (_, the_cluster) in self.started.items():
            await until_connected(the_cluster, [n for n in self.started if n != name])

    def on(self, name, fn, *args):
        return self.portal.call(on, self.started[name][0], fn, *args)

    def teardown(self):
        self._stack.close()

    def expected(self, name):
        other = B if name == A else A
        mine = set(self.own[name])
        return mine if self.partitioned else mine | set(self.own[other])

    def items(self):
        return [(name, item) for name in (A, B) for item in self.own[name]]

    @rule(name=st.sampled_from([A, B]))
    def track(self, name):
        self.serial += 1
        pid, item = self.on(name, track_new, ROOM, f"k{self.serial}")
        self.own[name][item] = pid

    @precondition(lambda self: self.items())
    @rule(data=st.data())
    def untrack(self, data):
        name, item = data.draw(st.sampled_from(self.items()))
        pid = self.own[name].pop(item)
        self.on(name, _untrack, pid, item[0])

    @precondition(lambda self: self.items())
    @rule(data=st.data())
    def update(self, data):
        name, item = data.draw(st.sampled_from(self.items()))
        pid = self.own[name].pop(item)
        self.own[name][self.on(name, _update, pid, item[0], self.serial)] = pid

    @precondition(lambda self: self.items())
    @rule(data=st.data())
    def process_dies(self, data):
        name, item = data.draw(st.sampled_from(self.items()))
        self.on(name, _kill, self.own[name].pop(item))

    @precondition(lambda self: not self.partitioned)
    @rule()
    def partition(self):
        self.net.partition(A, B)
        self.partitioned = True

    @precondition(lambda self: self.partitioned)
    @rule()
    def heal(self):
        self.net.heal()
        self.portal.call(self._connect)
        self.partitioned = False

    @invariant()
    def every_node_converges_on_the_model(self):
        expected = {(name, ROOM): self.expected(name) for name in (A, B)}
        self.on(A, _call, self.ledgers.until, expected)
        for name in (A, B):
            assert self.on(name, listed, ROOM) == self.expected(name)


TrackerMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.timeout(300)
def test_tracker_against_a_model():
    """The tracker on two nodes follows the model through any sequence of steps."""
    TrackerMachine.TestCase().runTest()
