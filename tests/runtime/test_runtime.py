"""The node as a whole: backends, main, ordered and bounded shutdown, configuration."""

import anyio
import pytest

import beamish
from beamish.runtime import Config


@pytest.mark.parametrize("backend", ["asyncio", "uvloop", "trio"])
def test_run_returns_main_result_on_every_backend(backend):
    """run() starts a node on each backend, runs main as a process and returns its value."""

    async def main(x):
        node = beamish.this_node()
        _pid, ref = beamish.spawn_monitor(beamish.sleep, 0)
        down = await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
        return x, node.backend_name, down.reason

    assert beamish.run(main, 7, backend=backend) == (7, backend, "normal")


def test_run_raises_main_crash():
    """A crash in main is raised from run() with its own type."""

    async def main():
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        beamish.run(main)


def test_run_rejects_unknown_backend():
    """An unknown backend name is a clear ValueError."""

    async def main():
        return None

    with pytest.raises(ValueError, match="unknown backend"):
        beamish.run(main, backend="gevent")


def test_config_is_validated():
    """Bad settings are refused before a node starts."""
    with pytest.raises(ValueError, match="name"):
        Config(name="")
    with pytest.raises(ValueError, match="gc_threshold"):
        Config(gc_threshold=0)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shutdown_stops_processes_newest_first_through_terminate(backend):
    """On exit the node stops trapping actors in reverse start order, each via terminate."""
    order = []

    class Named(beamish.Actor):
        def init(self, label):
            self.label = label
            beamish.trap_exits(True)

        async def terminate(self, reason):
            await beamish.sleep(0.01)
            order.append((self.label, reason))

    async def main():
        for label in ("first", "second", "third"):
            await Named.start(label)

    beamish.run(main, backend=backend)
    assert order == [("third", "shutdown"), ("second", "shutdown"), ("first", "shutdown")]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shutdown_kills_a_terminate_that_hangs(backend):
    """A terminate that never returns is killed after shutdown_timeout; the node still exits."""
    finished = []

    class Stuck(beamish.Actor):
        def init(self):
            beamish.trap_exits(True)

        async def terminate(self, reason):
            await anyio.sleep_forever()

    async def main():
        pid = await Stuck.start()
        return pid

    async def app():
        with anyio.fail_after(20):
            async with beamish.runtime.start(shutdown_timeout=0.2) as node:
                pid = await beamish.runtime.run_main(node, main)
            finished.append(node.is_alive(pid))
            return node.processes()

    assert anyio.run(app, backend=backend) == []
    assert finished == [False]
