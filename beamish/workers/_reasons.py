"""How a worker's death reads as an exit reason.

>>> worker_died(exit_cause(-9))
{'worker_died': 'SIGKILL'}
>>> worker_died(exit_cause(3)), is_worker_death({"worker_died": "max_memory"})
({'worker_died': 3}, True)

A worker process that ends turns into exit signals and ``Down`` messages for everything
linked to, or monitoring, its processes, with the reason ``{"worker_died": cause}``:
``cause`` is the exit code (an ``int``), the name of the signal that killed it
(``"SIGKILL"``, ``"SIGSEGV"``), or why the pool killed it: ``"max_memory"`` (over its
memory limit), ``"unresponsive"`` (its connection was lost while the process lived) or
``"start_timeout"`` (it never reported ready).
"""

from __future__ import annotations

import signal
from typing import Any

WORKER_DIED = "worker_died"


def worker_died(cause: int | str) -> dict[str, int | str]:
    """The exit reason of everything a dead worker took with it."""
    return {WORKER_DIED: cause}


def is_worker_death(reason: Any) -> bool:
    """True for a reason made by :func:`worker_died`."""
    return isinstance(reason, dict) and WORKER_DIED in reason


def exit_cause(returncode: int) -> int | str:
    """An OS process's return code as a cause: the exit code, or the signal's name."""
    if returncode >= 0:
        return returncode
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
