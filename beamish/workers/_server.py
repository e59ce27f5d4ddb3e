"""The server inside each worker process: runs one-shot functions and starts actors for
its pool (the pool talks to it with messages; its answers go back to the pool).

Messages it takes, from the pool:

- ``("run", task_id, fn, args)``: ``fn(*args)``; a sync function runs in the worker's
  executor thread, an async one as a process of the worker node. Whatever it raises,
  ``SystemExit`` included, is its outcome: the worker goes on.
- ``("start", task_id, fn, args)``: ``fn(*args)`` in a short-lived starter process, where
  ``fn`` starts a process linked to its caller (``Actor.start_link``); the starter then
  unlinks it, so the new process belongs to whoever the pool links it to.
- ``("stop",)``: the worker stops in order (its node shuts down).

Answers: ``("done", worker, task_id, outcome)`` and ``("started", worker, task_id,
outcome)``, with ``outcome`` ``("ok", value)``, ``("error", exception)`` or, for a start,
``("ignore", None)``.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..actors import Actor, Pid, StartError, Stop, spawn, this_node, unlink
from ..cluster import EncodeError, FrameError, resolve_function
from ._executor import Executor, loop_poster

SERVER_NAME = "beamish.worker"
USER_EXITS = (SystemExit, KeyboardInterrupt)  # raised by a task's own code: its error


class WorkerServer(Actor):
    """Registered as ``"beamish.worker"`` on every worker node."""

    def init(self, pool: Pid) -> None:
        self.pool = pool
        self.node = this_node()
        self.executor = Executor(loop_poster())
        self.functions: dict[str, Any] = {}  # "module:qualname" -> the function

    def handle_info(self, message: Any) -> Any:
        op = message[0]
        if op == "run":
            _, task_id, target, args = message
            try:
                fn = self._resolve(target)
            except Exception as exc:
                self.answer("done", task_id, ("error", exc))
                return None
            if inspect.iscoroutinefunction(fn):
                spawn(_run_async, self, task_id, fn, tuple(args))
            else:
                self.executor.submit(task_id, fn, tuple(args), self._done)
        elif op == "start":
            _, task_id, target, args = message
            spawn(_start, self, task_id, target, tuple(args))
        elif op == "stop":
            return Stop("normal")
        return None

    def _resolve(self, target: Any) -> Any:
        if type(target) is not str:
            return resolve_function(target)
        fn = self.functions.get(target)
        if fn is None:
            fn = self.functions[target] = resolve_function(target)
        return fn

    def terminate(self, reason: Any) -> None:
        self.executor.close()

    def _done(self, task_id: Any, outcome: tuple[str, Any]) -> None:
        self.answer("done", task_id, outcome)

    def answer(self, kind: str, task_id: Any, outcome: tuple[str, Any]) -> None:
        try:
            self.node.send(self.pool, (kind, self.node.name, task_id, outcome))
        except (EncodeError, FrameError) as exc:  # the result cannot travel: say why
            self.node.send(self.pool, (kind, self.node.name, task_id, ("error", exc)))


async def _run_async(server: WorkerServer, task_id: Any, fn: Any, args: tuple[Any, ...]) -> None:
    try:
        outcome: tuple[str, Any] = ("ok", await fn(*args))
    except (Exception, *USER_EXITS) as exc:  # the task's error, as in the executor thread
        outcome = ("error", exc)
    server.answer("done", task_id, outcome)


async def _start(server: WorkerServer, task_id: Any, target: Any, args: tuple[Any, ...]) -> None:
    outcome: tuple[str, Any]
    try:
        pid = await resolve_function(target)(*args)
    except StartError as exc:
        outcome = ("ignore", None) if exc.reason == "ignore" else ("error", exc)
    except Exception as exc:
        outcome = ("error", StartError(exc))
    else:
        if type(pid) is Pid:
            unlink(pid)  # the pool links it to whoever asked for it
            outcome = ("ok", pid)
        elif pid is None:
            outcome = ("ignore", None)
        else:
            outcome = ("error", TypeError(f"{target!r} returned {pid!r}, not a pid"))
    server.answer("started", task_id, outcome)
