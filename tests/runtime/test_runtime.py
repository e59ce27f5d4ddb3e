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
def test_shutdown_stops_independent_processes_concurrently(backend):
    """Independent actors run terminate at the same time: each one's terminate waits until
    every other has started (stopping them one after another would wait forever)."""
    count = 4
    started, finished = [], []
    everyone = []

    class Meeting(beamish.Actor):
        def init(self, label):
            self.label = label
            beamish.trap_exits(True)

        async def terminate(self, reason):
            started.append(self.label)
            if len(started) == count:
                everyone[0].set()
            await everyone[0].wait()
            finished.append((self.label, reason))

    async def main():
        everyone.append(anyio.Event())
        for label in range(count):
            await Meeting.start(label)

    beamish.run(main, backend=backend, shutdown_timeout=3)
    assert sorted(finished) == [(label, "shutdown") for label in range(count)]


class Hanging(beamish.Actor):
    """An actor whose terminate never returns."""

    def init(self):
        beamish.trap_exits(True)

    async def terminate(self, reason):
        await anyio.sleep_forever()


def _virtual_time(backend):
    if backend == "trio":
        from trio.testing import MockClock

        return {"backend": "trio", "backend_options": {"clock": MockClock(autojump_threshold=0)}}
    return {"backend": "asyncio"}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shutdown_is_bounded_by_one_shared_deadline(backend):
    """Four hanging terminates cost one shutdown_timeout in all, not one each (virtual
    time: the node clock measures how long the shutdown took)."""
    timeout = 10.0

    async def app():
        with anyio.fail_after(30):
            async with beamish.runtime.start(shutdown_timeout=timeout, virtual_time=True) as node:
                pids = [await beamish.runtime.run_main(node, Hanging.start) for _ in range(4)]
                began = node.clock.now()
            return node.clock.now() - began, [node.is_alive(pid) for pid in pids]

    options = _virtual_time(backend)
    elapsed, alive = anyio.run(app, **options)
    assert alive == [False] * 4
    assert timeout <= elapsed < timeout + 2


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


class Slow(beamish.Actor):
    """Traps exits; its terminate takes one second of node time, then logs its label."""

    def init(self, label, log):
        beamish.trap_exits(True)
        self.label, self.log = label, log

    async def terminate(self, reason):
        await beamish.sleep(1)
        self.log.append((self.label, reason))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_tree_stops_in_order_while_independent_processes_stop_alongside(backend):
    """A supervisor's three children stop one after another (3 s of node time, reverse
    order) while three independent actors stop at the same time alongside them: the whole
    shutdown takes 3 s, not 6 (virtual time)."""
    log = []

    async def main():
        children = [
            beamish.supervision.child_spec((Slow, label, log), id=label) for label in "abc"
        ]
        await beamish.supervision.Supervisor.start(children=children)
        for label in "xyz":
            await Slow.start(label, log)

    async def app():
        with anyio.fail_after(30):
            async with beamish.runtime.start(shutdown_timeout=60, virtual_time=True) as node:
                await beamish.runtime.run_main(node, main)
                began = node.clock.now()
            return node.clock.now() - began

    elapsed = anyio.run(app, **_virtual_time(backend))
    assert 3 <= elapsed < 4
    assert [label for label, _ in log if label in "abc"] == ["c", "b", "a"]
    assert sorted(log) == [(label, "shutdown") for label in "abcxyz"]
    assert {label for label, _ in log[:4]} == {"c", "x", "y", "z"}  # all done at 1 s


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_gc_threshold_grows_with_the_process_table_and_is_restored(backend):
    """By default (gc_threshold="adaptive") generation 0 follows the live processes while
    they are spawned; run() puts the interpreter's thresholds back."""
    import gc

    before = gc.get_threshold()

    async def main():
        async def idle():
            await beamish.receive()

        pids = [beamish.spawn(idle) for _ in range(3 * 4096)]
        grown = gc.get_threshold()
        for pid in pids:
            beamish.exit(pid, "kill")
        return grown

    grown = beamish.run(main, backend=backend)
    assert grown[0] >= 2 * 4096
    assert grown[1:] == before[1:]
    assert gc.get_threshold() == before


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_gc_threshold_grows_already_with_a_few_thousand_processes(backend):
    """3,000 processes (a thousand WebSocket connections: a connection, a channel and a
    writer each) raise generation 0 past the interpreter's 700: full collections over
    them stay rare while they connect."""
    import gc

    async def main():
        async def idle():
            await beamish.receive()

        pids = [beamish.spawn(idle) for _ in range(3000)]
        grown = gc.get_threshold()
        for pid in pids:
            beamish.exit(pid, "kill")
        return grown

    assert beamish.run(main, backend=backend)[0] >= 2000


def test_gc_threshold_none_or_a_number_is_kept_as_configured():
    """None leaves the interpreter's threshold alone; a number fixes it while the node runs."""
    import gc

    before = gc.get_threshold()

    async def main():
        async def idle():
            await beamish.receive()

        pids = [beamish.spawn(idle) for _ in range(2 * 4096)]
        for pid in pids:
            beamish.exit(pid, "kill")
        return gc.get_threshold()[0]

    assert beamish.run(main, gc_threshold=None) == before[0]
    assert beamish.run(main, gc_threshold=12345) == 12345
    assert gc.get_threshold() == before
    with pytest.raises(ValueError, match="gc_threshold"):
        Config(gc_threshold="sometimes")
