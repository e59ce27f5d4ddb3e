"""The application the OS-process nodes of test_sessions_os_nodes.py run.

    python -m beamish run tests.sessions.sessionapp:main --name a@127.0.0.1 --cookie C \\
        --listen 127.0.0.1:0 --seed ... --no-discovery

A ``Sessions`` (cluster registry, snapshots to ``$SESSIONS_DB``) and a ``sessionctl``
server that runs the sessions API for the test; prints ``READY <name> <address>``.
Requests and replies are plain tuples and strings.
"""

from __future__ import annotations

import os
from typing import Any

import beamish
from beamish import cluster, sessions


class Tally(sessions.SessionProcess):
    """A number: ``("add", n)`` casts, ``"get"`` calls."""

    def init_state(self, args: Any) -> dict[str, int]:
        return {"n": 0}

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        return self.state["n"]

    def handle_cast(self, request: Any) -> None:
        self.state["n"] += request[1]


class Control(beamish.Actor):
    """Runs the sessions API on this node for the test."""

    async def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        op, session_id, *rest = request
        try:
            if op == "start":
                return ("ok", await sessions.start(session_id, Tally))
            if op == "call":
                return ("ok", await sessions.call(session_id, "get"))
            if op == "cast":
                await sessions.cast(session_id, ("add", rest[0]))
                return ("ok", None)
            if op == "find":
                return ("ok", sessions.find(session_id))
            if op == "snapshot":
                await sessions.snapshot(session_id)
                return ("ok", None)
        except sessions.SessionError as exc:
            return ("error", type(exc).__name__)
        return ("error", f"unknown op {op!r}")


async def main() -> None:
    await sessions.Sessions.start(
        session=Tally,
        scope="cluster",
        rate_limit=None,
        snapshots=f"sqlite:{os.environ['SESSIONS_DB']}",
        replication={"down_period": 2.0},
    )
    await Control.start(name="sessionctl")
    print(f"READY {beamish.this_node().name} {cluster.this_cluster().address}", flush=True)
    await beamish.receive(lambda message: False)  # until the process is killed
