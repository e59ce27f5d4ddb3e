"""The generic server loop: it owns receive, replies, continues, idle timeouts, hibernation,
system messages, stopping and terminate.

>>> Reply(3).value, Stop("normal").reason, Timeout(5).seconds
(3, 'normal', 5.0)

The loop that runs every ``Actor`` and every behaviour built on it (supervisors, the worker
pool, channels, sessions, trackers): user callbacks only return results (the contract is on
``Actor``), and the loop does the rest:

    callbacks return                     the loop
    ----------------------------------   ---------------------------------------------------
    None                                 takes the next message
    Stop(reason[, reply=v])              replies (if asked), runs terminate, exits
    Continue(term)                       calls handle_continue(term) before any message
    Timeout(seconds)                     handle_info(Timeout(seconds)) if no message comes
    Hibernate()                          sheds the idle mailbox and young garbage
    (handle_call) value | Reply(v[, then=action])   replies v, then the action
    (handle_call) NoReply([then=action])            replies later: reply(caller, v)
                                         system messages (get_state, statistics, suspend,
                                         trace...) are answered here, never by callbacks
"""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import telemetry
from ._call import StopRequest
from ._checks import register_start_name
from ._context import current_process
from ._errors import NameTaken, SelfExit
from ._messages import CAST, CallRequest, CastRequest, Exit
from ._names import Via
from ._outcomes import StartAck, Started, StartFailed, StartIgnored
from ._pid import Pid, Ref
from ._reasons import NORMAL, Reason, is_normal
from ._system import SYSTEM, ServerRecord, answer_system, crash_report

if TYPE_CHECKING:
    from ._actor import Actor
    from ._process import Process

_log = logging.getLogger("beamish.actor")

SERVER_TRACE = telemetry.SERVER_TRACE


@dataclass(frozen=True, slots=True)
class Continue:
    """From any callback: call ``handle_continue(term)`` before the next message (OTP's
    ``{continue, Term}``).

    >>> Continue("load").term
    'load'
    """

    term: Any


@dataclass(frozen=True, slots=True)
class Timeout:
    """From any callback: if no message comes within ``seconds`` (node clock), call
    ``handle_info`` with this same value (OTP's ``{noreply, State, Timeout}``).

    Any call, cast or message cancels it; system messages do not.

    >>> Timeout(2) == Timeout(2.0)
    True
    """

    seconds: float

    def __post_init__(self) -> None:
        seconds = self.seconds
        if type(seconds) is bool or not isinstance(seconds, int | float):
            raise TypeError(f"Timeout takes seconds (a number), got {seconds!r}")
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError(f"Timeout takes finite seconds >= 0, got {seconds!r}")
        object.__setattr__(self, "seconds", float(seconds))


@dataclass(frozen=True, slots=True)
class Hibernate:
    """From any callback: shed memory until the next message (OTP's ``hibernate``).

    The empty mailbox's deque is released (a new one comes with the next message) and a
    young-generation ``gc.collect(0)`` frees what the process just dropped. Python has no
    per-process heap: the actor's own state and its task stay as they are, unlike the
    BEAM, which compacts the heap and drops the stack.
    """


Action = Continue | Timeout | Hibernate
_ACTIONS = (Continue, Timeout, Hibernate)


class Reply(NamedTuple):
    """From ``handle_call``: answer with ``value`` (a plain return value means the same),
    then do ``then`` (a ``Continue``, ``Timeout`` or ``Hibernate``), if given."""

    value: Any
    then: Action | None = None


class NoReply:
    """From ``handle_call``: answer later with ``reply(caller, value)``; then do ``then``."""

    __slots__ = ("then",)

    def __init__(self, then: Action | None = None) -> None:
        self.then = then

    def __repr__(self) -> str:
        return "NoReply()" if self.then is None else f"NoReply(then={self.then!r})"


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

    Kept as separate coroutines so that an idle server holds only the loop's frame.
    """
    proc = current_process.get()
    started = await _start(proc, cls, args, starter, ack_ref, parent, name)
    del args  # init's arguments are the actor's to keep, not the frame's
    if started is not None:
        await _loop(proc, started[0], cls, parent, started[1])


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
) -> tuple[Actor, Any] | None:
    """Build the actor and run ``init``; ack the starter. None: the process should end;
    else the actor and what ``init`` returned."""
    node = proc._node
    actor = cls()
    actor.pid = proc.pid
    actor._parent = parent
    actor._server = ServerRecord(parent, node.clock.now())
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
        exc.add_note(f"in {cls.__name__}.init{args!r:.300}")
        actor._server.report = crash_report(proc, actor, "init", None)
        _fail_start(proc, parent, starter, ack_ref, StartFailed(exc))
        raise
    if isinstance(result, Stop):
        actor._server.report = crash_report(proc, actor, "init", None)
        _fail_start(proc, parent, starter, ack_ref, StartFailed(result.reason))
        raise SelfExit(result.reason)
    if isinstance(result, Ignore) or result is Ignore:
        _fail_start(proc, parent, starter, ack_ref, StartIgnored())
        return None
    node._deliver_reply(starter, ack_ref, Started(proc.pid))
    return actor, result


async def _while_suspended(
    proc: Process, actor: Actor, server: ServerRecord, parent: Pid | None, system: Pid
) -> Any:
    """Answer only system messages until resumed: ``_MISSING`` then, or the reason of a
    stop (``stop()``, the parent's exit) that came meanwhile."""
    deliver_reply = proc._node._deliver_reply
    while server.suspended:
        message = await proc.receive(lambda m: _is_system(m, parent, system))
        if type(message) is not CallRequest:
            return message.reason
        caller = message.caller
        deliver_reply(caller.pid, caller.ref, answer_system(proc, actor, server, message.request))
    return _MISSING


def _is_system(message: Any, parent: Pid | None, system: Pid) -> bool:
    """What a suspended server still takes: system requests, stop, its parent's exit."""
    kind = type(message)
    if kind is CallRequest:
        request = message.request
        return type(request) is tuple and len(request) == 3 and request[0] == SYSTEM
    return kind is StopRequest or (kind is Exit and message.pid in (parent, system))


@functools.cache
def _callback_kinds(cls: Any) -> tuple[bool, bool, bool]:
    """Whether handle_call, handle_cast and handle_info are async (once per class)."""
    return (
        inspect.iscoroutinefunction(cls.handle_call),
        inspect.iscoroutinefunction(cls.handle_cast),
        inspect.iscoroutinefunction(cls.handle_info),
    )


_CALLBACK_OF = {CallRequest: "handle_call", CastRequest: "handle_cast", Timeout: "handle_info"}


async def _loop(
    proc: Process, actor: Actor, cls: type[Actor], parent: Pid | None, action: Any
) -> None:
    """Receive and dispatch until a callback stops the server or crashes it."""
    node = proc._node
    server: ServerRecord = actor._server
    server.callback = None
    handle_call = actor.handle_call
    handle_cast = actor.handle_cast
    handle_info = actor.handle_info
    call_is_async, cast_is_async, info_is_async = _callback_kinds(cls)  # type: ignore[arg-type]
    deliver_reply = node._deliver_reply
    system = node.system_pid  # the node itself, stopping everything on shutdown
    clock = node.clock

    receive = proc.receive
    receive_any = proc.receive_any  # receive() without match or timeout, in a smaller frame
    reason: Reason = NORMAL
    message: Any = None
    result: Any = None
    kind: Any = None
    tracing = hibernated = False
    idle: Timeout | None = None  # the armed idle timeout, and when it fires
    idle_at = 0.0
    plain = True  # not tracing, no idle timeout armed, not hibernated: a cast's short path
    try:
        while True:
            if action is not None:  # what the last callback asked for, before any message
                kind = Continue
                action, stop = await _continue(actor, server, action)
                if stop is not None:
                    reason = stop.reason
                    break
                if type(action) is Timeout:
                    idle = server.idle = action
                    idle_at = clock.now() + action.seconds
                elif type(action) is Hibernate:
                    hibernated = _hibernate(proc, server)
                action = None
                plain = not (tracing or idle is not None or hibernated)
            mailbox = proc._mailbox
            if mailbox and proc._drained & 63:  # receive()'s fast path
                proc._drained += 1
                message = mailbox.popleft()
            else:
                mailbox = None  # not held across the wait: an idle process keeps no deque
                if idle is not None:
                    try:
                        message = await receive(None, max(0.0, idle_at - clock.now()))
                    except TimeoutError:
                        message = idle
                else:
                    message = await receive_any()
            kind = type(message)
            if kind is tuple and message and message[0] is CAST:  # only cast() builds it
                server.casts += 1
                result = handle_cast(message[1])
                if cast_is_async:
                    server.callback = "handle_cast"
                    result = await result
                    server.callback = None
                if result is None and plain:
                    continue
                kind = CastRequest
            elif kind is CallRequest:
                caller = message.caller
                request = message.request
                if type(request) is tuple and len(request) == 3 and request[0] == SYSTEM:
                    deliver_reply(
                        caller.pid, caller.ref, answer_system(proc, actor, server, request)
                    )
                    if server.suspended:
                        stopped = await _while_suspended(proc, actor, server, parent, system)
                        if stopped is not _MISSING:
                            reason = stopped
                            break
                    tracing = server.tracing
                    plain = not (tracing or idle is not None or hibernated)
                    continue  # neither cancels nor restarts the idle timeout
                server.calls += 1
                result = handle_call(request, caller)
                if call_is_async:
                    server.callback = "handle_call"
                    result = await result
                    server.callback = None
                rtype = type(result)
                if rtype is NoReply or result is NoReply:
                    action = None if result is NoReply else result.then
                elif rtype is Reply:
                    deliver_reply(caller.pid, caller.ref, result.value)
                    action = result.then
                elif rtype is Stop:
                    if result.reply is not _MISSING:
                        deliver_reply(caller.pid, caller.ref, result.reply)
                    reason = result.reason
                    break
                elif rtype in _ACTIONS:
                    action = result
                else:
                    deliver_reply(caller.pid, caller.ref, result)
                if tracing:
                    _trace(proc, "call", message, result)
                if idle is not None:
                    idle = server.idle = None
                if hibernated:
                    hibernated = server.hibernated = False
                plain = not tracing
                continue
            elif kind is StopRequest or (
                kind is Exit and (message.pid == parent or message.pid == system)
            ):
                if kind is StopRequest or proc.trap_exits:
                    reason = message.reason
                    break
                server.infos += 1
                result = handle_info(message)
                if info_is_async:
                    server.callback = "handle_info"
                    result = await result
                    server.callback = None
            elif kind is CastRequest or (
                kind is tuple and len(message) == 2 and message[0] == CAST
            ):  # a cast from another node (the wire builds its own copy of the tag)
                server.casts += 1
                result = handle_cast(message[-1])
                if cast_is_async:
                    server.callback = "handle_cast"
                    result = await result
                    server.callback = None
                kind = CastRequest
            else:
                if message is idle:
                    server.timeouts += 1
                    kind = Timeout
                else:
                    server.infos += 1
                result = handle_info(message)
                if info_is_async:
                    server.callback = "handle_info"
                    result = await result
                    server.callback = None
            if tracing:
                _trace(proc, _TRACE_KIND.get(kind, "info"), message, result)
            if idle is not None:
                idle = server.idle = None
            if hibernated:
                hibernated = server.hibernated = False
            plain = not tracing
            if result is not None:
                rtype = type(result)
                if rtype is Stop:
                    reason = result.reason
                    break
                if rtype in _ACTIONS:
                    action = result
                elif rtype is NoReply:
                    action = result.then
    except Exception as exc:
        callback = "handle_continue" if kind is Continue else _CALLBACK_OF.get(kind, "handle_info")
        server.callback = None
        report = crash_report(proc, actor, callback, message)
        server.report = report
        exc.add_note(
            f"in {cls.__name__}.{callback}, last message: {report['last_message']}; "
            f"name: {report['name']!r}, parent: {report['parent']!r}"
        )
        final = await _run_terminate(actor, exc)
        if final is exc:
            raise
        raise final from exc
    server.callback = "terminate"
    final = await _run_terminate(actor, reason)
    server.callback = None
    if not is_normal(final):
        server.report = crash_report(proc, actor, "terminate", message)
    if isinstance(final, Exception):
        raise final
    if not is_normal(final):
        raise SelfExit(final)


_TRACE_KIND = {CastRequest: "cast", Timeout: "timeout", Continue: "continue"}


async def _continue(actor: Actor, server: ServerRecord, action: Any) -> tuple[Any, Stop | None]:
    """Run ``handle_continue`` while callbacks ask for it; the action left, or a Stop."""
    while type(action) is Continue:
        server.continues += 1
        server.callback = "handle_continue"
        result = actor.handle_continue(action.term)
        if inspect.isawaitable(result):
            result = await result
        server.callback = None
        if server.tracing:
            _trace_actor(actor, "continue", action, result)
        action = None
        if result is not None:
            rtype = type(result)
            if rtype is Stop:
                return None, result
            if rtype in _ACTIONS:
                action = result
            elif rtype is NoReply:
                action = result.then
    return action, None


def _hibernate(proc: Process, server: ServerRecord) -> bool:
    if not proc._mailbox:
        proc._mailbox = None
    server.hibernated = True
    gc.collect(0)
    return True


def _trace(proc: Process, kind: str, message: Any, result: Any) -> None:
    telemetry.execute(
        SERVER_TRACE,
        {"count": 1},
        {
            "node": proc._node.name,
            "pid": proc.pid,
            "name": proc.name,
            "kind": kind,
            "message": message,
            "result": result,
        },
    )


def _trace_actor(actor: Actor, kind: str, message: Any, result: Any) -> None:
    proc = current_process.get()
    _trace(proc, kind, message, result)
