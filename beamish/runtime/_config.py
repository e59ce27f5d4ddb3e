"""Node configuration as frozen, validated data.

>>> Config(name="app@host").name
'app@host'
>>> Config(shutdown_timeout=-1)
Traceback (most recent call last):
...
ValueError: shutdown_timeout must be >= 0, got -1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Config:
    """Settings for ``runtime.run`` / ``runtime.start``.

    - ``name``: the node name, ``name@host``.
    - ``virtual_time``: drive the node clock on virtual time (asyncio; trio follows its
      ``MockClock``): timers fire as soon as the loop is idle. For tests.
    - ``shutdown_timeout``: seconds a trapping process gets to stop on shutdown.
    - ``gc_threshold``: the cyclic GC's generation-0 threshold while the node runs
      (``gc.set_threshold``). ``"adaptive"`` (the default) raises it with the process
      table, to as many as the live processes (looked at every 1,024 spawns; at most
      100,000): each full collection walks every live process, and a young generation
      that grows with the table keeps those rare while many long-lived processes start
      (the interpreter's 700 makes spawning 100,000 processes spend most of its time in
      the GC, and a storm of 1,000 WebSocket connections, three processes each, a third
      of it). A number fixes it; ``None`` leaves the interpreter's setting alone.
      Restored on exit.
    - ``loop_lag_threshold``: seconds the event loop may go without running a callback
      before the node reports it (a handler that blocks, e.g. with ``time.sleep``): a
      warning naming the process and the code that blocked, and a
      ``telemetry.LOOP_BLOCKED`` event. None turns the watchdog off.
    """

    name: str = "nonode@nohost"
    virtual_time: bool = False
    shutdown_timeout: float = 5.0
    gc_threshold: int | Literal["adaptive"] | None = "adaptive"
    loop_lag_threshold: float | None = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if self.shutdown_timeout < 0:
            raise ValueError(f"shutdown_timeout must be >= 0, got {self.shutdown_timeout!r}")
        if self.gc_threshold not in (None, "adaptive") and not (
            type(self.gc_threshold) is int and self.gc_threshold >= 1
        ):
            raise ValueError(f"gc_threshold must be >= 1, got {self.gc_threshold!r}")
        if self.loop_lag_threshold is not None and not self.loop_lag_threshold > 0:
            raise ValueError(
                f"loop_lag_threshold must be > 0 or None, got {self.loop_lag_threshold!r}"
            )
