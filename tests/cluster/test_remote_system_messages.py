"""System messages to a server on another node: they cross the wire as calls."""

import pytest
from meshkit import Echo, nodes, on

import beamish
from beamish.actors import ServerStatistics, get_state, resume, statistics, suspend
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B = "a@test", "b@test"


async def _start_echo():
    return await Echo.start(name="echo")


async def test_get_state_statistics_and_suspend_of_a_remote_server():
    """A process on A reads and steers a server on B: its state, its statistics (rebuilt
    as ServerStatistics from plain data), suspend and resume."""
    net = MemoryNetwork()
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, _) = started[A], started[B]
        pid = await on(b, _start_echo)
        await ca.connect("mem://" + B)

        async def client():
            assert await beamish.call(pid, "ping") == (B, "ping")
            state = await get_state(("echo", B))
            stats = await statistics(pid)
            await suspend(pid)
            with pytest.raises(beamish.CallTimeout):
                await beamish.call(pid, "waits", timeout=0.2)
            suspended = (await statistics(pid)).suspended
            await resume(pid)
            return state, stats, suspended, await beamish.call(pid, "back")

        state, stats, suspended, back = await on(a, client)
        assert state == {}
        assert isinstance(stats, ServerStatistics)
        assert (stats.pid, stats.name, stats.behaviour, stats.calls) == (pid, "echo", "Echo", 1)
        assert suspended is True
        assert back == (B, "back")
