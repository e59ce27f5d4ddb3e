"""A node for ``python -m beamish top`` to watch (run in its own OS process):

    python -m beamish run tests.observe.topnode:main --name N@localhost --cookie C

It starts a supervision tree (``App`` over a ``Counter``), a plain process ``backlog`` with
``BACKLOG`` messages it never reads, prints ``READY`` and waits to be stopped.
"""

from __future__ import annotations

from typing import Any

import beamish
from beamish.supervision import Supervisor, child_spec

BACKLOG = 37


class Counter(beamish.Actor):
    def init(self) -> None:
        self.count = 0

    def handle_cast(self, request: Any) -> None:
        self.count += 1


class App(Supervisor):
    def children(self) -> list[Any]:
        return [child_spec(Counter, id="counter", name="counter")]


async def never_reads() -> None:
    await beamish.receive(lambda message: message == "never sent")


async def main() -> None:
    await App.start_link(name="app")
    for _ in range(5):
        beamish.cast("counter", "tick")
    backlog = beamish.spawn(never_reads)
    beamish.register("backlog", backlog)
    for n in range(BACKLOG):
        beamish.send(backlog, ("work", n))
    print("READY", flush=True)
    await beamish.receive(lambda message: message == "stop")
