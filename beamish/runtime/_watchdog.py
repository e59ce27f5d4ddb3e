"""The loop-lag watchdog: report code that blocks the event loop, and who ran it.

>>> LagWatchdog.__name__
'LagWatchdog'

A handler that calls ``time.sleep(2)`` (or crunches numbers for two seconds) stops every
timer, call timeout and message on its node, and nothing else would say so. A thread
posts a probe to the loop every ``threshold / 4`` seconds (a wake-up of the loop, off
the message path). While a probe waits longer than ``threshold``, the thread looks at the
loop thread's stack: the innermost frame (the callback that blocks) and the process whose
task runs it. When the probe finally runs, the loop thread logs one warning and emits
``telemetry.LOOP_BLOCKED`` with the delay, the pid (None outside any process) and the
callback. If the loop was only ever seen idle, waiting for I/O, the lag came from outside
it (a starved CPU, say) and the callback reads "unknown code".

The delay is wall-clock time (``time.monotonic``): the watchdog measures the real loop,
not the node clock, which may be virtual in tests.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from .. import telemetry
from ..actors import current_async_library
from ..actors.lowlevel import running_pid

if TYPE_CHECKING:
    from ..actors import Node, Pid

_log = logging.getLogger("beamish.runtime")
# where the loop thread's innermost Python frame sits while the loop waits for events
_IDLE_MODULES = frozenset(
    {
        "selectors",
        "asyncio.base_events",
        "asyncio.runners",
        "trio._core._io_epoll",
        "trio._core._io_kqueue",
        "trio._core._io_windows",
        "trio._core._run",
    }
)


class LagWatchdog:
    """One node's watchdog thread; ``start()`` on the loop thread, ``stop()`` when done."""

    def __init__(self, node: Node, threshold: float) -> None:
        self.node = node
        self.threshold = threshold
        self._interval = threshold / 4
        self._loop_thread = threading.get_ident()
        self._post = _poster()
        self._stopped = threading.Event()
        self._sent_at = 0.0  # when the probe in flight was posted; 0.0: none in flight
        self._culprit: tuple[Pid | None, str] | None = None  # seen while the probe waited
        self._thread = threading.Thread(
            target=self._watch, name=f"beamish-watchdog {node.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(1.0)

    def _watch(self) -> None:
        while not self._stopped.wait(self._interval):
            sent_at = self._sent_at
            if sent_at:
                if self._culprit is None and time.monotonic() - sent_at > self.threshold:
                    self._culprit = self._blocker()
                continue
            self._culprit = None
            self._sent_at = time.monotonic()
            try:
                self._post(self._probe)
            except RuntimeError:  # the loop has closed
                return

    def _probe(self) -> None:
        """Runs on the loop thread: the delay since the probe was posted is the lag."""
        delay = time.monotonic() - self._sent_at
        culprit, self._culprit = self._culprit, None
        self._sent_at = 0.0
        if delay <= self.threshold:
            return
        pid, callback = culprit if culprit is not None else (None, "unknown code")
        node = self.node
        _log.warning(
            "event loop of %s blocked for %.3fs by %s in %s",
            node.name,
            delay,
            repr(pid) if pid is not None else "code outside any process",
            callback,
            extra={"node": node.name, "pid": pid},
        )
        telemetry.execute(
            telemetry.LOOP_BLOCKED,
            {"delay": delay},
            {"node": node.name, "pid": pid, "callback": callback},
        )

    def _blocker(self) -> tuple[Pid | None, str] | None:
        """What the loop thread runs now: (the current process's pid, the innermost frame);
        None while the loop waits for I/O (it is idle: the lag came from elsewhere, such as
        a starved CPU, or the code that blocked has just returned)."""
        frame = sys._current_frames().get(self._loop_thread)  # noqa: SLF001 (documented)
        if frame is None or frame.f_globals.get("__name__") in _IDLE_MODULES:
            return None
        code = frame.f_code
        callback = f"{code.co_qualname} ({code.co_filename}:{frame.f_lineno})"
        return self._current_pid(frame), callback

    def _current_pid(self, frame: FrameType) -> Pid | None:
        return running_pid(self.node, frame)


def _poster() -> Callable[[Callable[[], Any]], Any]:
    """How another thread schedules a callback on the running loop (asyncio or trio)."""
    if current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    return asyncio.get_running_loop().call_soon_threadsafe
