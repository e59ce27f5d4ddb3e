"""A stateful test of the local registry against a dict model: register, unregister,
update, process exit and lookups, on unique and duplicate keys."""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

import beamish
from beamish import registry
from beamish.registry import AlreadyRegistered, Registry
from beamish.testing import ActorMachine

KEYS = st.sampled_from(["a", "b", ("t", 1)])
VALUES = st.integers(0, 3)


async def _owner():
    """A process that runs registry operations on request and replies with the outcome."""
    while True:
        op, args, reply_to = await beamish.receive()
        try:
            result = ("ok", getattr(registry, op)("r", *args))
        except AlreadyRegistered as exc:
            result = ("taken", exc.pid)
        beamish.send(reply_to, result)


async def _ask(pid, op, *args):
    beamish.send(pid, (op, args, beamish.self()))
    return await beamish.receive(timeout=5)


async def _start(keys):
    await Registry.start(name="r", keys=keys)


async def _spawn():
    return beamish.spawn(_owner)


async def _kill(pid):
    ref = beamish.monitor(pid)
    beamish.exit(pid, "kill")
    await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref, timeout=5)
    await beamish.call("r", "sync")  # the partition has handled the exit


async def _read(op, *args):
    return getattr(registry, op)("r", *args)


class RegistryMachine(ActorMachine):
    """Registry operations by several processes agree with a model of the entries."""

    keys = "unique"

    def __init__(self):
        super().__init__()
        self.run(_start, self.keys)
        self.pids = []
        self.model = []  # [(key, pid, value)] in registration order

    @rule()
    def spawn(self):
        self.pids.append(self.run(_spawn))

    @precondition(lambda self: self.pids)
    @rule(data=st.data(), key=KEYS, value=VALUES)
    def register(self, data, key, value):
        pid = data.draw(st.sampled_from(self.pids))
        result = self.run(_ask, pid, "register", key, value)
        holders = [p for k, p, _ in self.model if k == key]
        if self.keys == "unique" and holders:
            assert result == ("taken", holders[0])
        else:
            assert result[0] == "ok"
            self.model.append((key, pid, value))

    @precondition(lambda self: self.pids)
    @rule(data=st.data(), key=KEYS)
    def unregister(self, data, key):
        pid = data.draw(st.sampled_from(self.pids))
        assert self.run(_ask, pid, "unregister", key) == ("ok", None)
        self.model = [e for e in self.model if not (e[0] == key and e[1] == pid)]

    @precondition(lambda self: self.pids and self.keys == "unique")
    @rule(data=st.data(), key=KEYS)
    def update(self, data, key):
        pid = data.draw(st.sampled_from(self.pids))
        result = self.run(_ask, pid, "update_value", key, lambda v: v + 10)
        mine = [i for i, e in enumerate(self.model) if e[0] == key and e[1] == pid]
        if not mine:
            assert result == ("ok", None)
            return
        (i,) = mine
        old = self.model[i][2]
        assert result == ("ok", (old + 10, old))
        self.model[i] = (key, pid, old + 10)

    @precondition(lambda self: self.pids)
    @rule(data=st.data())
    def exit(self, data):
        pid = data.draw(st.sampled_from(self.pids))
        self.run(_kill, pid)
        self.pids.remove(pid)
        self.model = [e for e in self.model if e[1] != pid]

    @invariant()
    def lookups_agree(self):
        for key in ["a", "b", ("t", 1)]:
            expected = [(p, v) for k, p, v in self.model if k == key]
            assert self.run(_read, "lookup", key) == expected
        assert self.run(_read, "count") == len(self.model)
        for pid in self.pids:
            assert self.run(_read, "keys", pid) == [k for k, p, _ in self.model if p == pid]


class DuplicateRegistryMachine(RegistryMachine):
    keys = "duplicate"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("machine", [RegistryMachine, DuplicateRegistryMachine])
def test_registry_agrees_with_the_model(machine):
    """Any sequence of operations leaves lookups, counts and keys as the model says."""
    case = machine.TestCase
    case.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
    case().runTest()


class TrioRegistryMachine(RegistryMachine):
    backend = "trio"


@pytest.mark.timeout(120)
def test_registry_agrees_with_the_model_on_trio():
    """The same machine on trio (unique keys)."""
    case = TrioRegistryMachine.TestCase
    case.settings = settings(max_examples=15, stateful_step_count=20, deadline=None)
    case().runTest()
