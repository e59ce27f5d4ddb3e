"""A stateful property test: random sequences of start, stop, call, touch, crash and
advance-time against a model of the sessions, including max_sessions and the sliding rate
window, on virtual time, on both backends.

Each example runs its whole sequence in one process of a fresh node (``run_on_node``),
checking the model after every step: between the steps of a Hypothesis
``RuleBasedStateMachine`` an idle node's virtual clock would run ahead on the sweeper's
timer, which a model of time cannot follow. Commands happen at half seconds and sweeps
at whole ones, so no two ever share an instant.
"""

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessionkit import Counter

import beamish
from beamish import sessions
from beamish.testing import BACKENDS, run_on_node

IDS = ("a", "b", "c", "d", "e")
TTL = 10
MAX = 3
RATE = (4, 30)

commands = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.sampled_from(IDS)),  # twice: limits need many starts
        st.tuples(st.just("start"), st.sampled_from(IDS)),
        st.tuples(st.sampled_from(["stop", "call", "touch", "crash"]), st.sampled_from(IDS)),
        st.tuples(st.just("advance"), st.integers(1, 2 * TTL)),
    ),
    max_size=40,
)


class Model:
    """What the sessions should be: id -> (last activity, value); admitted start times."""

    def __init__(self):
        self.now = 0.5
        self.running = {}
        self.admitted = []
        self.started = 0

    def start(self, session_id):
        if session_id in self.running:
            return sessions.SessionAlreadyStarted
        if len(self.running) >= MAX:
            return sessions.SessionLimitReached
        limit, window = RATE
        if sum(1 for t in self.admitted if t > self.now - window) >= limit:
            return sessions.RateLimitExceeded
        self.admitted.append(self.now)
        self.started += 1
        self.running[session_id] = [self.now, self.started]
        return "ok"

    def act(self, session_id, kind):
        if session_id not in self.running:
            return sessions.SessionNotFound
        if kind == "stop":
            del self.running[session_id]
            return None
        if kind == "crash":
            del self.running[session_id]
            return sessions.SessionCrashed
        self.running[session_id][0] = self.now
        return self.running[session_id][1] if kind == "call" else None

    def advance(self, seconds):
        end = self.now + seconds
        sweep = int(self.now) + 1
        while sweep <= end:
            for session_id, (last, _) in list(self.running.items()):
                if sweep - last >= TTL:
                    del self.running[session_id]
            sweep += 1
        self.now = end


async def perform(command):
    kind, arg = command
    try:
        if kind == "start":
            await sessions.start(arg, Counter)
            return "ok"
        if kind == "advance":
            await beamish.sleep(arg)
            return None
        if kind == "stop":
            await sessions.stop(arg)
            return None
        if kind == "call":
            return await sessions.call(arg, "get_value")
        if kind == "touch":
            await sessions.touch(arg)
            return None
        await sessions.call(arg, "crash")
    except sessions.SessionError as exc:
        return type(exc)
    raise AssertionError("a crash request returned")


async def scenario(steps):
    await sessions.Sessions.start_link(
        session=Counter, max_sessions=MAX, ttl=TTL, rate_limit=RATE, sweep_interval=1
    )
    await beamish.sleep(0.5)  # commands at half seconds; the sweeper ticks at whole ones
    model = Model()
    for step, command in enumerate(steps):
        kind, arg = command
        if kind == "start":
            expected = model.start(arg)
            got = await perform(command)
            if got == "ok":  # its value: which start of the scenario made it
                await sessions.cast(arg, ("put", "value", model.running[arg][1]))
        elif kind == "advance":
            model.advance(arg)
            expected = got = await perform(command)
        else:
            expected = model.act(arg, kind)
            got = await perform(command)
        assert got == expected, (step, command, got, expected)
        listed = sorted(i for i, _ in sessions.list())
        assert listed == sorted(model.running), (step, command, listed, model.running)
        assert sessions.stats()["local"] == len(model.running)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, deadline=None)
@given(steps=commands)
def test_sessions_follow_the_model(backend, steps):
    """After each random step, results and the running ids match the model."""
    logging.disable(logging.ERROR)  # the "crash" steps' crash reports are expected
    try:
        run_on_node(scenario, steps, backend=backend)
    finally:
        logging.disable(logging.NOTSET)
