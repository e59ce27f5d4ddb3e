"""``beamish.observe``: process details, snapshots, rates and the supervision tree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import beamish
from beamish import observe
from beamish.actors import resume, suspend
from beamish.observe._dashboard import parse_pid
from beamish.supervision import DynamicSupervisor, Supervisor, child_spec, start_child

pytestmark = pytest.mark.anyio


class Store(beamish.Actor):
    """Keeps what it is cast; answers ``"size"``; blocks in a call until told to go on."""

    def init(self) -> None:
        self.items: list[Any] = []

    def handle_cast(self, request: Any) -> None:
        self.items.append(request)

    async def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        if isinstance(request, tuple) and request[0] == "hold":
            beamish.send(request[1], "holding")
            await beamish.receive(lambda m: m == "go on")
        return len(self.items)


async def test_process_info_of_a_server(node: beamish.Node) -> None:
    """A server's details carry its name, behaviour, messages handled and parent."""
    sup = await Supervisor.start_link(children=[child_spec(Store, id="store", name="store")])
    for n in range(3):
        beamish.cast("store", n)
    assert await beamish.call("store", "size") == 3
    info = await observe.process_info(beamish.whereis("store"))
    assert info is not None
    assert (info.name, info.behaviour, info.parent) == ("store", "Store", sup)
    assert info.messages == 4
    assert info.status == "waiting"
    assert sup in info.links


async def test_process_info_of_a_plain_process_and_a_dead_one(node: beamish.Node) -> None:
    """A plain process has no server fields; a dead pid answers None."""

    async def one_message() -> None:
        await beamish.receive()

    pid, ref = beamish.spawn_monitor(one_message)
    beamish.send(pid, "one")  # it takes it and exits
    await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    assert await observe.process_info(pid) is None
    me = await observe.process_info(beamish.self())
    assert me is not None
    assert (me.status, me.behaviour, me.messages) == ("running", None, None)


async def test_mailbox_memory_and_suspension(node: beamish.Node) -> None:
    """Queued messages show as mailbox length and memory; a suspended server says so."""
    pid = await Store.start_link()
    before = await observe.process_info(pid)
    await suspend(pid)
    for _ in range(20):
        beamish.cast(pid, "x" * 10_000)
    during = await observe.process_info(pid)
    assert during is not None
    assert before is not None
    assert (during.status, during.message_queue_len) == ("suspended", 20)
    assert during.memory > before.memory + 20 * 10_000
    await resume(pid)
    assert await beamish.call(pid, "size") == 20
    after = await observe.process_info(pid)
    assert after is not None
    assert after.message_queue_len == 0
    assert after.memory > before.memory + 20 * 10_000  # now in its state


class NodeKeeper(Store):
    """Keeps the node in its state, as the cluster's own servers do."""

    def init(self) -> None:
        super().init()
        self.node = beamish.this_node()


async def test_memory_counts_the_state_not_the_runtime(node: beamish.Node) -> None:
    """A server that keeps the node in its state is not charged for the node (every one of
    the cluster's servers weighed about 118 KiB: the whole runtime)."""
    for _ in range(20):  # a node with something in it
        other = await Store.start_link()
        beamish.cast(other, "z" * 5_000)
    small = await NodeKeeper.start_link()
    big = await NodeKeeper.start_link()
    for _ in range(10):
        beamish.cast(big, "y" * 10_000)
    await beamish.call(big, "size")
    small_info = await observe.process_info(small)
    big_info = await observe.process_info(big)
    assert small_info is not None
    assert big_info is not None
    assert small_info.memory < 16_000
    assert 100_000 < big_info.memory < 100_000 + 16_000


async def test_current_callback(node: beamish.Node) -> None:
    """While a server is inside ``handle_call`` its details name that callback."""
    pid = await Store.start_link()
    async with beamish_task(beamish.call, pid, ("hold", beamish.self())):
        await beamish.receive(lambda m: m == "holding")
        info = await observe.process_info(pid)
        assert info is not None
        assert (info.status, info.current_callback) == ("running", "handle_call")
        beamish.send(pid, "go on")


class beamish_task:
    """Run ``fn(*args)`` in a process of its own for the block; wait for it at the end."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    async def __aenter__(self) -> None:
        async def body() -> None:
            await self.fn(*self.args)

        self.pid, self.ref = beamish.spawn_monitor(body)

    async def __aexit__(self, *exc: object) -> None:
        down = await beamish.receive(
            lambda m: isinstance(m, beamish.Down) and m.ref == self.ref, timeout=5
        )
        assert down.reason == "normal"


async def test_snapshot_and_rates(node: beamish.Node) -> None:
    """A snapshot lists every process; rates count messages handled between two."""
    pid = await Store.start_link(name="rated")
    first = await observe.snapshot()
    assert {beamish.self(), pid} <= {p.pid for p in first.processes}
    for n in range(10):
        beamish.cast(pid, n)
    await beamish.call(pid, "size")
    await beamish.sleep(2)  # virtual time: the second snapshot is 2 s later
    second = await observe.snapshot()
    assert second.taken_at > first.taken_at
    rates = observe.message_rates(first, second)
    elapsed = second.taken_at - first.taken_at
    assert rates[pid] == pytest.approx(11 / elapsed)
    assert first.rss > 0
    assert first.node == node.name


async def test_supervision_tree(node: beamish.Node) -> None:
    """Nested supervisors come out as one tree; a restarted child shows its new pid."""

    class Inner(Supervisor):
        def children(self) -> list[Any]:
            return [child_spec(Store, id="a"), child_spec(Store, id="b", name="b")]

    dyn = await DynamicSupervisor.start_link()
    await start_child(dyn, child_spec(Store, id="dyn-child"))
    app = await Supervisor.start_link(
        children=[child_spec(Inner, id="inner"), child_spec(Store, id="store")]
    )
    trees = {tree.pid: tree for tree in await observe.supervision_tree()}
    assert set(trees) == {dyn, app}
    tree = trees[app]
    assert [(c.id, c.type, c.behaviour) for c in tree.children] == [
        ("inner", "supervisor", "Inner"),
        ("store", "worker", "Store"),
    ]
    assert [c.id for c in tree.children[0].children] == ["a", "b"]
    assert [c.behaviour for c in trees[dyn].children] == ["Store"]

    old = beamish.whereis("b")
    ref = beamish.monitor(old)
    beamish.exit(old, "kill")
    await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    [again] = [t for t in await observe.supervision_tree() if t.pid == app]
    new = again.children[0].children[1].pid
    assert new is not None
    assert new != old
    assert again.as_dict()["children"][0]["children"][1]["pid"] == str(new)


class Strict(beamish.Actor):
    """Crashes on any call: the observer must never call a server it does not know."""

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        raise RuntimeError(f"called with {request!r}")


async def test_the_tree_asks_only_real_supervisors(node: beamish.Node) -> None:
    """A child declared ``type="supervisor"`` that is no supervisor (as a registry is in
    Elixir) shows as a leaf and gets no ``which_children`` call (it used to crash)."""
    app = await Supervisor.start_link(
        children=[child_spec(Strict, id="strict", name="strict", type="supervisor")]
    )
    strict = beamish.whereis("strict")
    [tree] = [t for t in await observe.supervision_tree() if t.pid == app]
    assert [(c.id, c.type, c.behaviour, c.children) for c in tree.children] == [
        ("strict", "supervisor", "Strict", ())
    ]
    await observe.snapshot()
    assert beamish.whereis("strict") == strict


@given(
    st.recursive(
        st.none() | st.integers() | st.text() | st.binary(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=30,
    )
)
def test_estimate_counts_each_object_once_and_at_least_the_root(value: Any) -> None:
    """The estimate is at least the root's own size, and sharing does not double count."""
    import sys

    assert observe.estimate(value) >= sys.getsizeof(value)
    shared = [value, value]
    assert observe.estimate(shared) == sys.getsizeof(shared) + observe.estimate(value)


def test_estimate_ends_on_cycles_and_within_its_budget() -> None:
    """A cycle is walked once; a huge structure stops at the budget."""
    loop: list[Any] = []
    loop.append(loop)
    assert observe.estimate(loop) == __import__("sys").getsizeof(loop)
    big = [[n] for n in range(100_000)]
    assert observe.estimate(big, budget=100) < observe.estimate(big, budget=1000)


def test_parse_pid_accepts_only_pids_of_known_nodes() -> None:
    """A browser's pid string reaches an agent only when it names a known node."""
    nodes = ["a@h", "b@10.0.0.1"]
    assert parse_pid("<b@10.0.0.1.5.9>", nodes) == beamish.Pid("b@10.0.0.1", 5, 9)
    for hostile in ("<c@h.1.1>", "a@h.1.1", "<a@h.x.1>", "<a@h.1>", 7, None, "<>", "<a@h.-1.0>"):
        assert parse_pid(hostile, nodes) is None
