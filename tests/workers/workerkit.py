"""What the worker tests run inside workers (importable by the worker processes: they get
the test process's ``sys.path``)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel

import beamish
from beamish import Actor, Caller, NoReply, telemetry
from beamish.workers import WorkerPool

MB = 2**20


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def getpid() -> int:
    return os.getpid()


def unencodable() -> Any:
    return threading.Lock()  # no codec, not even cloudpickle, can carry a lock


async def double_later(x: int) -> int:
    await anyio.lowlevel.checkpoint()
    return 2 * x


def nap(seconds: float) -> float:
    """Work that takes ``seconds`` (the worker's event loop stays free)."""
    time.sleep(seconds)
    return seconds


def fail_first(x: int) -> int:
    """Fail at once for 0; any other item is long work (``x`` seconds)."""
    if x == 0:
        raise ValueError("first")
    time.sleep(x)
    return x


def die_first(x: int) -> int:
    """Kill this worker at once for 0; any other item is long work (``x`` seconds)."""
    if x == 0:
        die("sigkill")
    time.sleep(x)
    return x


def exit_now(code: int) -> None:
    raise SystemExit(code)


async def exit_later(code: int) -> None:
    await anyio.lowlevel.checkpoint()
    raise SystemExit(code)


def hog(nbytes: int, seconds: float) -> int:
    """Hold ``nbytes`` of touched memory for ``seconds``."""
    blob = b"\x01" * nbytes
    time.sleep(seconds)
    return len(blob)


def hold_the_gil(_item: object = None) -> None:
    """Say ``BUSY`` on stdout, then hold the GIL for hours: a regular expression that
    backtracks exponentially, all in C (``re`` never lets the GIL go)."""
    os.write(1, b"BUSY\n")
    re.match(r"(a+)+$", "a" * 48 + "b")


def die(how: str) -> None:
    """End this worker process the hard way."""
    if how == "os_exit":
        os._exit(3)
    elif how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "segfault":
        ctypes.string_at(0)
    raise AssertionError(how)


class Cruncher(Actor):
    """An actor meant to live in a worker."""

    def init(self, tag: str = "c") -> None:
        self.tag = tag
        self.held: list[bytes] = []

    def handle_call(self, request: Any, caller: Caller) -> Any:
        op = request[0]
        if op == "ping":
            return ("pong", self.tag, os.getpid())
        if op == "raise":
            raise ValueError(request[1])
        if op == "die":
            die(request[1])
        if op == "hog":
            self.held.append(b"\x01" * request[1])
            return NoReply()  # the call stays pending until the worker is gone
        if op == "hang":
            return NoReply()
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        if request[0] == "tell":
            beamish.send(request[1], ("told", self.tag))


class SlowStart(Actor):
    """An actor whose ``init`` takes ``seconds``, then tells ``watcher`` its pid."""

    async def init(self, watcher: beamish.Pid, seconds: float) -> None:
        await anyio.sleep(seconds)
        beamish.send(watcher, ("initialised", beamish.self()))


@contextlib.asynccontextmanager
async def running_pool(**options: Any) -> AsyncIterator[WorkerPool]:
    """A started pool, stopped at the end (the calling process owns it)."""
    pool = WorkerPool(**options)
    await pool.start()
    try:
        yield pool
    finally:
        with anyio.CancelScope(shield=True):
            if pool.pid is not None:
                await pool.stop()



@contextlib.contextmanager
def worker_events() -> Any:
    """Forward the pool's WORKER_* telemetry to the calling process as
    ``("worker_event", name, metadata)`` messages (wait on them with ``receive``)."""
    me = beamish.self()
    node = beamish.this_node()
    handler_id = f"worker-events-{me}"
    names = {
        telemetry.WORKER_UP: "up",
        telemetry.WORKER_DOWN: "down",
        telemetry.WORKER_OVER_MEMORY: "over_memory",
        telemetry.WORKER_RECYCLED: "recycled",
    }

    def forward(event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        node.send(me, ("worker_event", names[event], metadata))

    telemetry.attach_many(handler_id, list(names), forward)
    try:
        yield
    finally:
        telemetry.detach(handler_id)


async def next_event(name: str, timeout: float = 15.0) -> dict[str, Any]:
    """The next ``worker_events`` message called ``name`` (others stay queued)."""
    message = await beamish.receive(
        lambda m: type(m) is tuple and len(m) == 3 and m[0] == "worker_event" and m[1] == name,
        timeout=timeout,
    )
    return message[2]  # type: ignore[no-any-return]
