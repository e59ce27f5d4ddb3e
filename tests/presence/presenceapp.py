"""The application the OS-process nodes of test_tracker_os_nodes.py run.

    python -m beamish run tests.presence.presenceapp:main --name n1@127.0.0.1 ...

It starts a ledger and a ``Reporting`` tracker (see trackerkit) with short periods (the
down period from ``$PRESENCEAPP_DOWN_PERIOD`` when set), a ``pctl`` server that tracks new
idle processes on request, prints ``READY <name> <address>`` and runs until it is killed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "cluster")]

from trackerkit import TRACKER, Reporting, listed, start_ledger, track_new  # noqa: E402

import beamish  # noqa: E402
from beamish import cluster  # noqa: E402

OPTIONS = {
    "broadcast_period": 0.1,
    "max_silent_periods": 3,
    "down_period": float(os.environ.get("PRESENCEAPP_DOWN_PERIOD", "2.0")),
}


class Control(beamish.Actor):
    """What the test asks, by call: ``("track", topic, key)`` tracks a new idle process and
    answers its (key, phx_ref); ``("stop", key)`` ends the processes tracked under key;
    ``("list", topic)``: this node's list of topic as sorted (key, phx_ref);
    ``("apart", nodes)`` answers once this node is connected to none of ``nodes``."""

    def init(self):
        cluster.monitor_nodes(True)
        self.pids = {}  # key -> [pid]
        self.apart = []  # (nodes, caller)

    async def handle_call(self, request, caller):
        if request[0] == "track":
            pid, item = await track_new(request[1], request[2])
            self.pids.setdefault(request[2], []).append(pid)
            return item
        if request[0] == "stop":
            for pid in self.pids.pop(request[1], ()):
                beamish.send(pid, "stop")
            return "stopped"
        if request[0] == "list":
            return sorted(await listed(request[1]))
        if request[0] == "apart":
            self.apart.append((set(request[1]), caller))
            self._flush()
            return beamish.NoReply()
        raise ValueError(request)

    def handle_info(self, message):
        self._flush()

    def _flush(self):
        connected = set(cluster.nodes())
        for entry in list(self.apart):
            if not entry[0] & connected:
                self.apart.remove(entry)
                beamish.reply(entry[1], sorted(connected))


async def main() -> None:
    await start_ledger()
    await Reporting.start(name=TRACKER, **OPTIONS)
    await Control.start(name="pctl")
    print(f"READY {beamish.this_node().name} {cluster.this_cluster().address}", flush=True)
    await beamish.receive(lambda message: False)  # until the process is killed
