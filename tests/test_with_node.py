"""Code in a task the node did not start (a web request handler) enters it with `with node:`;
outside any node the error says how to start or enter one."""

from __future__ import annotations

import anyio
import pytest

import beamish


class Echo(beamish.Actor):
    def handle_call(self, request: object, caller: beamish.Caller) -> object:
        return request


@pytest.mark.anyio
async def test_outside_a_node_the_error_says_how_to_enter_one() -> None:
    """A call from a task that no node runs raises NotInProcess naming `with node:`."""
    with pytest.raises(beamish.NotInProcess, match=r"with node:") as caught:
        await beamish.call("anyone", "hi")
    assert "beamish.run" in str(caught.value)
    assert "beamish.runtime.start()" in str(caught.value)


@pytest.mark.anyio
async def test_a_foreign_task_calls_after_entering_the_node() -> None:
    """A task started outside the node (as a web server starts request handlers) fails
    before `with node:` and calls an actor inside it."""
    nodes: list[beamish.Node] = []
    results: list[object] = []
    node_up, handled = anyio.Event(), anyio.Event()

    async def handler() -> None:
        await node_up.wait()
        try:
            await beamish.call("echo", 1)
        except beamish.NotInProcess:
            results.append("outside")
        with nodes[0]:
            results.append(await beamish.call("echo", 2))
        handled.set()

    async with anyio.create_task_group() as server:
        server.start_soon(handler)  # spawned before the node starts: its context has no node
        async with beamish.runtime.start(virtual_time=True) as node:
            await Echo.start(name="echo")
            nodes.append(node)
            node_up.set()
            with anyio.fail_after(5):
                await handled.wait()
    assert results == ["outside", 2]
