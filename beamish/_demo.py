"""The demo (``python -m beamish demo``): the kernel, then a supervised application, logged.

It uses only the public API (``beamish`` and ``beamish.supervision``). In order:

1. The kernel, briefly: an ``Actor`` counter taking casts and a call; a monitored worker
   that crashes on a timer (the runtime logs the crash with its traceback, the demo logs the
   ``Down``); a linked pair where one process dies and takes the other with it (a trapping
   watcher logs the ``Exit``).
2. A supervision tree: an ``App`` supervisor (``one_for_one``) over a ``counter`` and a
   ``pipeline`` supervisor (``rest_for_one``: ``source``, ``parser``, ``sink``). The demo
   prints the tree, injects a crash into the counter on a timer (it comes back with a new
   pid and fresh state), then into the parser (``rest_for_one``: the sink restarts with it,
   the source keeps its pid), and stops the tree in order: children in reverse start
   order, each running ``terminate``.

Every delay is a fraction of ``seconds``; the whole demo ends by itself after about that
long.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import beamish
from beamish.supervision import Supervisor, child_spec, count_children, which_children

log = logging.getLogger("beamish.demo")


class Counter(beamish.Actor):
    """A counter server: ``("add", n)`` casts, ``"get"`` calls; crashes on ``"crash"``."""

    def init(self, start: int = 0) -> None:
        beamish.trap_exits(True)  # so a supervisor's shutdown runs terminate
        self.count = start
        log.info("counter %s: init, count=%d", self.pid, start)

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        log.info("counter %s: call %r -> %d", self.pid, request, self.count)
        return self.count

    def handle_cast(self, request: Any) -> None:
        _, amount = request
        self.count += amount
        log.info("counter %s: cast %r, count=%d", self.pid, request, self.count)

    def handle_info(self, message: Any) -> None:
        if message == "crash":
            raise RuntimeError("injected fault")

    def terminate(self, reason: Any) -> None:
        log.info("counter %s: terminate(%r), final count=%d", self.pid, reason, self.count)


class Stage(beamish.Actor):
    """One stage of the pipeline; crashes when it gets ``"crash"``."""

    def init(self, name: str) -> None:
        beamish.trap_exits(True)
        self.name = name
        log.info("%s %s: started", name, self.pid)

    def handle_info(self, message: Any) -> None:
        if message == "crash":
            raise RuntimeError(f"injected fault in {self.name}")

    def terminate(self, reason: Any) -> None:
        log.info("%s %s: terminate(%r)", self.name, self.pid, reason)


class Pipeline(Supervisor):
    """source -> parser -> sink: each depends on the one before, so ``rest_for_one``."""

    strategy = "rest_for_one"

    def children(self) -> list[Any]:
        return [child_spec((Stage, name), id=name) for name in ("source", "parser", "sink")]


class App(Supervisor):
    """The application: independent parts, so ``one_for_one``."""

    strategy = "one_for_one"
    max_restarts = 5
    max_seconds = 10

    def children(self) -> list[Any]:
        counter = functools.partial(Counter.start_link, name="counter")
        return [
            {"id": "counter", "start": (counter, (0,))},
            child_spec(Pipeline, id="pipeline"),
        ]


async def crashing_worker(delay: float) -> None:
    """Works until its timer fires, then crashes with a ZeroDivisionError."""
    beamish.send_after(beamish.self(), "crash now", delay)
    log.info("worker %s: started, will crash in %.2fs", beamish.self(), delay)
    await beamish.receive(lambda message: message == "crash now")
    log.info("worker %s: dividing by zero", beamish.self())
    _ = 1 / 0


async def linked_partner() -> None:
    """Waits forever; it only dies because the process it is linked to dies."""
    log.info("partner %s: started, waiting", beamish.self())
    await beamish.receive()


async def doomed(delay: float) -> None:
    """Links itself to a partner, then exits with reason ``"disk_full"``."""
    partner = beamish.spawn_link(linked_partner)
    log.info("doomed %s: linked to partner %s", beamish.self(), partner)
    await beamish.sleep(delay)
    log.info("doomed %s: exiting with reason 'disk_full'", beamish.self())
    beamish.exit(beamish.self(), "disk_full")


async def watcher(parent: beamish.Pid, delay: float) -> None:
    """Traps exits, links to the doomed process, and reports each ``Exit`` it gets."""
    beamish.trap_exits(True)
    pid = beamish.spawn_link(doomed, delay)
    message = await beamish.receive(lambda m: isinstance(m, beamish.Exit))
    log.info("watcher %s: got %r (trapped: this process lives on)", beamish.self(), message)
    beamish.send(parent, ("watcher done", pid, message.reason))


async def tree(sup: beamish.Pid, before: dict[Any, beamish.Pid | None] | None = None) -> Any:
    """Log the tree under ``sup``; return ``{path: pid}``. Pids not in ``before`` are new."""
    pids: dict[Any, beamish.Pid | None] = {}
    lines: list[str] = []

    async def walk(pid: beamish.Pid, path: tuple[Any, ...]) -> None:
        for child in await which_children(pid):
            where = (*path, child.id)
            pids[where] = child.pid
            new = before is not None and before.get(where) != child.pid
            indent = "  " * len(path)
            lines.append(
                f"  {indent}{child.id:<{10 - len(indent)}} {child.type:<10} {child.restart:<9} "
                f"{child.pid}{'  <- new pid' if new else ''}"
            )
            if child.type == "supervisor" and child.pid is not None:
                await walk(child.pid, where)

    await walk(sup, ())  # every call is answered after the restarts the crash caused
    log.info("tree of App %s:\n%s", sup, "\n".join(lines))
    return pids


async def inject_crash(pid: beamish.Pid, delay: float) -> Any:
    """Send ``"crash"`` to ``pid`` after ``delay`` seconds; return the reason of its Down."""
    ref = beamish.monitor(pid)
    beamish.send_after(pid, "crash", delay)
    log.info("main: injecting a crash into %s in %.2fs", pid, delay)
    down = await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    return down.reason


async def kernel(seconds: float) -> None:
    """Part 1: an actor, a monitored crash, a linked pair."""
    counter = await Counter.start(0, name="counter")
    for amount in (1, 2, 3):
        beamish.cast("counter", ("add", amount))
    log.info("main: call(counter, 'get') = %d", await beamish.call(counter, "get"))

    _worker, ref = beamish.spawn_monitor(crashing_worker, seconds / 10)
    down = await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    log.info("main: Down from %s, reason %r", down.pid, down.reason)

    beamish.spawn(watcher, beamish.self(), seconds / 10)
    _, doomed_pid, reason = await beamish.receive(
        lambda m: isinstance(m, tuple) and m[:1] == ("watcher done",)
    )
    log.info("main: %s exited %r; its linked partner went with it", doomed_pid, reason)
    await beamish.stop("counter")


async def supervised(seconds: float) -> int:
    """Part 2: a supervision tree, two injected crashes, an ordered shutdown."""
    app = await App.start_link()
    pids = await tree(app)

    # A crash in a one_for_one child: only it restarts, with a new pid and fresh state.
    beamish.cast("counter", ("add", 5))
    reason = await inject_crash(pids[("counter",)], seconds / 4)
    log.info("main: counter went down (%r); App restarts it alone (one_for_one)", reason)
    pids = await tree(app, pids)
    log.info("main: the new counter starts from 0: get -> %d", await beamish.call("counter", "get"))
    beamish.cast("counter", ("add", 10))

    # A crash in the middle of a rest_for_one pipeline: it and the stages after it restart.
    reason = await inject_crash(pids[("pipeline", "parser")], seconds / 4)
    log.info("main: parser went down (%r); rest_for_one restarts parser and sink", reason)
    pids = await tree(app, pids)
    log.info("main: App counts %s", await count_children(app))

    # Orderly shutdown: the pipeline (sink, parser, source), then the counter.
    final = int(await beamish.call("counter", "get"))
    log.info("main: shutting down the tree in order: pipeline (sink, parser, source), counter")
    await beamish.stop(app)
    log.info("main: tree stopped; final count %d", final)
    return final


async def main(seconds: float = 5.0) -> int:
    """The demo's main process; returns the final count of the supervised counter."""
    node = beamish.this_node()
    clock = node.clock
    started = clock.now()
    log.info("node %s up (%s); main process is %s", node.name, node.backend_name, beamish.self())
    log.info("== part 1: the kernel ==")
    await kernel(seconds)
    log.info("== part 2: a supervised application ==")
    final = await supervised(seconds)
    log.info("main: done after %.2fs", clock.now() - started)
    return final


def run(seconds: float = 5.0, backend: str = "asyncio", name: str = "demo@localhost") -> int:
    """Configure logging with timestamps and run the demo on a fresh node."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d %(name)-18s %(levelname)-5s %(message)s",
        datefmt="%H:%M:%S",
    )
    result: int = beamish.run(main, seconds, backend=backend, name=name)  # type: ignore[arg-type]
    return result
