"""One thread that runs a worker's one-shot functions, so the worker's event loop keeps
serving its actors and heartbeats while a function computes.

>>> import anyio
>>> async def main():
...     got = anyio.Event()
...     results = []
...     def done(task_id, outcome):
...         results.append((task_id, outcome))
...         got.set()
...     executor = Executor(loop_poster())
...     executor.submit(7, pow, (2, 10), done)
...     await got.wait()
...     executor.close()
...     return results
>>> anyio.run(main)
[(7, ('ok', 1024))]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ..actors import current_async_library

Done = Callable[[Any, tuple[str, Any]], None]
Poster = Callable[..., None]


def loop_poster() -> Poster:
    """A thread-safe ``post(fn, *args)`` that runs ``fn(*args)`` on the calling event loop
    soon, without blocking the thread that posts (asyncio, uvloop or trio)."""
    if current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    import asyncio

    loop = asyncio.get_running_loop()

    def post(fn: Callable[..., Any], *args: Any) -> None:
        loop.call_soon_threadsafe(fn, *args)

    return post


class Executor:
    """Runs submitted functions one after another in its own thread; each outcome,
    ``("ok", value)`` or ``("error", exception)``, goes to ``done`` on the loop."""

    def __init__(self, post: Poster) -> None:
        self._post = post
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._finished: list[tuple[Done, Any, tuple[str, Any]]] = []  # waiting for the loop
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="beamish-executor", daemon=True)
        self._thread.start()

    def submit(
        self, task_id: Any, fn: Callable[..., Any], args: tuple[Any, ...], done: Done
    ) -> None:
        self._queue.put((task_id, fn, args, done))

    def close(self) -> None:
        """Stop after the function running now (queued ones are dropped)."""
        self._queue.put(None)

    def _work(self) -> None:
        take = self._queue.get
        while (item := take()) is not None:
            task_id, fn, args, done = item
            try:
                outcome: tuple[str, Any] = ("ok", fn(*args))
            except BaseException as exc:  # returned to the caller, never raised here
                if exc.__traceback__ is not None:  # the caller's traceback starts in fn
                    exc.__traceback__ = exc.__traceback__.tb_next
                outcome = ("error", exc)
            with self._lock:  # one wake-up of the loop for all outcomes it has not taken yet
                self._finished.append((done, task_id, outcome))
                wake = len(self._finished) == 1
            if wake:
                try:
                    self._post(self._deliver)
                except RuntimeError:  # the loop is closed: the worker is stopping
                    return
            del item, fn, args, outcome

    def _deliver(self) -> None:
        with self._lock:
            finished, self._finished = self._finished, []
        for done, task_id, outcome in finished:
            done(task_id, outcome)
