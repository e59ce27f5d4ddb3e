"""The generic server loop: it owns receive, replies, stopping and terminate.

>>> Reply(3).value, Stop("normal").reason
(3, 'normal')

The loop that runs every ``Actor``: user callbacks only return results, and the loop
receives, replies, stops and runs ``terminate`` (the contract is on ``Actor``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from ._call import StopRequest
from ._checks import register_start_name
from ._context import current_process
from ._errors import NameTaken, SelfExit
from ._messages import CallRequest, CastRequest, Exit
from ._names import Via
from ._outcomes import StartAck, Started, StartFailed, StartIgnored
from ._pid import Pid, Ref
from ._reasons import NORMAL, Reason, is_normal

if TYPE_CHECKING:
    from ._actor import Actor
    from ._process import Process

_log = logging.getLogger("beamish.actor")


class Reply(NamedTuple):
    """From ``handle_call``: answer with ``value`` (a plain return value means the same)."""

    value: Any


class NoReply:
    """From ``handle_call``: answer later with ``reply(caller, value)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NoReply()"


_MISSING: Any = object()


class Stop:
    """From any callback: stop the server with ``reason`` (after replying ``reply``)."""

    __slots__ = ("reason", "reply")

    def __init__(self, reason: Reason = NORMAL, reply: Any = _MISSING) -> None:
        self.reason = reason
        self.reply = reply

    def __repr__(self) -> str:
        return f"Stop({self.reason!r})"


class Ignore:
    """From ``init``: start nothing (``start`` raises ``StartError("ignore")``)."""

    __slots__ = ()


@functools.cache
def _callback_kinds(cls: Any) -> tuple[bool, bool, bool]:
    """Whether handle_call, handle_cast and handle_info are async (once per class)."""
    return (
        inspect.iscoroutinefunction(cls.handle_call),
        inspect.iscoroutinefunction(cls.handle_cast),
        inspect.iscoroutinefunction(cls.handle_info),
    )


async def _run_terminate(actor: Actor, reason: Reason) -> Reason:
    """Run ``terminate``; the exit reason it leaves (its own exception if it raised, as in
    OTP, where a crash in ``terminate`` becomes the exit reason)."""
    try:
        result = actor.terminate(reason)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        exc.add_note(f"in {type(actor).__name__}.terminate({reason!r:.200})")
        return exc
    return reason


async def serve(
    cls: type[Actor],
    args: tuple[Any, ...],
    starter: Pid,
    ack_ref: Ref,
    parent: Pid | None,
    name: str | Via | None,
) -> None:
    """The body of every ``Actor`` process: the start handshake, then the loop.

    Kept as three coroutines so that an idle server holds only the loop's frame.
    """
    proc = current_process.get()
    actor = await _start(proc, cls, args, starter, ack_ref, parent, name)
    if actor is not None:
        await _loop(proc, actor, cls, parent)


def _fail_start(
    proc: Process, parent: Pid | None, starter: Pid, ack_ref: Ref, ack: StartAck
) -> None:
    if parent is not None:
        proc._node._unlink(proc, parent)
    proc._node._deliver_reply(starter, ack_ref, ack)


async def _start(
    proc: Process,
    cls: type[Actor],
    args: tuple[Any, ...],
    starter: Pid,
    ack_ref: Ref,
    parent: Pid | None,
    name: str | Via | None,
) -> Actor | None:
    """Build the actor and run ``init``; ack the starter. None: the process should end."""
    node = proc._node
    actor = cls()
    actor.pid = proc.pid
    actor._parent = parent
    proc.server = actor
    try:
        if name is not None:
            register_start_name(node, name, proc.pid)
        result = actor.init(*args)
        if inspect.isawaitable(result):
            result = await result
    except NameTaken as exc:
        _fail_start(proc, parent, starter, ack_ref, StartFailed(exc))
        return None
    except Exception as exc:
        exc.add_note(f"in {cls.__name__}.init{args!r}")
        _fail_start(proc, parent, starter, ack_ref, StartFailed(exc))
        raise
    if isinstance(result, Stop):
        _fail_start(proc, parent, starter, ack_ref, StartFailed(result.reason))
        raise SelfExit(result.reason)
    if isinstance(result, Ignore) or result is Ignore:
        _fail_start(proc, parent, starter, ack_ref, StartIgnored())
        return None
    node._deliver_reply(starter, ack_ref, Started(proc.pid))
    return actor


async def _loop(proc: Process, actor: Actor, cls: type[Actor], parent: Pid | None) -> None:
    """Receive and dispatch until a callback stops the server or crashes it."""
    node = proc._node
    handle_call = actor.handle_call
    handle_cast = actor.handle_cast
    handle_info = actor.handle_info
    call_is_async, cast_is_async, info_is_async = _callback_kinds(cls)  # type: ignore[arg-type]
    deliver_reply = node._deliver_reply
    system = node.system_pid  # the node itself, stopping everything on shutdown

    receive = proc.receive
    reason: Reason = NORMAL
    message: Any = None
    while True:
        mailbox = proc._mailbox
        if mailbox and proc._drained & 63:  # the fast path of receive(), inlined
            proc._drained += 1
            message = mailbox.popleft()
        else:
            message = await receive()
        kind = type(message)
        try:
            if kind is CallRequest:
                caller = message.caller
                result = handle_call(message.request, caller)
                if call_is_async:
                    result = await result
                rtype = type(result)
                if rtype is NoReply or result is NoReply:
                    continue
                if rtype is Reply:
                    deliver_reply(caller.pid, caller.ref, result.value)
                elif rtype is Stop:
                    if result.reply is not _MISSING:
                        deliver_reply(caller.pid, caller.ref, result.reply)
                    reason = result.reason
                    break
                else:
                    deliver_reply(caller.pid, caller.ref, result)
                continue
            if kind is CastRequest:
                result = handle_cast(message.request)
                if cast_is_async:
                    result = await result
            elif kind is StopRequest or (
                kind is Exit
                and (message.pid == parent or message.pid == system)
                and proc.trap_exits
            ):
                reason = message.reason
                break
            else:
                result = handle_info(message)
                if info_is_async:
                    result = await result
            if type(result) is Stop:
                reason = result.reason
                break
        except Exception as exc:
            callback = {CallRequest: "handle_call", CastRequest: "handle_cast"}.get(
                kind, "handle_info"
            )
            exc.add_note(f"in {cls.__name__}.{callback}, last message: {message!r:.300}")
            final = await _run_terminate(actor, exc)
            if final is exc:
                raise
            raise final from exc
    final = await _run_terminate(actor, reason)
    if isinstance(final, Exception):
        raise final
    if not is_normal(final):
        raise SelfExit(final)
