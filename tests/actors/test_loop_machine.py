"""The generic loop's contract as a Hypothesis state machine against a model: any
interleaving of calls, casts, infos, idle timeouts, continues, hibernation, system messages
(get_state, statistics, suspend/resume) and stops, on asyncio and trio."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

import beamish
from beamish import Continue, Hibernate, Reply, Stop, Timeout
from beamish.actors import get_state, resume, statistics, suspend
from beamish.testing import ActorMachine

# What a callback asks of the loop, as data: None, ("continue", tag, then),
# ("timeout", seconds), ("hibernate",).
leaf_actions = st.one_of(
    st.none(),
    st.tuples(st.just("timeout"), st.sampled_from([0, 1, 2.5, 30])),
    st.just(("hibernate",)),
)
actions = st.recursive(
    leaf_actions,
    lambda inner: st.tuples(st.just("continue"), st.integers(0, 99), inner),
    max_leaves=3,
)


def make_action(spec: Any) -> Any:
    if spec is None:
        return None
    if spec[0] == "continue":
        return Continue(spec[1:])
    if spec[0] == "timeout":
        return Timeout(spec[1])
    if spec[0] == "hibernate":
        return Hibernate()
    if spec[0] == "stop":
        return Stop(spec[1])
    raise AssertionError(spec)


class Subject(beamish.Actor):
    """Logs each callback; does what each message's action spec says."""

    def init(self) -> None:
        self.log: list[Any] = []

    def handle_call(self, request: Any, caller: Any) -> Any:
        n, spec = request
        self.log.append(("call", n))
        return Reply(n, then=make_action(spec))

    def handle_cast(self, request: Any) -> Any:
        n, spec = request
        self.log.append(("cast", n))
        return make_action(spec)

    def handle_info(self, message: Any) -> Any:
        if isinstance(message, Timeout):
            self.log.append(("timeout", message.seconds))
            return None
        _, n, spec = message
        self.log.append(("info", n))
        return make_action(spec)

    def handle_continue(self, term: Any) -> Any:
        tag, then = term
        self.log.append(("continue", tag))
        return make_action(then)


class Model:
    """What the loop must have done, message by message."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.armed: float | None = None
        self.suspended = False
        self.queue: list[tuple[str, int, Any]] = []
        self.hibernated = False
        self.counts = {"call": 0, "cast": 0, "info": 0, "timeout": 0, "continue": 0}

    def deliver(self, kind: str, n: int, spec: Any) -> None:
        if self.suspended and kind != "call":
            self.queue.append((kind, n, spec))
        else:
            self.handle(kind, n, spec)

    def handle(self, kind: str, n: int, spec: Any) -> None:
        self.armed = None  # any message cancels the idle timeout
        self.hibernated = False
        self.counts[kind] += 1
        self.log.append((kind, n))
        self.act(spec)

    def act(self, spec: Any) -> None:
        while spec is not None and spec[0] == "continue":
            self.counts["continue"] += 1
            self.log.append(("continue", spec[1]))
            spec = spec[2]
        if spec is None:
            return
        if spec[0] == "timeout":
            self.armed = float(spec[1])
        elif spec[0] == "hibernate":
            self.hibernated = True

    def resume(self) -> None:
        self.suspended = False
        queued, self.queue = self.queue, []
        for message in queued:
            self.handle(*message)

    def fire(self) -> None:
        assert self.armed is not None
        self.counts["timeout"] += 1
        self.log.append(("timeout", self.armed))
        self.armed = None
        self.hibernated = False


class LoopMachine(ActorMachine):
    """One Subject server against the Model; every step ends with the server settled."""

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.pid: beamish.Pid | None = None
        self.serial = 0

    def next_n(self) -> int:
        self.serial += 1
        return self.serial

    @initialize()
    def start(self) -> None:
        self.pid = self.run(Subject.start)

    def step(self, send: Any) -> None:
        """Run ``send(pid)`` in a process, then let a due idle timeout fire (on virtual
        time) so that the server has done all it will do before the next step."""
        model, pid = self.model, self.pid

        async def body() -> None:
            await send(pid)
            if model.armed is not None and not model.suspended and not model.queue:
                await beamish.sleep(model.armed + 1)
                model.fire()

        self.run(body)

    @rule(spec=actions)
    def cast(self, spec: Any) -> None:
        n = self.next_n()

        async def send(pid: beamish.Pid) -> None:
            beamish.cast(pid, (n, spec))

        self.model.deliver("cast", n, spec)
        self.step(send)

    @rule(spec=actions)
    def info(self, spec: Any) -> None:
        n = self.next_n()

        async def send(pid: beamish.Pid) -> None:
            beamish.send(pid, ("info", n, spec))

        self.model.deliver("info", n, spec)
        self.step(send)

    @precondition(lambda self: not self.model.suspended)
    @rule(spec=actions)
    def call(self, spec: Any) -> None:
        n = self.next_n()

        async def send(pid: beamish.Pid) -> None:
            assert await beamish.call(pid, (n, spec)) == n

        self.model.deliver("call", n, spec)
        self.step(send)

    @rule(first=actions, second=actions)
    def two_casts_at_once(self, first: Any, second: Any) -> None:
        """The second cast is in the mailbox before the first is handled: it cancels any
        timeout the first arms, and runs after the first's continues."""
        a, b = self.next_n(), self.next_n()

        async def send(pid: beamish.Pid) -> None:
            beamish.cast(pid, (a, first))
            beamish.cast(pid, (b, second))

        self.model.deliver("cast", a, first)
        self.model.deliver("cast", b, second)
        self.step(send)

    @precondition(lambda self: not self.model.suspended)
    @rule()
    def suspend(self) -> None:
        async def send(pid: beamish.Pid) -> None:
            await suspend(pid)

        self.model.suspended = True
        self.step(send)

    @precondition(lambda self: self.model.suspended)
    @rule()
    def resume(self) -> None:
        async def send(pid: beamish.Pid) -> None:
            await resume(pid)

        self.model.resume()
        self.step(send)

    @rule(stop_by_cast=st.booleans())
    def stop_and_restart(self, stop_by_cast: bool) -> None:
        """Stopping (by stop(), or a callback's Stop) runs terminate with the reason; a
        new server takes its place."""
        n = self.next_n()

        async def stop_it(pid: beamish.Pid) -> beamish.Pid:
            ref = beamish.monitor(pid)
            if stop_by_cast and not self.model.suspended:
                beamish.cast(pid, (n, ("stop", ("shutdown", n))))
                expected: Any = ("shutdown", n)
            else:
                await beamish.stop(pid, "shutdown")
                expected = "shutdown"
            down = await beamish.receive(lambda m: type(m) is beamish.Down and m.ref == ref)
            assert down.reason == expected
            return await Subject.start()  # type: ignore[no-any-return]

        self.pid = self.run(stop_it, self.pid)
        self.model = Model()

    @invariant()
    def state_and_statistics_match_the_model(self) -> None:
        if self.pid is None:
            return
        model = self.model

        async def check(pid: beamish.Pid) -> None:
            state = await get_state(pid)
            assert state["log"] == model.log
            stats = await statistics(pid)
            assert (stats.calls, stats.casts, stats.infos, stats.timeouts, stats.continues) == (
                model.counts["call"],
                model.counts["cast"],
                model.counts["info"],
                model.counts["timeout"],
                model.counts["continue"],
            )
            assert stats.suspended == model.suspended
            assert stats.mailbox_len == len(model.queue)
            assert stats.hibernated == model.hibernated
            assert stats.idle_timeout == (model.armed if model.suspended else None)

        self.run(check, self.pid)


class TrioLoopMachine(LoopMachine):
    backend = "trio"


SETTINGS = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestLoopOnAsyncio = LoopMachine.TestCase
TestLoopOnAsyncio.settings = SETTINGS
TestLoopOnTrio = TrioLoopMachine.TestCase
TestLoopOnTrio.settings = SETTINGS
