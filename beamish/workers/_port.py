"""The port: one process on the parent node per worker OS process (as an Erlang port owns
its external program). It starts the worker, waits for it to report ready, relays the
pool's orders (stop in order, kill for memory), and turns the worker's end into an exit
reason: the OS's return code, or why it was killed.

The port tells its pool that reason, ``{"worker_died": cause}``, and then fires it to
everything linked to, or monitoring, a process of the worker (the cluster defers the
connection loss until the port knows how the worker died). A port that is stopped, or
killed, never leaves its OS process behind: it kills it and reaps it on the way out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

from ..actors import (
    Exit,
    Pid,
    cancel_timer,
    receive,
    self,
    send,
    send_after,
    this_node,
    trap_exits,
)
from ..cluster import Cluster
from ._reasons import exit_cause, worker_died

LOST_GRACE = 1.0  # seconds a worker whose connection ended has to be reaped by the OS


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What a port needs to start and stop one worker."""

    cookie: str
    parent: str  # the parent's cluster address
    heartbeat: float
    start_timeout: float
    shutdown: float
    backend: str
    switch_interval: float
    max_frame: int
    allow_pickle: bool


async def run_port(pool: Pid, index: int, name: str, settings: WorkerSettings) -> None:
    """The body of a port process (spawned linked to its pool)."""
    trap_exits(True)
    node = this_node()
    me = self()
    cluster = node.remote
    assert isinstance(cluster, Cluster)
    config = {
        "name": name,
        "parent": settings.parent,
        "parent_node": node.name,
        "port": list(me),
        "pool": list(pool),
        "cookie": settings.cookie,
        "heartbeat": settings.heartbeat,
        "shutdown": settings.shutdown,
        "backend": settings.backend,
        "switch_interval": settings.switch_interval,
        "max_frame": settings.max_frame,
        "allow_pickle": settings.allow_pickle,
    }
    env = dict(os.environ)
    env["BEAMISH_WORKER"] = json.dumps(config)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    began = time.monotonic()
    process = await anyio.open_process(
        [sys.executable, "-m", "beamish._worker"],
        stdin=subprocess.PIPE,
        stdout=None,
        stderr=None,
        env=env,
    )
    state = _State()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_report_exit, process, me)
            await _serve(state, pool, index, name, settings, process, cluster, began)
            group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            await process.aclose()
            reason = state.reason(process)
            # the pool hears first, so it places nothing more there, then the links fire
            send(pool, ("worker_down", index, me, reason))
            if state.server is not None:
                cluster.fire_loss(name, "shutdown" if state.stopped_in_order(process) else reason)


class _State:
    __slots__ = ("cause", "server", "stopping")

    def __init__(self) -> None:
        self.cause: str | None = None  # why the port killed the worker, if it did
        self.server: Pid | None = None  # the worker's server, once it reported ready
        self.stopping: Any = None  # the reason to exit with after an orderly stop

    def stopped_in_order(self, process: anyio.abc.Process) -> bool:
        return self.stopping is not None and process.returncode == 0

    def reason(self, process: anyio.abc.Process) -> Any:
        if self.stopped_in_order(process):
            return self.stopping
        assert process.returncode is not None
        cause = self.cause if self.cause is not None else exit_cause(process.returncode)
        return worker_died(cause)


async def _report_exit(process: anyio.abc.Process, port: Pid) -> None:
    await process.wait()
    this_node().send(port, ("exited", process.returncode))


async def _serve(
    state: _State,
    pool: Pid,
    index: int,
    name: str,
    settings: WorkerSettings,
    process: anyio.abc.Process,
    cluster: Cluster,
    began: float,
) -> None:
    """Relay the pool's orders until the worker's OS process has ended."""
    node = this_node()
    me = self()
    timer = send_after(me, ("start_timeout",), settings.start_timeout)

    def kill(why: str | None) -> None:
        if process.returncode is None:
            if state.cause is None:
                state.cause = why
            process.kill()

    def stop(reason: Any) -> None:
        if state.stopping is not None:
            return
        state.stopping = reason
        if state.server is None:
            kill(None)
        else:
            send(state.server, ("stop",))
            send_after(me, ("stop_timeout",), settings.shutdown)

    while True:
        message = await receive()
        if type(message) is Exit:
            if message.pid == pool or message.pid == node.system_pid:
                stop(message.reason)
            continue
        op = message[0]
        if op == "exited":
            return
        if op == "worker_ready":
            _, state.server, os_pid, _node_name = message
            cancel_timer(timer)
            cluster.defer_loss(name, lambda why: node.send(me, ("lost", why)))
            startup = time.monotonic() - began
            send(pool, ("up", index, me, state.server, os_pid, name, startup))
            if state.stopping is not None:
                send(state.server, ("stop",))
        elif op == "stop":
            stop(message[1])
        elif op == "kill":
            kill(message[1])
        elif op == "lost":
            send_after(me, ("lost_grace",), LOST_GRACE)
        elif op == "lost_grace":
            kill("unresponsive")
        elif op == "start_timeout":
            if state.server is None:
                kill("start_timeout")
        elif op == "stop_timeout":
            kill(None)
