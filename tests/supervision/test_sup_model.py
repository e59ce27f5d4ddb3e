"""Random schedules of crashes, additions and removals against a model of OTP's supervisor.

The model is written from OTP's documentation (``supervisor`` module), independently of
``restart_plan``/``add_restart``: a list of children in start order, each with a restart
type and whether it runs, and a count of restarts (``max_seconds`` is huge and virtual time
does not move, so every restart stays in the window).
"""

import anyio
import anyio.from_thread
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from scripted import Boom, Script, spec

import beamish
from beamish import Down
from beamish.supervision import (
    ChildNotFound,
    ChildRunning,
    Supervisor,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)

RESTARTS = ["permanent", "transient", "temporary"]
REASONS = ["normal", "shutdown", "exception", "kill"]
MAX_RESTARTS = 4


class Model:
    """OTP's supervisor as plain data: [id, restart, running] in start order."""

    def __init__(self, strategy, children):
        self.strategy = strategy
        self.children = [[cid, restart, True] for cid, restart in children]
        self.restarts = 0
        self.events = []  # ("start", id) / ("stop", id) expected since the last check

    def find(self, cid):
        return next((c for c in self.children if c[0] == cid), None)

    def crash(self, cid, reason):
        """Child ``cid`` exited with ``reason``; False if the supervisor gives up."""
        child = self.find(cid)
        child[2] = False
        _, restart, _ = child
        if restart == "temporary":
            self.children.remove(child)
        abnormal = reason in ("exception", "kill")
        if not (restart == "permanent" or (restart == "transient" and abnormal)):
            return True
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            for other in reversed(self.children):
                if other[2]:
                    self.events.append(("stop", other[0]))
            return False
        index = self.children.index(child)
        if self.strategy == "one_for_one":
            affected = [child]
        elif self.strategy == "one_for_all":
            affected = list(self.children)
        else:
            affected = self.children[index:]
        for other in reversed(affected):  # stop the running siblings, newest first
            if other[2]:
                self.events.append(("stop", other[0]))
                other[2] = False
                if other[1] == "temporary":
                    self.children.remove(other)
        for other in affected:  # then start all the kept ones again, in order
            if other in self.children:
                self.events.append(("start", other[0]))
                other[2] = True
        return True


class SupervisorMachine(RuleBasedStateMachine):
    """Drive a real Supervisor through a portal and compare it with ``Model`` after each step."""

    backend = "asyncio"

    def __init__(self):
        super().__init__()
        options = {}
        if self.backend == "trio":
            from trio.testing import MockClock

            options = {"clock": MockClock(autojump_threshold=0)}
        self._portal_cm = anyio.from_thread.start_blocking_portal(self.backend, options)
        self.portal = self._portal_cm.__enter__()
        self._node_cm = self.portal.wrap_async_context_manager(
            beamish.runtime.start(name="model@localhost", virtual_time=True)
        )
        self.node = self._node_cm.__enter__()
        self.log = []
        self.serial = 0
        self.sup = None
        self.model = None

    def _in_process(self, fn, *args):
        return self.portal.call(beamish.runtime.run_main, self.node, fn, *args)

    def _spec(self, restart):
        self.serial += 1
        return spec(f"c{self.serial}", Script(log=self.log), restart=restart)

    @precondition(lambda self: self.sup is None)
    @rule(
        strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
        restarts=st.lists(st.sampled_from(RESTARTS), min_size=1, max_size=4),
    )
    def start_supervisor(self, strategy, restarts):
        """Start a supervisor with some children; they start in order."""
        specs = [self._spec(r) for r in restarts]

        async def go():
            return await Supervisor.start(
                specs, strategy=strategy, max_restarts=MAX_RESTARTS, max_seconds=1e9
            )

        self.sup = self._in_process(go)
        self.model = Model(strategy, [(s.id, s.restart) for s in specs])
        self.model.events = [("start", s.id) for s in specs]

    @precondition(lambda self: self.sup is not None)
    @rule(index=st.integers(0, 20), reason=st.sampled_from(REASONS))
    def crash(self, index, reason):
        """A running child exits with a reason; the supervisor may give up."""
        running = [c[0] for c in self.model.children if c[2]]
        if not running:
            return
        cid = running[index % len(running)]
        sup = self.sup

        async def go():
            pid = {i.id: i.pid for i in await which_children(sup)}[cid]
            sup_ref = beamish.monitor(sup)
            ref = beamish.monitor(pid)
            if reason == "kill":
                beamish.exit(pid, "kill")
            else:
                beamish.cast(pid, ("exit", Boom("crash") if reason == "exception" else reason))
            await beamish.receive(lambda m: type(m) is Down and m.ref == ref, 10)
            try:
                await which_children(sup)  # answered once the exit is handled
            except beamish.Exited:
                down = await beamish.receive(lambda m: type(m) is Down and m.ref == sup_ref, 10)
                return down.reason
            return None

        outcome = self._in_process(go)
        alive = self.model.crash(cid, reason)
        if not alive:
            assert outcome == "shutdown"
            self._check_log()
            self.sup = None
        else:
            assert outcome is None

    @precondition(lambda self: self.sup is not None)
    @rule(restart=st.sampled_from(RESTARTS))
    def add_child(self, restart):
        """start_child appends a running child."""
        child = self._spec(restart)
        pid = self._in_process(start_child, self.sup, child)
        assert pid is not None
        self.model.children.append([child.id, restart, True])
        self.model.events.append(("start", child.id))

    @precondition(lambda self: self.sup is not None)
    @rule(index=st.integers(0, 20), op=st.sampled_from(["terminate", "delete", "restart"]))
    def manage(self, index, op):
        """terminate_child / delete_child / restart_child, or their errors, as OTP says."""
        ids = [c[0] for c in self.model.children] + ["ghost"]
        cid = ids[index % len(ids)]
        child = self.model.find(cid)
        fn = {"terminate": terminate_child, "delete": delete_child, "restart": restart_child}[op]

        async def go():
            try:
                await fn(self.sup, cid)
            except (ChildNotFound, ChildRunning) as exc:
                return type(exc)
            return None

        outcome = self._in_process(go)
        if child is None:
            assert outcome is ChildNotFound
        elif op == "terminate":
            assert outcome is None
            if child[2]:
                self.model.events.append(("stop", cid))
            child[2] = False
            if child[1] == "temporary":
                self.model.children.remove(child)
        elif child[2]:
            assert outcome is ChildRunning
        elif op == "delete":
            assert outcome is None
            self.model.children.remove(child)
        else:
            assert outcome is None
            child[2] = True
            self.model.events.append(("start", cid))

    def _check_log(self):
        got = [(e[0], e[1]) for e in self.log]
        assert got == self.model.events
        del self.log[:]
        self.model.events = []

    @invariant()
    def matches_the_model(self):
        """Which children run, in which order, and what started or stopped since last step."""
        if self.sup is None:
            return
        infos = self._in_process(which_children, self.sup)
        assert [(i.id, i.pid is not None) for i in infos] == [
            (c[0], c[2]) for c in self.model.children
        ]
        assert [i.restart for i in infos] == [c[1] for c in self.model.children]
        self._check_log()

    def teardown(self):
        if self.sup is not None:
            self._in_process(beamish.stop, self.sup, "shutdown")
        self._node_cm.__exit__(None, None, None)
        self._portal_cm.__exit__(None, None, None)


class TrioSupervisorMachine(SupervisorMachine):
    """The same machine on trio."""

    backend = "trio"


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSupervisorMachine = SupervisorMachine.TestCase
TestSupervisorMachine.settings = SETTINGS
TestTrioSupervisorMachine = TrioSupervisorMachine.TestCase
TestTrioSupervisorMachine.settings = SETTINGS
