"""``spawn_modules``: what a peer with the cookie may spawn here. A request for a function
outside the list is refused before anything is imported, with a clear error to the caller,
and counted; the connection and the node carry on."""

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from meshkit import Recorder, nodes, on, until_connected

import beamish
from beamish import cluster, telemetry
from beamish.cluster._mesh import module_allowed
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B = "a@test", "b@test"


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """A module never imported yet, whose import leaves a file behind: (its name, file)."""
    name = f"spawn_probe_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\nasync def run():\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


async def _spawn_on(node, target, *args):
    try:
        pid = await cluster.spawn(node, target, *args)
    except Exception as exc:
        return type(exc), str(exc)
    return "spawned", pid.node


async def test_a_module_outside_spawn_modules_is_refused_before_any_import(probe_module):
    """b allows spawns from beamish only: a's request for probe:run (a module never imported)
    raises PermissionError in a's caller, the module's top level never ran, the refusal is
    counted, and a spawn from an allowed module still works on the same connection."""
    name, marker = probe_module
    net = MemoryNetwork()
    options = {B: {"spawn_modules": {"beamish"}}}
    async with nodes(net.transport, [A, B], options=options) as started:
        (a, ca) = started[A]
        await ca.connect("mem://" + B)
        await until_connected(ca, [B])
        with Recorder(telemetry.CLUSTER_SPAWN_REFUSED, node=B) as refused:
            outcome = await on(a, _spawn_on, B, f"{name}:run")
            allowed = await on(a, _spawn_on, B, beamish.sleep, 0)
        assert outcome == (
            PermissionError,
            f"b@test does not allow spawning '{name}:run': its module is not in spawn_modules",
        )
        assert not marker.exists()
        assert name not in sys.modules
        assert [(seen["peer"], seen["target"]) for seen in refused.seen] == [(A, f"'{name}:run'")]
        assert allowed == ("spawned", B)
        assert B in ca.nodes()


async def test_without_spawn_modules_a_peer_may_spawn_any_importable_function(probe_module):
    """The default (None): the cookie is a remote shell, as in Erlang; the module is
    imported on b (its top level runs) and the process starts."""
    name, marker = probe_module
    net = MemoryNetwork()
    async with nodes(net.transport, [A, B]) as started:
        (a, ca) = started[A]
        await ca.connect("mem://" + B)
        assert await on(a, _spawn_on, B, f"{name}:run") == ("spawned", B)
        assert marker.exists()


async def _pickled_here():
    pass


async def test_a_pickled_function_is_held_to_its_module_too():
    """With pickles allowed on both ends, a function that travels by value is refused
    when its module is not in the list (a pickle has run code already; the list still
    keeps to what was allowed)."""
    net = MemoryNetwork()
    options = {
        A: {"allow_pickle": True},
        B: {"allow_pickle": True, "spawn_modules": ["beamish"]},
    }
    async with nodes(net.transport, [A, B], options=options) as started:
        (a, ca) = started[A]
        await ca.connect("mem://" + B)

        async def by_value():
            return await _spawn_on(B, lambda: _pickled_here())

        kind, why = await on(a, by_value)
        assert kind is PermissionError
        assert "is not in spawn_modules" in why


async def test_spawn_modules_must_be_a_collection_of_names():
    net = MemoryNetwork()
    with pytest.raises(TypeError, match="not one str"):
        async with nodes(net.transport, [A], options={A: {"spawn_modules": "beamish"}}):
            pass


_part = st.text("abcxyz_", min_size=1, max_size=4)
_module = st.lists(_part, min_size=1, max_size=4).map(".".join)


@given(module=_module, allowed=st.sets(_module, max_size=4))
def test_a_module_is_allowed_exactly_when_a_prefix_of_its_dotted_path_is_listed(module, allowed):
    parts = module.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    assert module_allowed(module, allowed) == bool(prefixes & allowed)
