"""Property tests of actors on a fresh node per example: ``run_on_node`` and ``ActorMachine``."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

import beamish
from beamish.testing import BACKENDS, ActorMachine, NodeSession, run_on_node

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Tally(beamish.Actor):
    """Adds what it is cast; answers a call with the total."""

    def init(self):
        self.total = 0

    def handle_cast(self, n):
        self.total += n

    def handle_call(self, request, caller):
        return self.total


@SETTINGS
@given(numbers=st.lists(st.integers(-100, 100), max_size=20))
@pytest.mark.parametrize("backend", BACKENDS)
def test_run_on_node_runs_each_example_on_a_fresh_node(backend, numbers):
    """Each example gets its own node: a name registered in one example is free in the next,
    and the actor sums what it was cast."""

    async def body():
        pid = await Tally.start(name="tally")  # NameTaken if a node were shared
        for n in numbers:
            beamish.cast(pid, n)
        return await beamish.call(pid, "total"), beamish.this_node().clock.now()

    total, now = run_on_node(body, backend=backend)
    assert total == sum(numbers)
    assert now == 0.0  # virtual time, started afresh


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_on_node_raises_the_crash_and_runs_on_virtual_time(backend):
    """A failing assert in the body is raised by run_on_node; an hour's timeout costs nothing."""

    async def late():
        beamish.send_after(beamish.self(), "late", 3600)
        assert await beamish.receive(timeout=7200) == "late"
        return beamish.this_node().clock.now()

    assert run_on_node(late, backend=backend) == pytest.approx(3600)

    async def failing():
        assert 1 == 2, "the body's own assert"

    with pytest.raises(AssertionError, match="the body's own assert"):
        run_on_node(failing, backend=backend)


def test_run_on_node_rejects_a_sync_function():
    """run_on_node checks its function before starting a node."""
    with pytest.raises(TypeError, match="run_on_node needs an async function"):
        run_on_node(print)
    with pytest.raises(ValueError, match="backend"):
        run_on_node(beamish.sleep, 0, backend="curio")


def test_node_session_keeps_processes_between_calls():
    """A NodeSession's node outlives each call, until close() stops it."""
    session = NodeSession()
    try:
        pid = session.run(Tally.start)
        for n in (1, 2, 3):
            session.run(_cast, pid, n)
        assert session.run(beamish.call, pid, "total") == 6
    finally:
        session.close()
    assert session.node.processes() == []


async def _cast(pid, n):
    beamish.cast(pid, n)


class TallyMachine(ActorMachine):
    """A Tally actor against a running sum, on one node per example."""

    def __init__(self):
        super().__init__()
        self.pid = self.run(Tally.start)
        self.model = 0

    @rule(n=st.integers(-5, 5))
    def add(self, n):
        """A cast adds to the total."""
        self.run(_cast, self.pid, n)
        self.model += n

    @rule()
    def restart(self):
        """A stopped and restarted Tally starts from zero."""
        self.run(beamish.stop, self.pid)
        self.pid = self.run(Tally.start)
        self.model = 0

    @invariant()
    def total_matches(self):
        """The actor's total is the model's."""
        assert self.run(beamish.call, self.pid, "total") == self.model

    def teardown(self):
        node = self.node
        super().teardown()
        assert node.processes() == []  # the node stopped with the example


class TrioTallyMachine(TallyMachine):
    """The same machine on trio."""

    backend = "trio"


MACHINE_SETTINGS = settings(
    max_examples=10,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTallyMachine = TallyMachine.TestCase
TestTallyMachine.settings = MACHINE_SETTINGS
TestTrioTallyMachine = TrioTallyMachine.TestCase
TestTrioTallyMachine.settings = MACHINE_SETTINGS


class BrokenTally(Tally):
    """Loses every cast of 3: the machine must find it."""

    def handle_cast(self, n):
        if n != 3:
            self.total += n


class BrokenMachine(TallyMachine):
    """TallyMachine over BrokenTally."""

    def __init__(self):
        ActorMachine.__init__(self)
        self.pid = self.run(BrokenTally.start)
        self.model = 0


def test_actor_machine_finds_a_bug():
    """ActorMachine drives a real actor: a lost message is found and reported as a failure."""
    case = BrokenMachine.TestCase
    case.settings = settings(
        max_examples=50, stateful_step_count=10, deadline=None, database=None, print_blob=False
    )
    with pytest.raises(AssertionError):
        case().runTest()
