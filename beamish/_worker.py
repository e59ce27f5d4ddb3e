"""The entry point of a worker process: ``python -m beamish._worker`` (started by a pool).

The pool passes its settings in the ``BEAMISH_WORKER`` environment variable (JSON: the
worker's node name, the parent's address and node name, the port process's pid, the
cookie, heartbeat and backend). The worker starts a node, connects to its parent, starts
its :class:`~beamish.workers._server.WorkerServer` and tells the port it is ready. It
stops in order when the pool says so, when the connection to the parent ends, and, if its
event loop is stuck, a few seconds after the parent process died (its stdin pipe closes).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

from .actors import Down, Pid, monitor, receive, self, send, this_node
from .cluster import Cluster, NodeDown
from .cluster.transports import TcpTransport
from .runtime import run
from .workers._server import SERVER_NAME, WorkerServer

PARENT_GRACE = 5.0  # seconds between the parent's death and a forced exit


def _exit_when_parent_dies() -> None:
    """Block on stdin (a pipe from the parent); its end means the parent is gone."""
    try:  # the raw descriptor: a buffered read would hold a lock the exit needs
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    time.sleep(PARENT_GRACE)  # the orderly path (connection lost) had its chance
    os._exit(70)


async def _serve(config: dict[str, Any]) -> None:
    """The worker node's main process: connect, serve the pool, return when told to stop
    or when the parent is gone (the runtime then stops the node in order)."""
    node = this_node()
    cluster = Cluster(
        node,
        TcpTransport(),
        cookie=bytes.fromhex(config["cookie"]),
        heartbeat=config["heartbeat"],
        max_frame=config["max_frame"],
        allow_pickle=config["allow_pickle"],  # as the parent's cluster
        directory=None,
        hidden=True,  # connected to its parent only
    )
    async with cluster.running(None):
        parent = config["parent_node"]
        await cluster.connect(config["parent"])
        cluster.monitor_node(self(), parent)
        server = await WorkerServer.start(Pid(*config["pool"]), name=SERVER_NAME)
        ref = monitor(server)
        send(Pid(*config["port"]), ("worker_ready", server, os.getpid(), node.name))
        await receive(
            lambda m: (
                (type(m) is Down and m.ref == ref) or (type(m) is NodeDown and m.node == parent)
            )
        )


def main() -> None:
    config = json.loads(os.environ.pop("BEAMISH_WORKER"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers in order
    sys.setswitchinterval(config.get("switch_interval", 0.001))
    threading.Thread(target=_exit_when_parent_dies, name="parent-watch", daemon=True).start()
    run(
        _serve,
        config,
        backend=config.get("backend", "asyncio"),
        name=config["name"],
        shutdown_timeout=config["shutdown"],
    )


if __name__ == "__main__":
    main()
