"""Observing another node: an agent process spawned there answers, over the cluster."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import beamish
from beamish import cluster, observe
from beamish.cluster.transports import MemoryNetwork
from beamish.runtime import run_main
from beamish.supervision import Supervisor, child_spec

pytestmark = pytest.mark.anyio

A, B = "a@test", "b@test"
COOKIE = "observe-remote"


class Worker(beamish.Actor):
    def init(self) -> None:
        self.seen = 0

    def handle_cast(self, request: Any) -> None:
        self.seen += 1


@contextlib.asynccontextmanager
async def two_nodes(**options_b: Any) -> AsyncIterator[tuple[beamish.Node, beamish.Node]]:
    """Nodes ``a`` and ``b`` in this process over an in-memory network, connected."""
    net = MemoryNetwork()
    async with contextlib.AsyncExitStack() as stack:
        started = []
        for name, options in ((A, {}), (B, options_b)):
            node = await stack.enter_async_context(beamish.runtime.start(name=name))
            with node:
                await stack.enter_async_context(
                    cluster.start(
                        cookie=COOKIE,
                        transport=net.transport(name),
                        listen=f"mem://{name}",
                        discovery=False,
                        **options,
                    )
                )
            started.append(node)
        a, b = started
        await run_main(a, cluster.connect, f"mem://{B}")
        yield a, b


async def test_process_info_snapshot_and_tree_of_another_node(anyio_backend: str) -> None:
    """From node a: a pid of node b, b's snapshot and b's tree, as b sees them."""
    async with two_nodes() as (a, b):

        async def start_on_b() -> Any:
            app = await Supervisor.start(children=[child_spec(Worker, id="w", name="w")])
            worker = beamish.whereis("w")
            for _ in range(3):
                beamish.cast(worker, "x")
            return app, worker

        app, worker = await run_main(b, start_on_b)
        gone = await run_main(b, _spawn_and_wait)

        async def look() -> Any:
            info = await observe.process_info(worker)
            frame = await observe.snapshot(B)
            trees = await observe.supervision_tree(B)
            return info, frame, trees, observe.known_nodes(), await observe.process_info(gone)

        info, frame, trees, known, nothing = await run_main(a, look)
        assert nothing is None
        assert info is not None
        assert (info.pid, info.name, info.behaviour, info.parent) == (worker, "w", "Worker", app)
        assert info.messages == 3
        assert frame.node == B
        assert worker in {p.pid for p in frame.processes}
        [tree] = [t for t in trees if t.pid == app]
        assert [(c.id, c.pid) for c in tree.children] == [("w", worker)]
        assert known == [A, B]


async def test_a_node_that_refuses_the_agent(anyio_backend: str) -> None:
    """A node that does not let beamish modules be spawned makes the question fail with a
    clear error, and stays up."""
    async with two_nodes(spawn_modules={"myapp"}) as (a, b):
        worker = await run_main(b, Worker.start)

        async def ask() -> Any:
            with pytest.raises(PermissionError, match="does not allow spawning"):
                await observe.process_info(worker)
            return True

        assert await run_main(a, ask)
        assert b.is_alive(worker)


async def _spawn_and_wait() -> beamish.Pid:
    async def brief() -> None:
        pass

    pid, ref = beamish.spawn_monitor(brief)
    await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    return pid
