"""Supervision trees: restarts deep in a tree, escalation, and shutting a whole tree down.

The tree under test::

    root (strategy varies)
    ├── a
    ├── mid (rest_for_one): m1, m2, m3
    └── z
"""

import anyio
import pytest
from scripted import Boom, Script, spec, started, stopped

import beamish
from beamish import Down
from beamish.supervision import Supervisor, which_children
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio


def _tree(log, root_strategy="one_for_one", mid_restarts=3):
    children = [
        spec("a", Script(log=log)),
        Supervisor.child_spec(
            children=[spec(m, Script(log=log)) for m in ("m1", "m2", "m3")],
            strategy="rest_for_one",
            max_restarts=mid_restarts,
            max_seconds=100,
        )
        | {"id": "mid"},
        spec("z", Script(log=log)),
    ]
    return children, {"strategy": root_strategy, "max_restarts": 3, "max_seconds": 100}


async def _pids(sup):
    return {info.id: info.pid for info in await which_children(sup)}


async def _crash(pid):
    ref = beamish.monitor(pid)
    beamish.cast(pid, ("exit", Boom("crash")))
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)


async def test_deep_crash_restarts_only_within_its_supervisor(node):
    """m2 crashing under a rest_for_one mid restarts m2 and m3; nothing else moves."""
    log = []
    children, flags = _tree(log)
    root = await Supervisor.start_link(children, **flags)
    top = await _pids(root)
    inner = await _pids(top["mid"])
    assert started(log) == ["a", "m1", "m2", "m3", "z"]
    del log[:]
    await _crash(inner["m2"])
    after = await _pids(top["mid"])
    assert await _pids(root) == top
    assert after["m1"] == inner["m1"]
    assert after["m2"] != inner["m2"]
    assert after["m3"] != inner["m3"]
    assert stopped(log) == ["m3"]
    assert started(log) == ["m2", "m3"]


async def test_one_for_all_root_restarts_the_whole_tree_in_order(node):
    """z crashing under a one_for_all root stops mid's subtree and a in reverse, then all."""
    log = []
    children, flags = _tree(log, root_strategy="one_for_all")
    root = await Supervisor.start_link(children, **flags)
    top = await _pids(root)
    del log[:]
    await _crash(top["z"])
    again = await _pids(root)
    assert all(again[k] != top[k] for k in top)
    assert stopped(log) == ["m3", "m2", "m1", "a"]
    assert started(log) == ["a", "m1", "m2", "m3", "z"]
    assert list(await _pids(again["mid"])) == ["m1", "m2", "m3"]


async def test_child_supervisor_exceeding_intensity_escalates(node):
    """mid giving up exits shutdown; the root restarts it with a fresh subtree."""
    log = []
    children, flags = _tree(log, mid_restarts=1)
    root = await Supervisor.start_link(children, **flags)
    top = await _pids(root)
    mid_ref = beamish.monitor(top["mid"])
    await _crash((await _pids(top["mid"]))["m1"])
    await which_children(top["mid"])  # the first restart is done
    del log[:]
    await _crash((await _pids(top["mid"]))["m1"])
    assert (await assert_receive(lambda m: type(m) is Down and m.ref == mid_ref)).reason == (
        "shutdown"
    )
    again = await _pids(root)
    assert again["mid"] != top["mid"]
    assert again["a"] == top["a"]
    assert again["z"] == top["z"]
    assert stopped(log) == ["m3", "m2"]
    assert started(log) == ["m1", "m2", "m3"]
    assert beamish.is_alive(root)


async def test_stopping_the_root_stops_the_tree_in_reverse_order(node):
    """Stopping the root stops z, mid's children in reverse, mid, then a; nothing is left."""
    log = []
    children, flags = _tree(log)
    root = await Supervisor.start(children, **flags)
    ref = beamish.monitor(root)
    await beamish.stop(root, "shutdown")
    assert (await assert_receive(lambda m: type(m) is Down and m.ref == ref)).reason == "shutdown"
    assert stopped(log) == ["z", "m3", "m2", "m1", "a"]
    assert started(log) == ["a", "m1", "m2", "m3", "z"]
    assert node.processes() == [beamish.self()]


async def test_parent_exit_stops_a_linked_tree(node):
    """A tree started with start_link from a process stops when that process exits."""
    log = []
    children, flags = _tree(log)
    done = anyio.Event()

    async def owner():
        await Supervisor.start_link(children, **flags)
        done.set()
        await beamish.receive(lambda m: m == "quit")

    pid = beamish.spawn(owner)
    ref = beamish.monitor(pid)
    await done.wait()
    beamish.send(pid, "quit")
    await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    while len(node.processes()) > 1:  # the tree stops after its owner: wait on its stops
        await beamish.sleep(1)
    assert stopped(log) == ["z", "m3", "m2", "m1", "a"]
    assert started(log) == ["a", "m1", "m2", "m3", "z"]


def _run(main, backend):
    if backend == "trio":
        from trio.testing import MockClock

        async def boot():
            async with beamish.runtime.start(virtual_time=True) as node:
                return await beamish.runtime.run_main(node, main)

        return anyio.run(
            boot, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)}
        )
    return beamish.run(main, virtual_time=True)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_leaving_run_stops_the_tree_without_restarts(backend):
    """Leaving beamish.run stops every child in reverse order, restarting none of them."""
    log = []
    children, flags = _tree(log)

    async def main():
        await Supervisor.start(children, **flags)
        return beamish.this_node()

    node = _run(main, backend)
    assert node.processes() == []
    assert started(log) == ["a", "m1", "m2", "m3", "z"]
    assert stopped(log) == ["z", "m3", "m2", "m1", "a"]
