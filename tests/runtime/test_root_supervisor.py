"""The node's application supervisor: run(children=...) and start(children=...)."""

import anyio
import pytest

import beamish
from beamish.supervision import which_children


class Recorder(beamish.Actor):
    """A child that logs its start and its terminate into a shared list."""

    def init(self, log, label, crash_on_start=False):
        beamish.trap_exits(True)
        self.log, self.label = log, label
        log.append(("start", label))

    def handle_cast(self, request):
        raise RuntimeError(f"{self.label} crashes on purpose")

    def terminate(self, reason):
        self.log.append(("stop", self.label, reason))


def _children(log):
    return [
        beamish.supervision.child_spec((Recorder, log, "a"), id="a"),
        beamish.supervision.child_spec((Recorder, log, "b"), id="b"),
    ]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_with_children_stops_the_tree_in_reverse_order(backend):
    """main sees the tree running; on exit the root stops its children in reverse order."""
    log = []

    async def main():
        kids = await which_children(beamish.this_node().root)
        return [k.id for k in kids if k.pid is not None]

    assert beamish.run(main, children=_children(log), backend=backend) == ["a", "b"]
    assert log == [
        ("start", "a"),
        ("start", "b"),
        ("stop", "b", "shutdown"),
        ("stop", "a", "shutdown"),
    ]


class Crasher(beamish.Actor):
    """Crashes right after it starts, so a root supervisor soon gives up on it."""

    def init(self, log):
        log.append("start")
        beamish.send_after(beamish.self(), "crash", 0.01)

    def handle_info(self, message):
        raise RuntimeError("crash")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_without_main_raises_when_the_root_gives_up(backend):
    """run(children=...) raises Exited once the root supervisor exceeds its restart intensity
    (the CLI then exits non-zero), instead of returning None as if all went well."""
    log = []
    crasher = beamish.supervision.child_spec((Crasher, log), id="crasher")
    with pytest.raises(beamish.Exited) as raised:
        beamish.run(children=[crasher], max_restarts=2, max_seconds=60, backend=backend)
    assert raised.value.reason == "shutdown"
    assert log == ["start"] * 3


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_without_main_returns_when_the_root_stops_normally(backend):
    """A root supervisor stopped with reason normal ends run() quietly: None."""

    async def stop(supervisor):
        await beamish.stop(supervisor)

    class Quitter(beamish.Actor):
        def init(self):
            (supervisor,) = beamish.process_info(beamish.self()).links
            beamish.spawn(stop, supervisor)

    assert beamish.run(children=[Quitter], backend=backend) is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_root_giving_up_stops_main_and_raises(backend):
    """If the root supervisor gives up while main runs, main is stopped and run raises."""
    log = []
    crasher = beamish.supervision.child_spec((Crasher, log), id="crasher")

    async def main():
        await beamish.receive()  # never comes

    with pytest.raises(beamish.Exited) as raised:
        beamish.run(main, children=[crasher], max_restarts=0, backend=backend)
    assert raised.value.reason == "shutdown"
    assert raised.value.dest != "main"


def test_run_needs_main_or_children():
    """run() with neither main nor children is a clear error."""
    with pytest.raises(ValueError, match="main function, children"):
        beamish.run()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_start_embeds_a_supervised_tree(backend):
    """An application embedding the runtime gets node.root and an orderly stop."""
    log = []

    async def app():
        with anyio.fail_after(20):
            async with beamish.runtime.start(children=_children(log)) as node:
                kids = await which_children(node.root)
                assert [k.id for k in kids] == ["a", "b"]
            return node.processes()

    assert anyio.run(app, backend=backend) == []
    assert log[-2:] == [("stop", "b", "shutdown"), ("stop", "a", "shutdown")]
