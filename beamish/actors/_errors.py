"""The kernel's errors: a small, flat set.

>>> issubclass(CallTimeout, TimeoutError), issubclass(NoProc, LookupError)
(True, True)
"""

from __future__ import annotations

from typing import Any


class Exited(Exception):
    """A call's callee exited (or never existed) before it replied.

    ``reason`` is the callee's exit reason: ``"noproc"`` when there was no such process,
    ``"noconnection"`` when its node went away, the exception when it crashed.
    Differs from :class:`CallTimeout`: the callee is known to be gone.
    """

    def __init__(self, reason: Any, dest: Any = None) -> None:
        super().__init__(reason, dest)
        self.reason = reason
        self.dest = dest

    def __str__(self) -> str:
        from ._reasons import describe

        return f"{self.dest!r} exited: {describe(self.reason)}"


class CallTimeout(TimeoutError):
    """A call got no reply within its timeout; the callee may still be alive.

    A reply that arrives later is dropped by the runtime (and counted in telemetry).
    """


class CallCycle(RuntimeError):
    """A call to oneself, or a call that closes a cycle of blocked calls (a sure deadlock).

    ``chain`` lists the pids in the cycle, starting with the caller.
    """

    def __init__(self, chain: list[Any]) -> None:
        super().__init__(" -> ".join(map(repr, chain)))
        self.chain = chain

    def __str__(self) -> str:
        return "call would deadlock: " + " -> ".join(map(repr, self.chain))


class NoProc(LookupError):
    """A name or destination that resolves to no process (sending to an unknown name).

    Sending to a pid that has died is not an error: the message is dropped, as in Erlang.
    """


class NameTaken(ValueError):
    """``register`` with a name already in use, or for a process that already has a name."""


class MailboxFull(Exception):
    """Exit reason of a process whose bounded mailbox overflowed under the ``"exit"`` policy."""


class WouldBlock(Exception):
    """``receive_nowait`` found no matching message."""


class NotInProcess(RuntimeError):
    """A function that acts on the current process was called outside any process."""


class StartError(Exception):
    """``Actor.start``/``start_link`` failed: ``init`` raised, returned ``Stop``, or ``Ignore``.

    ``reason`` is the exception or the stop reason; ``"ignore"`` when ``init`` returned
    ``Ignore`` (supervisors treat that one as "nothing to start").
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        from ._reasons import describe

        return f"init failed: {describe(self.reason)}"


class SelfExit(BaseException):
    """Unwinds the current process when it exits itself (``exit(self(), reason)``).

    A ``BaseException``, like cancellation, so user ``except Exception`` blocks let it pass.
    Only code that runs a process body itself (a borrowed process, see
    ``lowlevel.borrow_process``) catches it, and ends the process with ``reason``.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason
