"""WorkerPool: child OS processes for CPU-bound work and actors (see :class:`WorkerPool`)."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import psutil

from .. import telemetry
from ..actors import (
    DEFAULT_TIMEOUT,
    Actor,
    Caller,
    Down,
    Exit,
    Exited,
    NoReply,
    Pid,
    Ref,
    Reply,
    StartError,
    Stop,
    WouldBlock,
    call,
    cast,
    current_async_library,
    exit,
    monitor,
    receive,
    receive_nowait,
    reply,
    send,
    send_after,
    spawn_link,
    stop,
    this_node,
    trap_exits,
)
from ..actors import self as self_pid
from ..actors.lowlevel import is_watched
from ..cluster import DEFAULT_MAX_FRAME, function_reference
from ..supervision import add_restart, shutdown_child
from ._port import WorkerSettings, run_port
from ._private import cookie_of, distributed

Start = tuple[Callable[..., Any], tuple[Any, ...]]
_log = logging.getLogger("beamish.workers")


class WorkerInfo(NamedTuple):
    """One worker, as the pool last saw it (memory and CPU from its last check)."""

    slot: int  # its place in the pool, 0 to size - 1 (a restart keeps it)
    pid: Pid | None  # the worker's server process (None while it starts)
    node: str | None
    os_pid: int | None
    status: str  # "starting", "up", "retiring", "stopping"
    memory: int  # resident set size, bytes
    cpu: float  # percent of one core since the previous check
    tasks_run: int  # one-shot functions finished, over every incarnation of this worker
    running: int  # sent to the worker and not answered yet
    actors: int  # processes started in it through the pool, still alive
    restarts: int  # times this worker died and was started again


class PoolInfo(NamedTuple):
    """The whole pool: ``workers`` in index order."""

    pid: Pid
    size: int
    queued: int  # accepted, waiting for a worker
    restarts: int
    workers: tuple[WorkerInfo, ...]


@dataclass(frozen=True, slots=True)
class PoolSettings:
    name: str
    size: int
    max_memory: int | None
    max_tasks_per_worker: int | None
    max_restarts: int
    max_seconds: float
    window: int
    check_interval: float
    start_timeout: float
    shutdown: float
    heartbeat: float
    backend: str | None
    switch_interval: float
    max_frame: int


class WorkerPool:
    """A pool of ``size`` worker processes (default: one per CPU core).

    ``max_memory`` (bytes): a worker whose resident memory goes over it, at one of the
    checks every ``check_interval`` seconds, is killed and restarted
    (``{"worker_died": "max_memory"}``). ``max_tasks_per_worker``: a worker that has run
    that many functions is replaced by a fresh one once it is idle and hosts no actor.
    ``max_restarts`` in ``max_seconds``: more worker deaths than that and the pool gives up
    and exits ``"shutdown"``, as a supervisor does. ``window``: functions sent to a worker
    ahead of their turn (so it never waits for the next one). ``shutdown``: seconds a
    worker has to stop in order before it is killed.

    A pool is a process (it supervises one *port* process per worker, and each port owns one
    worker OS process: a fresh interpreter, as ``multiprocessing``'s ``spawn`` start method
    makes, running a beamish node that connects to this one). ``WorkerPool(...)`` describes a
    pool and is its handle: start it with ``await pool.start_link()``, or put it in a
    supervisor's children (it has a ``child_spec``), then:

    - ``await pool.run(fn, *args)``: ``fn(*args)`` in a worker; its result, or its exception
      (the type, with the worker's traceback on ``remote_traceback``);
    - ``await pool.map(fn, iterable)``: many of them, results in order (the first failure
      fails the whole map at once);
    - ``await pool.spawn(ActorClass, *args)``: an actor in the least-loaded worker; its pid is
      an ordinary pid: send, call, link, monitor;
    - ``ChildSpec(..., placement=pool)``: a supervisor starts that child in a worker;
    - ``await pool.info()``: per worker, its pid, OS pid, memory, CPU, tasks run, restarts.

    Work whose caller has gone (cancelled, timed out, or exited) is dropped from the queue:
    it never runs. What was already sent to a worker (at most ``window`` functions per
    worker) runs to its end there, and its result is dropped; an actor it started is killed.

    Example:
        >>> pool = WorkerPool(size=2, max_memory=512 * 2**20, name="crunch")
        >>> pool.name, pool.size, pool.child_spec()["type"]
        ('crunch', 2, 'supervisor')
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        name: str | None = None,
        max_memory: int | None = None,
        max_tasks_per_worker: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        window: int = 8,
        check_interval: float = 1.0,
        start_timeout: float = 30.0,
        shutdown: float = 5.0,
        heartbeat: float = 15.0,
        backend: str | None = None,
        switch_interval: float = 0.001,
        max_frame: int = DEFAULT_MAX_FRAME,
        id: Any = None,
    ) -> None:
        size = size if size is not None else (os.cpu_count() or 1)
        if size < 1:
            raise ValueError(f"a pool needs size >= 1, not {size}")
        if max_memory is not None and max_memory <= 0:
            raise ValueError(f"max_memory must be a positive number of bytes, not {max_memory}")
        if max_tasks_per_worker is not None and max_tasks_per_worker < 1:
            raise ValueError(f"max_tasks_per_worker must be >= 1, not {max_tasks_per_worker}")
        if window < 1:
            raise ValueError(f"window must be >= 1, not {window}")
        self.name = name if name is not None else f"beamish.pool.{secrets.token_hex(4)}"
        self.id = id if id is not None else self.name
        self.settings = PoolSettings(
            name=self.name,
            size=size,
            max_memory=max_memory,
            max_tasks_per_worker=max_tasks_per_worker,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            window=window,
            check_interval=check_interval,
            start_timeout=start_timeout,
            shutdown=shutdown,
            heartbeat=heartbeat,
            backend=backend,
            switch_interval=switch_interval,
            max_frame=max_frame,
        )

    def __repr__(self) -> str:
        return f"<WorkerPool {self.name} size={self.size}>"

    @property
    def size(self) -> int:
        return self.settings.size

    # -- lifecycle --

    async def start(self) -> Pid:
        """Start the pool (unlinked); returns once every worker is ready."""
        return await PoolServer.start(self.settings, name=self.name, timeout=self._start_wait)

    async def start_link(self) -> Pid:
        """Start the pool linked to the calling process (a supervisor, say)."""
        return await PoolServer.start_link(self.settings, name=self.name, timeout=self._start_wait)

    def child_spec(self) -> dict[str, Any]:
        """A pool supervises its workers: a ``"supervisor"`` child, stopped with no limit."""
        return {
            "id": self.id,
            "start": (self.start_link, ()),
            "type": "supervisor",
            "shutdown": "infinity",
        }

    async def stop(self, reason: Any = "normal", timeout: float | None = None) -> None:
        """Stop every worker in order (newest index first), then the pool."""
        await stop(self.name, reason, timeout=timeout if timeout is not None else 3600.0)

    @property
    def pid(self) -> Pid | None:
        """The pool process on this node, if it runs."""
        return this_node().whereis(self.name)

    @property
    def _start_wait(self) -> float:
        return self.settings.start_timeout + 5.0

    # -- work --

    async def run(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
        """``fn(*args)`` in a worker (async functions run as a process of the worker).

        Raises what ``fn`` raised (its worker traceback on ``remote_traceback``),
        ``Exited({"worker_died": ...})`` if the worker died meanwhile, ``CallTimeout``
        after ``timeout`` seconds. A call that times out or is cancelled while ``fn`` still
        waits for a worker drops it; once in a worker, it runs to its end there.
        """
        return _unwrap(await self._call(("run", function_reference(fn), args), timeout))

    async def map(
        self, fn: Callable[..., Any], iterable: Iterable[Any], *, timeout: float | None = None
    ) -> list[Any]:
        """``[fn(x) for x in iterable]`` across the workers, results in order.

        The first failure (in time, not in order) fails the map as soon as it happens, as
        ``asyncio.gather`` does: what ``fn`` raised, or ``Exited({"worker_died": ...})``.
        The items still waiting for a worker are then dropped, as they are when the call
        times out or is cancelled; those already in a worker run to their end there.
        """
        jobs = [(x,) for x in iterable]
        results: list[Any] = _unwrap(
            await self._call(("map", function_reference(fn), jobs), timeout)
        )
        return results

    async def spawn(
        self, actor: type, *args: Any, link: bool = False, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start ``actor(*args)`` (an ``Actor`` class) in the least-loaded worker."""
        pid = await self._start((actor.start_link, args), link, timeout)  # type: ignore[attr-defined]
        if pid is None:
            raise StartError("ignore")
        return pid

    async def spawn_link(
        self, actor: type, *args: Any, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """:meth:`spawn`, linked to the caller before anything can happen to it."""
        return await self.spawn(actor, *args, link=True, timeout=timeout)

    async def place(self, start: Start) -> Pid | None:
        """The supervisor's side of ``ChildSpec(placement=pool)``: run ``start`` (as
        ``(Actor.start_link, args)``) in a worker and link the child to the caller."""
        return await self._start(start, True, self.settings.start_timeout + DEFAULT_TIMEOUT)

    async def _start(self, start: Start, link: bool, timeout: float | None) -> Pid | None:
        fn, args = start
        owner = self_pid() if link else None
        outcome = await self._call(("start", function_reference(fn), args, owner), timeout)
        status, value = outcome[0], outcome[1]
        if status == "ok":
            return value  # type: ignore[no-any-return]
        if status == "ignore":
            return None
        if status == "exited":
            raise StartError(value)
        raise value if isinstance(value, StartError) else StartError(value)

    async def _call(self, request: tuple[Any, ...], timeout: float | None) -> Any:
        try:
            return await call(self.name, request, timeout)
        except BaseException:  # no answer will be read: the pool drops what it still queues
            cast(self.name, ("forget",))
            raise

    async def info(self) -> PoolInfo:
        """The pool and each worker: pid, OS pid, memory, CPU, tasks run, restarts."""
        return await call(self.name, ("info",))  # type: ignore[no-any-return]


def _unwrap(outcome: tuple[Any, ...]) -> Any:
    status = outcome[0]
    if status == "ok":
        return outcome[1]
    if status == "error":
        raise outcome[1]
    _, reason, pid = outcome
    raise Exited(reason, pid)


class _Task:
    __slots__ = ("args", "batch", "caller", "id", "kind", "owner", "position", "target")

    def __init__(
        self,
        kind: str,
        task_id: int,
        target: Any,
        args: tuple[Any, ...],
        caller: Caller | None,
        owner: Pid | None = None,
        batch: _Batch | None = None,
        position: int = 0,
    ) -> None:
        self.kind = kind
        self.id = task_id
        self.target = target
        self.args = args
        self.caller = caller
        self.owner = owner
        self.batch = batch
        self.position = position


class _Batch:
    __slots__ = ("answered", "caller", "remaining", "results")

    def __init__(self, caller: Caller, size: int) -> None:
        self.caller = caller
        self.results: list[Any] = [None] * size
        self.remaining = size
        self.answered = False  # all results in, or the first failure


class _Slot:
    __slots__ = (
        "actors",
        "cpu",
        "index",
        "inflight",
        "memory",
        "node",
        "os_pid",
        "port",
        "probe",
        "restarts",
        "server",
        "status",
        "tasks_run",
        "tasks_this_life",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.port: Pid | None = None
        self.server: Pid | None = None
        self.node: str | None = None
        self.os_pid: int | None = None
        self.status = "starting"
        self.inflight: dict[int, _Task] = {}
        self.actors: dict[Ref, Pid] = {}
        self.tasks_run = 0
        self.tasks_this_life = 0
        self.restarts = 0
        self.memory = 0
        self.cpu = 0.0
        self.probe: psutil.Process | None = None

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            self.index,
            self.server,
            self.node,
            self.os_pid,
            self.status,
            self.memory,
            self.cpu,
            self.tasks_run,
            len(self.inflight),
            len(self.actors),
            self.restarts,
        )


_LABEL = re.compile(r"[^A-Za-z0-9_-]+")


class PoolServer(Actor):
    """The pool process (start it through :class:`WorkerPool`)."""

    async def init(self, settings: PoolSettings) -> Stop | None:
        trap_exits(True)
        self.settings = settings
        self.node = this_node()
        cluster = await distributed(self.node, settings.max_frame)
        assert cluster.public_address is not None
        backend = settings.backend or current_async_library()
        if backend == "asyncio" and self.node.backend_name == "uvloop":
            backend = "uvloop"
        self.worker_settings = WorkerSettings(
            cookie=cookie_of(cluster),
            parent=cluster.public_address,
            heartbeat=settings.heartbeat,
            start_timeout=settings.start_timeout,
            shutdown=settings.shutdown,
            backend=backend,
            switch_interval=settings.switch_interval,
            max_frame=cluster.max_frame,
            allow_pickle=cluster.codec.allow_pickle,
        )
        self.label = _LABEL.sub("-", settings.name).strip("-") or "pool"
        self.slots = [_Slot(i) for i in range(settings.size)]
        self.by_port: dict[Pid, _Slot] = {}
        self.by_node: dict[str, _Slot] = {}
        self.actor_refs: dict[Ref, _Slot] = {}
        self.queue: deque[_Task] = deque()
        self.ids = itertools.count()
        self.restart_times: tuple[float, ...] = ()
        self.restarts = 0
        self.stopping = False
        for slot in self.slots:
            self._start_worker(slot)
        deadline = time.monotonic() + settings.start_timeout
        while any(slot.status == "starting" for slot in self.slots):
            left = deadline - time.monotonic()
            try:
                message = await receive(_is_up_or_exit, timeout=max(left, 0.0))
            except TimeoutError:
                return Stop(("shutdown", "workers did not start in time"))
            if type(message) is Exit:
                return Stop(("shutdown", ("worker failed to start", message.reason)))
            self._up(message)
        send_after(self.pid, ("check",), settings.check_interval)
        return None

    def format_status(self, state: dict[str, Any]) -> Any:
        """The state without the cluster cookie (get_state, crash reports)."""
        settings = state.get("worker_settings")
        if isinstance(settings, WorkerSettings):
            state["worker_settings"] = dataclasses.replace(settings, cookie="***")
        return state

    # -- workers --

    def _start_worker(self, slot: _Slot) -> None:
        name = f"{self.label}-{slot.index}-{secrets.token_hex(3)}@127.0.0.1"
        slot.port = spawn_link(run_port, self.pid, slot.index, name, self.worker_settings)
        slot.server = slot.os_pid = slot.probe = None
        slot.node = name
        slot.status = "starting"
        slot.tasks_this_life = 0
        slot.memory, slot.cpu = 0, 0.0
        self.by_port[slot.port] = slot

    def _up(self, message: tuple[Any, ...]) -> None:
        _, index, port, server, os_pid, node, startup = message
        slot = self.slots[index]
        if slot.port != port:
            return
        slot.server, slot.os_pid, slot.node = server, os_pid, node
        slot.status = "up"
        self.by_node[node] = slot
        try:
            slot.probe = psutil.Process(os_pid)
            slot.probe.cpu_percent(None)
            slot.memory = slot.probe.memory_info().rss
        except psutil.Error:
            slot.probe = None
        self._emit(telemetry.WORKER_UP, {"count": 1, "startup": startup}, slot)

    def _emit(self, event: Any, measurements: dict[str, Any], slot: _Slot, **extra: Any) -> None:
        """Telemetry about one worker: ``pool``, ``worker``, ``os_pid``, ``index`` and
        ``extra`` as metadata."""
        metadata = {
            "pool": self.settings.name,
            "worker": slot.node,
            "os_pid": slot.os_pid,
            "index": slot.index,
            **extra,
        }
        telemetry.execute(event, measurements, metadata)

    def _worker_down(self, slot: _Slot, reason: Any) -> Stop | None:
        del self.by_port[slot.port]  # type: ignore[arg-type]
        if slot.node is not None:
            self.by_node.pop(slot.node, None)
        failed, slot.inflight = list(slot.inflight.values()), {}
        for task in failed:
            self._deliver(task, ("exited", reason, slot.server))
        for ref in slot.actors:
            self.actor_refs.pop(ref, None)
        slot.actors.clear()
        self._emit(telemetry.WORKER_DOWN, {"count": 1}, slot, reason=reason)
        slot.port = None
        if self.stopping:
            slot.status = "stopped"
            return None
        if reason != "normal":  # a recycled worker stops "normal": not a failure
            _log.warning(
                "pool %s: worker %d (%s, OS pid %s) died: %s",
                self.settings.name,
                slot.index,
                slot.node,
                slot.os_pid,
                reason,
            )
            slot.restarts += 1
            self.restarts += 1
            self.restart_times, allowed = add_restart(
                self.restart_times,
                time.monotonic(),
                self.settings.max_restarts,
                self.settings.max_seconds,
            )
            if not allowed:
                self.stopping = True
                return Stop("shutdown")
        self._start_worker(slot)
        return None

    def _check(self) -> None:
        limit = self.settings.max_memory
        for slot in self.slots:
            if slot.probe is None or slot.status not in ("up", "retiring"):
                continue
            try:
                slot.memory = slot.probe.memory_info().rss
                slot.cpu = slot.probe.cpu_percent(None)
            except psutil.Error:
                continue
            if limit is not None and slot.memory > limit:
                self._emit(
                    telemetry.WORKER_OVER_MEMORY, {"memory": slot.memory}, slot, max_memory=limit
                )
                slot.status = "stopping"
                send(slot.port, ("kill", "max_memory"))  # type: ignore[arg-type]

    def _retire_if_done(self, slot: _Slot) -> None:
        """Past ``max_tasks_per_worker``, a worker takes no more functions and is replaced
        once idle; one that hosts actors keeps working until they are gone (replacing it
        would stop them)."""
        limit = self.settings.max_tasks_per_worker
        if limit is None or slot.status not in ("up", "retiring"):
            return
        if slot.tasks_this_life < limit:
            return
        slot.status = "up" if slot.actors else "retiring"
        if slot.status == "retiring" and not slot.inflight:
            slot.status = "stopping"
            self._emit(telemetry.WORKER_RECYCLED, {"tasks": slot.tasks_this_life}, slot)
            send(slot.port, ("stop", "normal"))  # type: ignore[arg-type]

    # -- tasks --

    def _place(self, kind: str) -> _Slot | None:
        best: _Slot | None = None
        best_load = 0
        window = self.settings.window
        for slot in self.slots:
            if slot.status != "up" or (kind == "run" and len(slot.inflight) >= window):
                continue
            load = len(slot.inflight) + len(slot.actors)
            if best is None or load < best_load:
                best, best_load = slot, load
        return best

    def _waited_for(self, task: _Task) -> bool:
        """Whether someone still waits for ``task``'s outcome: its caller is still in its
        call (a call monitors its server under the call's ref until it ends)."""
        batch = task.batch
        if batch is not None:
            if batch.answered:
                return False
            caller = batch.caller
        else:
            assert task.caller is not None
            caller = task.caller
        return is_watched(self.node, self.pid, caller.ref)

    def _forget(self) -> None:
        """Drop the queued tasks nobody waits for any more."""
        before = len(self.queue)
        self.queue = deque(task for task in self.queue if self._waited_for(task))
        self._dropped(before - len(self.queue))

    def _dropped(self, count: int) -> None:
        if count:
            telemetry.execute(
                telemetry.WORKER_TASKS_DROPPED, {"count": count}, {"pool": self.settings.name}
            )

    def _dispatch(self) -> None:
        queue = self.queue
        dropped = 0
        while queue:
            task = queue[0]
            if not self._waited_for(task):
                queue.popleft()
                dropped += 1
                continue
            slot = self._place(task.kind)
            if slot is None:
                break
            queue.popleft()
            try:
                send(slot.server, (task.kind, task.id, task.target, task.args))  # type: ignore[arg-type]
            except Exception as exc:  # cannot be encoded or is over the frame limit
                self._deliver(task, ("error", exc))
                continue
            slot.inflight[task.id] = task
        self._dropped(dropped)

    def _deliver(self, task: _Task, outcome: tuple[Any, ...]) -> None:
        batch = task.batch
        if batch is None:
            assert task.caller is not None
            reply(task.caller, outcome)
            return
        if batch.answered:
            return
        if outcome[0] != "ok":  # fail fast; the rest of the batch is dropped at dispatch
            batch.answered = True
            reply(batch.caller, outcome)
            return
        batch.results[task.position] = outcome[1]
        batch.remaining -= 1
        if batch.remaining == 0:
            batch.answered = True
            reply(batch.caller, ("ok", batch.results))

    def _started(self, slot: _Slot, task: _Task, outcome: tuple[Any, ...]) -> None:
        if outcome[0] == "ok":
            pid = outcome[1]
            if not self._waited_for(task):  # nobody will ever know its pid
                exit(pid, "kill")
                return
            ref = monitor(pid)
            slot.actors[ref] = pid
            self.actor_refs[ref] = slot
            if task.owner is not None:
                if self.node.is_alive(task.owner):
                    self.node.link(task.owner, pid)
                else:
                    exit(pid, "kill")  # its owner is gone: nobody would ever stop it
        self._deliver(task, outcome)

    # -- callbacks --

    def handle_call(self, request: Any, caller: Caller) -> Any:
        op = request[0]
        if op == "run":
            self.queue.append(_Task("run", next(self.ids), request[1], request[2], caller))
        elif op == "map":
            _, target, jobs = request
            if not jobs:
                return Reply(("ok", []))
            batch = _Batch(caller, len(jobs))
            ids = self.ids
            self.queue.extend(
                _Task("run", next(ids), target, args, None, None, batch, i)
                for i, args in enumerate(jobs)
            )
        elif op == "start":
            _, target, args, owner = request
            self.queue.append(_Task("start", next(self.ids), target, args, caller, owner))
        elif op == "info":
            return Reply(
                PoolInfo(
                    self.pid,
                    self.settings.size,
                    len(self.queue),
                    self.restarts,
                    tuple(slot.info() for slot in self.slots),
                )
            )
        else:
            raise ValueError(f"unknown pool request {op!r}")
        self._dispatch()
        return NoReply()

    def handle_cast(self, request: Any) -> None:
        if request == ("forget",):  # a caller stopped waiting (timed out, cancelled)
            self._forget()

    def handle_info(self, message: Any) -> Stop | None:
        kind = type(message)
        if kind is tuple:
            op = message[0]
            if op == "done" or op == "started":
                slot = self.by_node.get(message[1])
                task = slot.inflight.pop(message[2], None) if slot is not None else None
                if slot is None or task is None:
                    return None
                if op == "done":
                    slot.tasks_run += 1
                    slot.tasks_this_life += 1
                    self._deliver(task, message[3])
                    self._retire_if_done(slot)
                else:
                    self._started(slot, task, message[3])
                self._dispatch()
            elif op == "worker_down":
                slot = self.by_port.get(message[2])
                if slot is not None:
                    stopped = self._worker_down(slot, message[3])
                    self._dispatch()
                    return stopped
            elif op == "up":
                self._up(message)
                self._dispatch()
            elif op == "check":
                self._check()
                send_after(self.pid, ("check",), self.settings.check_interval)
        elif kind is Exit:
            slot = self.by_port.get(message.pid)
            if slot is not None:
                stopped = self._worker_down(slot, message.reason)
                self._dispatch()
                return stopped
        elif kind is Down:
            slot = self.actor_refs.pop(message.ref, None)
            if slot is not None:
                slot.actors.pop(message.ref, None)
                self._retire_if_done(slot)
                self._dispatch()
        return None

    async def terminate(self, reason: Any) -> None:
        """Stop the workers newest slot first, each as a supervisor stops a child (its port
        stops the worker in order, and is killed if that takes too long)."""
        self.stopping = True
        for slot in reversed(self.slots):
            port = slot.port
            if port is None or not self.node.is_alive(port):
                continue
            await shutdown_child(port, self.settings.shutdown + 5.0)
            try:
                _, _, _, why = receive_nowait(_reported_by(port))
            except WouldBlock:  # the port was killed before it could say
                why = "killed"
            self._emit(telemetry.WORKER_DOWN, {"count": 1}, slot, reason=why)


def _is_up_or_exit(message: Any) -> bool:
    return type(message) is Exit or (type(message) is tuple and message[0] == "up")


def _reported_by(port: Pid) -> Callable[[Any], bool]:
    """Matches the ``("worker_down", ...)`` message ``port`` sends before it exits."""
    return lambda m: type(m) is tuple and m[0] == "worker_down" and m[2] == port
