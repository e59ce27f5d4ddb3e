"""The messages the runtime itself delivers to mailboxes.

>>> Down(Ref("n@h", 1), Pid("n@h", 2, 0), "normal").reason
'normal'
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._pid import Pid, Ref


class Down(NamedTuple):
    """A monitored process exited (delivered exactly once per ``monitor``)."""

    ref: Ref
    pid: Pid
    reason: Any


class Exit(NamedTuple):
    """A linked process exited, or ``exit(pid, reason)`` was sent, to a trapping process."""

    pid: Pid
    reason: Any


class Caller(NamedTuple):
    """Who to answer: passed to ``Actor.handle_call`` and to ``reply``."""

    pid: Pid
    ref: Ref


class CallRequest(NamedTuple):
    """A call waiting in a server's mailbox (``gen_call``)."""

    caller: Caller
    request: Any


CAST = "".join(("$gen", "_cast"))
"""Tags a cast: ``cast`` puts the plain tuple ``(CAST, request)`` in the mailbox (Erlang's
``{'$gen_cast', Msg}``). A plain tuple, not a record type: the cyclic GC untracks it once
it holds only untracked values, where a tuple subclass stays tracked forever and a full
mailbox of them drives ever longer collections. Built at run time, so no string literal
in user code is this very object: the loop knows a local cast by identity alone."""


class CastRequest(NamedTuple):
    """A cast from a node that still sends the record form; the loop takes it as a cast."""

    request: Any
