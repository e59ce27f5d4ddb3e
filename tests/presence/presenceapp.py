"""The application the OS-process nodes of test_tracker_os_nodes.py run.

    python -m beamish run tests.presence.presenceapp:main --name n1@127.0.0.1 ...

It starts a ledger and a ``Reporting`` tracker (see trackerkit) with short periods, a
``pctl`` server that tracks new idle processes on request, prints ``READY <name>
<address>`` and runs until it is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "cluster")]

from trackerkit import TRACKER, Reporting, listed, start_ledger, track_new  # noqa: E402

import beamish  # noqa: E402
from beamish import cluster  # noqa: E402

OPTIONS = {"broadcast_period": 0.1, "max_silent_periods": 3, "down_period": 2.0}


class Control(beamish.Actor):
    """Tracks a new idle process under (topic, key) on ``("track", topic, key)``; answers
    ``("list", topic)`` with this node's list of topic as sorted (key, phx_ref)."""

    async def handle_call(self, request, caller):
        if request[0] == "track":
            _, item = await track_new(request[1], request[2])
            return item
        if request[0] == "list":
            return sorted(await listed(request[1]))
        raise ValueError(request)


async def main() -> None:
    await start_ledger()
    await Reporting.start(name=TRACKER, **OPTIONS)
    await Control.start(name="pctl")
    print(f"READY {beamish.this_node().name} {cluster.this_cluster().address}", flush=True)
    await beamish.receive(lambda message: False)  # until the process is killed
