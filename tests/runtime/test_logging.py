"""Log lines: restarts are logged by both supervisors; NodeContext names node and pid."""

import io
import logging

import pytest

import beamish
from beamish.runtime import NodeContext
from beamish.supervision import DynamicSupervisor, Supervisor, start_child

BACKENDS = ["asyncio", "trio"]


class CrashOnce(beamish.Actor):
    """Crashes on its first cast; its restart then reports to ``started``."""

    def init(self, reporter):
        beamish.send(reporter, ("started", beamish.self()))

    def handle_cast(self, request):
        raise RuntimeError("crash on purpose")


async def _crash_and_see_restart(supervisor_kind):
    me = beamish.self()
    spec = beamish.supervision.child_spec((CrashOnce, me), id="crasher")
    if supervisor_kind == "dynamic":
        sup = await DynamicSupervisor.start_link()
        await start_child(sup, spec)
    else:
        sup = await Supervisor.start_link(children=[spec])
    _, first = await beamish.receive(lambda m: m[0] == "started", timeout=10)
    beamish.cast(first, "crash")
    _, second = await beamish.receive(lambda m: m[0] == "started", timeout=10)
    return sup, first, second


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_both_supervisors_log_a_restart(kind, backend, caplog):
    """A restart is logged at INFO, naming the supervisor, the child and the reason."""
    caplog.set_level(logging.INFO, logger="beamish.supervisor")

    async def main():
        return await _crash_and_see_restart(kind)

    sup, first, second = beamish.run(main, backend=backend)
    assert first != second
    restarts = [r.getMessage() for r in caplog.records if "restarting" in r.getMessage()]
    assert len(restarts) == 1
    assert repr(sup) in restarts[0]
    assert "'crasher'" in restarts[0]
    assert "RuntimeError: crash on purpose" in restarts[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_node_context_names_the_node_and_the_process(backend):
    """A handler with NodeContext prints the node and the pid of the process that logged,
    and `-` for code outside any process."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(NodeContext())
    handler.setFormatter(logging.Formatter("%(node)s %(pid)s %(message)s"))
    logger = logging.getLogger("test.node_context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    async def main():
        logger.info("from main")
        return beamish.self()

    try:
        logger.info("before the node")
        pid = beamish.run(main, backend=backend, name="ctx@host")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == ["- - before the node", f"ctx@host {pid!r} from main"]
