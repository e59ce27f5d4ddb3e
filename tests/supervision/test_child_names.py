"""Naming children (Elixir's ``name:`` option) and validating ``children`` in the caller."""

import logging

import pytest

import beamish
from beamish import Actor, cluster
from beamish.cluster._global import SERVER
from beamish.cluster.transports import MemoryNetwork
from beamish.supervision import (
    DynamicSupervisor,
    InvalidChildSpec,
    Supervisor,
    TaskSupervisor,
    child_spec,
    start_child,
    which_children,
)
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio


class Worker(Actor):
    """Answers calls with its argument."""

    def init(self, tag=None):
        self.tag = tag

    def handle_call(self, request, caller):
        if request == "crash":
            raise RuntimeError("asked to crash")
        return self.tag


class DictResolver:
    """A minimal via resolver over a dict."""

    def __init__(self):
        self.names = {}

    def whereis_name(self, key):
        return self.names.get(key)

    def register_name(self, key, pid):
        if key in self.names:
            raise beamish.NameTaken(key)
        self.names[key] = pid

    def unregister_name(self, key):
        self.names.pop(key, None)


async def _by_id(sup):
    return {info.id: info.pid for info in await which_children(sup)}


async def test_child_spec_name_takes_every_name_form(node):
    """child_spec(..., name=) starts the child under a local name, (name, node) or via."""
    resolver = DictResolver()
    children = [
        child_spec((Worker, "local"), name="w_local", id="local"),
        child_spec((Worker, "tuple"), name=("w_tuple", node.name), id="tuple"),
        child_spec((Worker, "via"), name=beamish.via(resolver, "w_via"), id="via"),
        Worker.child_spec("method", name="w_method") | {"id": "method"},
    ]
    sup = await Supervisor.start(children)
    pids = await _by_id(sup)
    assert beamish.whereis("w_local") == pids["local"]
    assert beamish.whereis("w_tuple") == pids["tuple"]
    assert resolver.names == {"w_via": pids["via"]}
    assert beamish.whereis("w_method") == pids["method"]
    assert await beamish.call("w_local", "?") == "local"
    assert await beamish.call(beamish.via(resolver, "w_via"), "?") == "via"


async def test_a_restarted_child_takes_its_name_again(node):
    """After a crash the supervisor restarts the child under the same local name."""
    sup = await Supervisor.start([child_spec(Worker, name="again")])
    first = beamish.whereis("again")
    ref = beamish.monitor(first)
    with pytest.raises(beamish.Exited):
        await beamish.call("again", "crash")
    await assert_receive(lambda m: type(m) is beamish.Down and m.ref == ref)
    [(_, second, *_)] = await which_children(sup)
    assert second != first
    assert beamish.whereis("again") == second


async def test_supervisors_as_named_children(node):
    """Supervisor, DynamicSupervisor and TaskSupervisor child specs accept name=."""
    children = [
        Supervisor.child_spec(children=[(Worker, "inner")], name="sub"),
        DynamicSupervisor.child_spec(name="dyn", max_children=2),
        TaskSupervisor.child_spec(name="tasks"),
    ]
    root = await Supervisor.start(children)
    pids = await _by_id(root)
    assert beamish.whereis("sub") == pids["Supervisor"]
    assert beamish.whereis("dyn") == pids["DynamicSupervisor"]
    assert beamish.whereis("tasks") == pids["TaskSupervisor"]
    assert await start_child("dyn", (Worker, "dynamic")) is not None
    [(_, inner, *_)] = await which_children("sub")
    assert await beamish.call(inner, "?") == "inner"


async def test_start_child_with_a_name(node):
    """start_child(sup, child, name=...) names a dynamically started child."""
    sup = await DynamicSupervisor.start()
    pid = await start_child(sup, (Worker, "late"), name="late_one")
    assert beamish.whereis("late_one") == pid


async def test_global_name_for_a_child():
    """A child named via(cluster.global_names(), key) is registered cluster-wide."""
    net = MemoryNetwork()
    async with beamish.runtime.start(name="a@test", virtual_time=True) as node:
        async with cluster.start(
            cookie="c", transport=net.transport("a@test"), listen="mem://a@test", discovery=False
        ):

            async def main():
                name = beamish.via(cluster.global_names(), ("leader", 1))
                sup = await Supervisor.start([child_spec((Worker, "g"), name=name)])
                await beamish.call(SERVER, "sync")  # the claim is handled before this
                [(_, pid, *_)] = await which_children(sup)
                assert cluster.whereis_name(("leader", 1)) == pid
                return await beamish.call(name, "?")

            assert await beamish.runtime.run_main(node, main) == "g"


@pytest.mark.parametrize("name", [123, b"x", ("a", "b", "c"), ""], ids=repr)
def test_bad_child_name_is_refused_when_the_spec_is_made(name):
    """A bad name is an InvalidChildSpec for the "name" field that says what a name may be,
    before anything starts."""
    makers = [
        lambda: child_spec(Worker, name=name),
        lambda: Supervisor.child_spec(children=[], name=name),
        lambda: DynamicSupervisor.child_spec(name=name),
        lambda: TaskSupervisor.child_spec(name=name),
    ]
    for make in makers:
        with pytest.raises(InvalidChildSpec, match=r"name=.*(a str, via|must not be empty)"):
            make()
    with pytest.raises(InvalidChildSpec) as info:
        child_spec(Worker, name=name)
    assert info.value.field == "name"
    with pytest.raises((TypeError, ValueError), match="name must"):  # as Actor.start does
        Worker.child_spec(name=name)


def test_a_start_function_without_name_is_refused():
    """name= on a child whose start function takes no name is refused at once."""

    async def start_plain(tag):
        return None

    with pytest.raises(InvalidChildSpec, match="takes no name="):
        child_spec({"id": "p", "start": (start_plain, ("t",))}, name="p")


async def _start_supervisor(how, children):
    """Hand ``children`` to a supervisor in one of the ways a user can."""
    if how == "child_spec":
        Supervisor.child_spec(children=children)
    elif how == "keyword":
        await Supervisor.start(children=children)
    elif how == "runtime":
        async with beamish.runtime.start(children=children):
            pass
    else:
        await getattr(Supervisor, how)(children)


BAD_CHILDREN = {
    "class, not a list": Worker,
    "a dict": {"id": "w", "start": (Worker.start_link, ())},
    "a string": "Worker",
    "a generator": (c for c in [Worker]),
}


@pytest.mark.parametrize("children", list(BAD_CHILDREN.values()), ids=list(BAD_CHILDREN))
@pytest.mark.parametrize("how", ["start", "start_link", "keyword", "child_spec"])
async def test_children_must_be_a_list(node, caplog, how, children):
    """A non-list children raises InvalidChildSpec("children") in the caller, no process
    starts and nothing is logged."""
    caplog.set_level(logging.ERROR)
    before = node.processes()
    with pytest.raises(InvalidChildSpec) as info:
        await _start_supervisor(how, children)
    assert info.value.field == "children"
    assert "a list of child specs" in str(info.value)
    assert node.processes() == before
    assert not caplog.records


@pytest.mark.parametrize("how", ["start", "start_link", "child_spec", "runtime"])
async def test_duplicate_child_ids_are_refused_in_the_caller(node, caplog, how):
    """Two children with one id raise InvalidChildSpec("id") naming it, before anything
    starts: no child runs and nothing is logged."""
    caplog.set_level(logging.ERROR)
    started = []

    class Noted(Worker):
        def init(self, tag=None):
            started.append(tag)

    children = [(Noted, 1), (Noted, 2)]
    before = node.processes()
    with pytest.raises(InvalidChildSpec, match="duplicate id") as info:
        await _start_supervisor(how, children)
    assert info.value.field == "id"
    assert info.value.value == "Noted"
    assert started == []
    assert node.processes() == before
    assert not caplog.records
