"""Three nodes as real OS processes on 127.0.0.1, driven from a node in the test process."""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import pytest
from meshkit import Recorder, on, until_connected
from osnodes import COOKIE, HOST, WAIT, OsNode, launcher

import beamish
from beamish import cluster
from beamish.cluster.transports import TcpTransport

pytestmark = [
    pytest.mark.anyio,
    # real processes and sockets: asyncio on the real clock (no trio MockClock)
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),
    pytest.mark.timeout(60),
]

N1, N2, N3, T = (f"{short}@{HOST}" for short in ("n1", "n2", "n3", "t"))


@contextlib.asynccontextmanager
async def three_nodes(tmp_path: Path):
    """n1, then n2 and n3 seeded with n1, and the test's own node t connected to all."""
    async with launcher(tmp_path) as launch:
        n1 = await launch(N1)
        started: dict[str, OsNode] = {N1: n1}

        async def seeded(name: str) -> None:
            started[name] = await launch(name, (n1.address,))

        async with anyio.create_task_group() as group:
            group.start_soon(seeded, N2)
            group.start_soon(seeded, N3)
        async with beamish.runtime.start(name=T) as node:
            async with cluster.start(
                cookie=COOKIE,
                transport=TcpTransport(),
                listen=f"{HOST}:0",
                discovery=False,
                heartbeat=1.0,
            ) as the_cluster:
                assert await the_cluster.connect(n1.address) == N1
                await until_connected(the_cluster, [N1, N2, N3], timeout=WAIT)
                yield launch, started, node, the_cluster


async def ctl_call(node: str, request: tuple) -> object:
    """Call the ``ctl`` server of an OS-process node."""
    return await beamish.call(("ctl", node), request, timeout=WAIT)


async def test_remote_call_and_cast_across_os_processes(tmp_path):
    """Calls and casts reach every OS-process node, and those nodes form a full mesh."""
    async with three_nodes(tmp_path) as (_, _, node, _):

        async def client():
            replies = [
                await beamish.call(("ctl", n), ("echo", n), timeout=WAIT) for n in (N1, N2, N3)
            ]
            beamish.cast(("ctl", N2), (beamish.self(), "hello"))
            cast = await beamish.receive(timeout=WAIT)
            meshes = [
                await beamish.call(
                    ("ctl", n), ("nodes", sorted({N1, N2, N3, T} - {n})), timeout=WAIT
                )
                for n in (N1, N2, N3)
            ]
            return replies, cast, meshes

        replies, cast, meshes = await on(node, client)
        assert replies == [(N1, N1), (N2, N2), (N3, N3)]
        assert cast == ("cast", N2, "hello")
        assert meshes == [sorted({N1, N2, N3, T} - {n}) for n in (N1, N2, N3)]


async def test_remote_link_fires_when_a_process_on_another_os_process_dies(tmp_path):
    """A link and a monitor from the test node to a process of n2 fire with its crash."""
    async with three_nodes(tmp_path) as (_, _, node, _):

        async def client():
            beamish.trap_exits(True)
            victim = await beamish.call(("ctl", N2), ("victim",), timeout=WAIT)
            beamish.link(victim)
            ref = beamish.monitor(victim)
            beamish.send(victim, "die")
            exit_ = await beamish.receive(lambda m: isinstance(m, beamish.Exit), timeout=WAIT)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=WAIT)
            return victim, ref, exit_, down

        victim, ref, exit_, down = await on(node, client)
        assert victim.node == N2
        assert (exit_.pid, type(exit_.reason), str(exit_.reason)) == (
            victim,
            RuntimeError,
            "victim told to die",
        )
        assert (down.ref, down.pid, type(down.reason)) == (ref, victim, RuntimeError)


async def test_kill_9_fires_noconnection_everywhere_and_a_restarted_node_rejoins(tmp_path):
    """kill -9 of n3: the test node and n1 see NodeDown and their links/monitors to n3's
    process fire with noconnection; n3 restarted under the same name rejoins and answers."""
    async with three_nodes(tmp_path) as (launch, started, node, _):

        async def client():
            beamish.trap_exits(True)
            cluster.monitor_nodes(True)
            victim = await beamish.call(("ctl", N3), ("victim",), timeout=WAIT)
            assert await beamish.call(("ctl", N1), ("watch", victim), timeout=WAIT) == "watching"
            beamish.link(victim)
            ref = beamish.monitor(victim)
            cluster.monitor_node(N3)
            assert await beamish.call(("ctl", N3), ("echo", 1), timeout=WAIT) == (N3, 1)

            started[N3].kill9()
            got = {}
            with anyio.fail_after(WAIT):
                while len(got) < 4:  # Exit, Down, NodeDown (monitor_node and monitor_nodes)
                    message = await beamish.receive(
                        lambda m: isinstance(m, (beamish.Exit, beamish.Down, cluster.NodeDown))
                    )
                    key = type(message).__name__
                    got[key + "2" if key in got else key] = message
            seen_by_n1 = await beamish.call(("ctl", N1), ("events", 3), timeout=WAIT)

            restarted = await launch(N3, (started[N1].address,))
            up = await beamish.receive(lambda m: m == cluster.NodeUp(N3), timeout=WAIT)
            again = await beamish.call(("ctl", N3), ("echo", "again"), timeout=WAIT)
            mesh = await beamish.call(("ctl", N2), ("nodes", [N1, N3, T]), timeout=WAIT)
            stale = beamish.monitor(victim)  # the old incarnation's pid: gone for good
            stale_down = await beamish.receive(
                lambda m: isinstance(m, beamish.Down) and m.ref == stale, timeout=WAIT
            )
            return victim, ref, got, seen_by_n1, restarted, up, again, mesh, stale_down

        victim, ref, got, seen_by_n1, restarted, up, again, mesh, stale_down = await on(
            node, client
        )
        assert got["Exit"] == beamish.Exit(victim, "noconnection")
        assert got["Down"] == beamish.Down(ref, victim, "noconnection")
        assert got["NodeDown"].node == N3
        assert got["NodeDown2"].node == N3
        assert sorted(seen_by_n1[:2], key=str) == sorted(
            [("exit", victim, "noconnection"), ("down", victim, "noconnection")], key=str
        )
        assert seen_by_n1[2][:2] == ("nodedown", N3)
        assert restarted.process.pid != started[N3].process.pid
        assert up == cluster.NodeUp(N3)
        assert again == (N3, "again")
        assert mesh == [N1, N3, T]
        assert stale_down.reason == "noproc"


async def test_connect_to_a_connected_address_loses_nothing(tmp_path):
    """While n2 streams 40,000 messages to a process on n1 over the connection n2 opened,
    n1 connects to n2's address: connect returns n2, every message arrives in order, and
    no NodeDown fires."""
    count = 40_000
    async with three_nodes(tmp_path) as (_, started, node, _):

        async def client():
            sink = await ctl_call(N1, ("sink", N2, count, started[N2].address, beamish.self()))
            await ctl_call(N2, ("stream", sink, count))
            return await beamish.receive(lambda m: m[0] == "sink", timeout=60)

        _, received, gaps, downs, connected = await on(node, client)
        assert (received, gaps, downs, connected) == (count, [], [], N2)


async def test_a_second_node_named_like_a_live_one_is_refused(tmp_path):
    """A second OS process named n2 (same cookie) is refused by n1 and by the test node,
    which count it; n2's connections stay, calls reach the real n2, and no node sees n2
    go down."""
    async with three_nodes(tmp_path) as (launch, started, node, the_cluster):
        real = the_cluster.connections[N2]
        with Recorder(cluster.DUPLICATE_NAME_REFUSED, node=T) as refused:
            impostor = await launch(N2, (started[N1].address, the_cluster.address))
            seen = await refused.wait_for(1, timeout=WAIT)

        async def client():
            os_pid = await ctl_call(N2, ("os_pid",))
            mesh = await ctl_call(N1, ("nodes", [N2, N3, T]))
            events = await ctl_call(N1, ("events", 0))
            return os_pid, mesh, events

        os_pid, mesh, events = await on(node, client)
        assert seen[0]["peer"] == N2
        assert os_pid == started[N2].process.pid != impostor.process.pid
        assert mesh == [N2, N3, T]
        assert events == []
        assert the_cluster.connections[N2] is real
