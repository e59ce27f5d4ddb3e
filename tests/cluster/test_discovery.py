"""Finding nodes: seeds, the runtime directory (zero-config, same host), pickled spawns."""

import contextlib

import pytest
from meshkit import COOKIE, on, until_connected

import beamish
from beamish import cluster
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def node(net, name, **options):
    async with beamish.runtime.start(name=name) as the_node:
        async with cluster.start(
            cookie=COOKIE, transport=net.transport(name), listen=f"mem://{name}", **options
        ) as the_cluster:
            yield the_node, the_cluster


async def test_runtime_directory_discovery(tmp_path):
    """Nodes announcing in one runtime directory find each other with no configuration."""
    net = MemoryNetwork()
    async with node(net, "a@host", directory=tmp_path) as (_, ca):
        assert (tmp_path / "a@host").read_text() == "mem://a@host"
        async with node(net, "b@host", directory=tmp_path) as (_, cb):
            await until_connected(cb, ["a@host"])
            await until_connected(ca, ["b@host"])
        assert not (tmp_path / "b@host").exists()


async def test_a_second_node_named_like_a_running_one_does_not_start(tmp_path):
    """In one directory, a node named like a running one fails with NameInUse and leaves
    that node's entry as it was; once the first one stops, the name is free again."""
    net = MemoryNetwork()
    async with node(net, "a@host", directory=tmp_path):
        with pytest.raises(cluster.NameInUse, match="a node named a@host is already running"):
            async with node(MemoryNetwork(), "a@host", directory=tmp_path):
                pass
        assert (tmp_path / "a@host").read_text() == "mem://a@host"
    async with node(net, "a@host", directory=tmp_path):
        assert (tmp_path / "a@host").read_text() == "mem://a@host"


async def test_an_entry_no_live_node_holds_is_not_discovered(tmp_path):
    """An entry left by a node that died (no process holds it) is skipped, not dialled."""
    net = MemoryNetwork()
    (tmp_path / "dead@host").write_text("mem://dead@host")
    async with node(net, "a@host", directory=tmp_path) as (_, ca):
        async with node(net, "b@host", directory=tmp_path):
            assert ca.discovered() == {"b@host": "mem://b@host"}


async def test_seeds_connect_at_start():
    """A node connects to its seeds when it starts, and the seed learns of it."""
    net = MemoryNetwork()
    async with node(net, "a@host", discovery=False) as (_, ca):
        async with node(net, "b@host", discovery=False, seeds=["mem://a@host"]) as (_, cb):
            await until_connected(cb, ["a@host"])
            await until_connected(ca, ["b@host"])


async def test_spawn_of_a_local_function_travels_pickled():
    """A function that cannot be imported by name is sent with cloudpickle and runs there,
    between nodes that both opted in to pickles."""
    net = MemoryNetwork()
    async with node(net, "a@host", discovery=False, allow_pickle=True) as (a, ca):
        async with node(net, "b@host", discovery=False, allow_pickle=True):
            await ca.connect("mem://b@host")

            async def report(owner):
                beamish.send(owner, ("ran on", beamish.this_node().name))

            async def client():
                await cluster.spawn("b@host", report, beamish.self())
                return await beamish.receive(timeout=5)

            assert await on(a, client) == ("ran on", "b@host")


async def test_pickles_are_off_unless_the_node_opts_in():
    """By default a node neither sends nor accepts pickles: a function that cannot be
    imported by name fails in the sender with EncodeError, and the link stays up."""
    net = MemoryNetwork()
    async with node(net, "a@host", discovery=False) as (a, ca):
        async with node(net, "b@host", discovery=False):
            await ca.connect("mem://b@host")

            async def report(owner):
                beamish.send(owner, "ran")

            async def client():
                with pytest.raises(cluster.EncodeError, match="allow_pickle is off"):
                    await cluster.spawn("b@host", report, beamish.self())

            await on(a, client)
            assert ca.codec.allow_pickle is False
            assert ca.nodes() == ["b@host"]
