"""The first demo (``python -m beamish demo``): the kernel at work, logged to the terminal.

It uses only the public API. In order, it shows: spawning processes, an ``Actor`` counter
taking casts and calls, ``send_after`` timers (one of them cancelled), a monitored worker
that crashes on a timer (the runtime logs the crash with its traceback, the demo logs the
``Down``), a linked pair where one process dies and takes the other with it (a trapping
watcher logs the ``Exit``), and a clean ordered shutdown. Every delay is a fraction of
``seconds``, so the whole demo ends by itself after about that long.
"""

from __future__ import annotations

import logging
from typing import Any

import beamish

log = logging.getLogger("beamish.demo")


class Counter(beamish.Actor):
    """A counter server: ``("add", n)`` casts, ``"get"`` calls."""

    def init(self, start: int = 0) -> None:
        self.count = start
        log.info("counter %s: init, count=%d", self.pid, start)

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        log.info("counter %s: call %r -> %d", self.pid, request, self.count)
        return self.count

    def handle_cast(self, request: Any) -> None:
        _, amount = request
        self.count += amount
        log.info("counter %s: cast %r, count=%d", self.pid, request, self.count)

    def terminate(self, reason: Any) -> None:
        log.info("counter %s: terminate(%r), final count=%d", self.pid, reason, self.count)


class Ticker(beamish.Actor):
    """Ticks on a ``send_after`` timer until stopped."""

    def init(self, period: float) -> None:
        self.period = period
        self.ticks = 0
        beamish.send_after(self.pid, "tick", period)

    def handle_info(self, message: Any) -> None:
        self.ticks += 1
        log.info("ticker %s: tick %d (send_after %.2fs)", self.pid, self.ticks, self.period)
        beamish.send_after(self.pid, "tick", self.period)

    def terminate(self, reason: Any) -> None:
        log.info("ticker %s: terminate(%r) after %d ticks", self.pid, reason, self.ticks)


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


async def main(seconds: float = 5.0) -> int:
    """The demo's main process; returns the counter's final value."""
    node = beamish.this_node()
    clock = node.clock
    started = clock.now()
    log.info("node %s up (%s); main process is %s", node.name, node.backend_name, beamish.self())

    # 1. An Actor: start it, cast to it, call it.
    counter = await Counter.start(0, name="counter")
    for amount in (1, 2, 3):
        beamish.cast("counter", ("add", amount))
    log.info("main: call(counter, 'get') = %d", await beamish.call(counter, "get"))

    # 2. Timers: a ticker, and one timer cancelled before it fires.
    await Ticker.start(seconds / 8, name="ticker")
    cancelled = beamish.send_after(beamish.self(), "never delivered", seconds)
    log.info("main: cancel_timer -> %.2fs were left", beamish.cancel_timer(cancelled) or 0.0)

    # 3. A monitored worker crashes on a timer: the runtime logs it, a Down arrives.
    _worker, ref = beamish.spawn_monitor(crashing_worker, seconds / 5)
    down = await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    log.info("main: Down from %s, reason %r", down.pid, down.reason)

    # 4. A linked pair: "doomed" dies and takes "partner" along; a trapping watcher sees it.
    beamish.spawn(watcher, beamish.self(), seconds / 10)
    _, doomed_pid, reason = await beamish.receive(
        lambda m: isinstance(m, tuple) and m[:1] == ("watcher done",)
    )
    log.info("main: %s exited %r; its linked partner went with it", doomed_pid, reason)

    # 5. Casts meanwhile; then wait for the rest of the demo's time.
    beamish.cast("counter", ("add", 10))
    remaining = seconds * 0.8 - (clock.now() - started)
    if remaining > 0:
        log.info("main: letting the ticker run for %.2fs", remaining)
        await beamish.sleep(remaining)

    # 6. Clean ordered shutdown: newest first, each one runs terminate.
    final = await beamish.call("counter", "get")
    log.info("main: shutting down in order: ticker, then counter")
    await beamish.stop("ticker")
    await beamish.stop("counter")
    log.info("main: done after %.2fs; final count %d", clock.now() - started, final)
    return int(final)


def run(seconds: float = 5.0, backend: str = "asyncio", name: str = "demo@localhost") -> int:
    """Configure logging with timestamps and run the demo on a fresh node."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d %(name)-15s %(levelname)-5s %(message)s",
        datefmt="%H:%M:%S",
    )
    result: int = beamish.run(main, seconds, backend=backend, name=name)  # type: ignore[arg-type]
    return result
