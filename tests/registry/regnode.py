"""The application the OS-process nodes of test_cluster_os.py run.

    python -m beamish run tests.registry.regnode:main --name n1@127.0.0.1 --cookie C \\
        --listen 127.0.0.1:0 --seed 127.0.0.1:4370 --no-discovery

It starts the cluster-scoped registry ``reg`` with a watcher, registers ``ctl`` and prints
``READY <name> <address>`` once its cluster listens, then runs until it is killed.
"""

from __future__ import annotations

import beamish
from beamish import cluster, registry
from beamish.registry import Registered, Registry, Unregistered

REPLICATION = {"broadcast_period": 0.05, "down_period": 1.0}


class Holder(beamish.Actor):
    """Holds ``key`` in ``reg``, trapping exits; answers ``("exits", seconds)`` after that
    many seconds with the exit reasons it received, any other call with its node's name."""

    def init(self, key: object) -> None:
        beamish.trap_exits(True)
        self.exits: list[object] = []
        registry.register("reg", key)

    def handle_call(self, request: object, caller: beamish.Caller) -> object:
        if isinstance(request, tuple) and request[0] == "exits":
            beamish.send_after(self.pid, ("exits_window", caller), request[1])
            return beamish.NoReply()
        return (beamish.this_node().name, request)

    def handle_info(self, message: object) -> None:
        if isinstance(message, beamish.Exit):
            self.exits.append(message.reason)
        elif isinstance(message, tuple) and message[0] == "exits_window":
            beamish.reply(message[1], list(self.exits))


class Control(beamish.Actor):
    """What the test asks: ``("hold", key)`` starts a Holder; ``("until", key, pids)``
    answers once this node's lookup lists exactly ``pids``."""

    def init(self) -> None:
        self.waiting: list[tuple[object, frozenset[beamish.Pid], beamish.Caller]] = []

    async def handle_call(self, request: tuple[object, ...], caller: beamish.Caller) -> object:
        if request[0] == "hold":
            return await Holder.start(request[1])
        if request[0] == "until":
            _, key, pids = request
            self.waiting.append((key, frozenset(pids), caller))  # type: ignore[arg-type]
            self._flush()
            return beamish.NoReply()
        raise ValueError(f"unknown request {request!r}")

    def handle_info(self, message: object) -> None:
        if isinstance(message, Registered | Unregistered):
            self._flush()

    def _flush(self) -> None:
        for entry in list(self.waiting):
            key, pids, caller = entry
            if {pid for pid, _ in registry.lookup("reg", key)} == pids:
                self.waiting.remove(entry)
                beamish.reply(caller, sorted(pids))


async def main() -> None:
    await Control.start(name="ctl")
    await Registry.start(
        name="reg", keys="unique", scope="cluster", listeners=["ctl"], replication=REPLICATION
    )
    the_cluster = cluster.this_cluster()
    print(f"READY {beamish.this_node().name} {the_cluster.address}", flush=True)
    await beamish.receive(lambda message: False)  # until the process is killed
