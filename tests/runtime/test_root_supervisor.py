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


def test_run_without_main_returns_when_the_root_gives_up():
    """run(children=...) returns once the root supervisor exceeds its restart intensity."""
    log = []

    class Crasher(beamish.Actor):
        def init(self):
            log.append("start")
            beamish.send_after(beamish.self(), "crash", 0.01)

        def handle_info(self, message):
            raise RuntimeError("crash")

    assert beamish.run(children=[Crasher], max_restarts=2, max_seconds=60) is None
    assert log == ["start"] * 3


def test_root_giving_up_stops_main():
    """If the root supervisor exits while main runs, main is stopped and run returns None."""

    class Crasher(beamish.Actor):
        def init(self):
            beamish.send_after(beamish.self(), "crash", 0.01)

        def handle_info(self, message):
            raise RuntimeError("crash")

    async def main():
        await beamish.receive()  # never comes

    assert beamish.run(main, children=[Crasher], max_restarts=0) is None


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
