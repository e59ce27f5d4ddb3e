"""Exit reasons, and the one table of what each reason does.

The table is in ``beamish.actors`` (exit reasons).
"""

from __future__ import annotations

from typing import Any, Final

Reason = Any

NORMAL: Final = "normal"
SHUTDOWN: Final = "shutdown"
KILL: Final = "kill"
KILLED: Final = "killed"
NOPROC: Final = "noproc"
NOCONNECTION: Final = "noconnection"

_QUIET: Final = frozenset({NORMAL, SHUTDOWN, KILLED, NOPROC, NOCONNECTION})


def is_normal(reason: Reason) -> bool:
    """True for ``"normal"``: linked non-trapping processes ignore it."""
    return isinstance(reason, str) and reason == NORMAL


def is_shutdown(reason: Reason) -> bool:
    """True for ``"shutdown"`` and ``("shutdown", term)``: an orderly stop.

    >>> is_shutdown(("shutdown", {"why": "deploy"}))
    True
    """
    if isinstance(reason, str):
        return reason == SHUTDOWN
    return type(reason) is tuple and len(reason) == 2 and reason[0] == SHUTDOWN


def is_abnormal(reason: Reason) -> bool:
    """True when a ``transient`` child exiting with ``reason`` is restarted."""
    return not (is_normal(reason) or is_shutdown(reason))


def is_logged(reason: Reason) -> bool:
    """True when the process that produced ``reason`` logs a crash report.

    >>> is_logged("killed"), is_logged(RuntimeError("boom")), is_logged("bad_state")
    (False, True, True)
    """
    if isinstance(reason, str):
        return reason not in _QUIET
    return not is_shutdown(reason)


def kills_non_trapping(reason: Reason) -> bool:
    """True when a link exit signal with ``reason`` kills a process that does not trap."""
    return not is_normal(reason)


def describe(reason: Reason) -> str:
    """A short human text for a reason (exceptions show as ``Type: message``).

    >>> describe(ValueError("bad"))
    'ValueError: bad'
    >>> describe(("shutdown", "bye"))
    "('shutdown', 'bye')"
    """
    if isinstance(reason, BaseException):
        text = str(reason)
        return f"{type(reason).__name__}: {text}" if text else type(reason).__name__
    return repr(reason) if not isinstance(reason, str) else reason
