"""Synchronous calls, casts and replies: the client half of ``gen_server``.

The public contract is on :func:`call`, :func:`cast`, :func:`reply` and :func:`stop`
(``help(beamish.call)``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._api import this_node
from ._checks import check_timeout
from ._context import current_process
from ._errors import CallCycle, CallTimeout, Exited, NoProc
from ._messages import CAST, Caller, CallRequest, Down
from ._names import Dest
from ._node import Node
from ._outcomes import CallExited, SlotEnd, TimedOut
from ._pid import Pid, Ref
from ._process import Process
from ._reasons import KILL, NOPROC, Reason, is_normal

DEFAULT_TIMEOUT = 5.0
"""Seconds a call, a start or a stop waits by default."""
SLOT_NOPROC = SlotEnd(CallExited(NOPROC))
_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__


class StopRequest(NamedTuple):
    """System message: stop the server with ``reason`` (sent by :func:`stop`)."""

    reason: Reason


def _check_cycle(node: Node, proc: Process, target: Pid) -> None:
    chain = [proc.pid]
    hop: Pid | None = target
    while hop is not None and len(chain) < 10_000:
        chain.append(hop)
        if hop == proc.pid:
            raise CallCycle(chain)
        hop_proc = node._proc(hop)
        hop = hop_proc.calling if hop_proc is not None else None


async def await_slot(
    node: Node,
    proc: Process,
    target: Pid | tuple[str, str],
    ref: Ref,
    timeout: float | None,
    message: Any,
) -> Any:
    """Register a call slot for ``ref``, watch ``target``, deliver ``message`` to it, and
    wait for a reply, the target's exit, or the timeout: the reply's value, or a
    ``SlotEnd`` (see ``_outcomes``)."""
    slot = node._backend.create_waiter()
    proc.open_call(ref, slot, timeout)
    target_proc = node._proc(target) if type(target) is Pid else None
    if target_proc is not None:
        target_proc.add_watcher(ref, proc.pid)
        if target_proc.alive and message is not None:
            target_proc._deliver(message)
    elif node.remote is not None and not (type(target) is Pid and node.is_local(target)):
        if message is not None:  # the callee's node watches the callee: one message out
            try:
                node.remote.call(proc.pid, ref, target, message)
            except BaseException:  # EncodeError, FrameError: the call never left
                if proc._calls:
                    proc._calls.pop(ref, None)
                raise
        else:
            node.remote.monitor(proc.pid, ref, target)
    else:
        if proc._calls:
            proc._calls.pop(ref, None)
        await node._backend.checkpoint()
        return SLOT_NOPROC
    proc.calling = target if type(target) is Pid else None
    try:
        return await slot
    finally:
        proc.calling = None
        if proc._calls:
            proc._calls.pop(ref, None)
        if target_proc is not None:
            if target_proc._monitored_by:
                target_proc._monitored_by.pop(ref, None)
        elif node.remote is not None and target is not None:
            node.remote.demonitor(ref, target)


async def call(dest: Dest, request: Any, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
    """Send ``request`` to the server at ``dest`` and wait for its reply (OTP's
    ``gen_server:call``).

    The server's ``handle_call(request, caller)`` answers. While the call waits, the caller
    monitors the callee, so a call never hangs: it returns the reply, or raises as soon as
    the callee exits, or when the timeout passes.

    - Replies go to a slot of their own, never to the caller's mailbox: a reply that comes
      after its call timed out is dropped by the runtime and counted
      (``telemetry.REPLY_DROP``), never received as a stray message.
    - A call to oneself, or one that closes a cycle of processes blocked in calls on each
      other, raises ``CallCycle`` at once instead of waiting for the timeout.
    - A crash in ``handle_call`` crashes the server (as in OTP, not as in pykka): the
      caller gets ``Exited`` with the exception as its reason.
    - Code outside any process may call (a test, a web request handler inside
      ``with node:``): the runtime lends it a process for the length of the call.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.
        request: any value; local calls pass it as is, remote ones copy it over the wire.
        timeout: seconds on the node clock (virtual under ``beamish.testing``); ``None``
            waits as long as the callee lives.

    Returns:
        What ``handle_call`` returned, or the value it gave to ``Reply`` or ``reply``.

    Raises:
        CallTimeout: no reply within ``timeout`` (a ``TimeoutError``). The callee goes on.
        Exited: the callee exited before it replied, or never existed (reason
            ``"noproc"``), or its node went down (``"noconnection"``); ``exc.reason`` says
            why.
        CallCycle: the call would wait on itself, directly or through other calls.
        TypeError: ``timeout`` is neither a number of seconds nor ``None`` (checked
            before anything is sent).
        NotInProcess: no node runs here.

    Example:
        >>> import beamish
        >>> class Doubler(beamish.Actor):
        ...     def handle_call(self, n, caller):
        ...         return 2 * n
        >>> async def main():
        ...     pid = await Doubler.start()
        ...     doubled = await beamish.call(pid, 21)
        ...     try:
        ...         await beamish.call(pid, None)  # 2 * None: handle_call raises, the server dies
        ...     except beamish.Exited as exc:
        ...         crash = type(exc.reason).__name__
        ...     try:
        ...         await beamish.call(pid, 1)
        ...     except beamish.Exited as exc:
        ...         return doubled, crash, exc.reason
        >>> beamish.run(main)
        (42, 'TypeError', 'noproc')
    """
    if timeout is not None and (type(timeout) is not float or timeout != timeout):
        check_timeout(timeout)
    proc = current_process.get(None)
    if proc is None:
        node = this_node()
        with node._anonymous() as anon:
            return await _call(node, anon, dest, request, timeout)
    node = proc._node
    if type(dest) is not Pid or dest[0] != node.name or dest[2] != node.creation:
        return await _call(node, proc, dest, request, timeout)
    target = node._table.get(dest[1])
    if target is None or not target.alive:
        return await _call(node, proc, dest, request, timeout)
    # The hot path: a live local pid. ``await_slot`` inlined, to keep one coroutine frame.
    if target is proc or target.calling is not None:
        _check_cycle(node, proc, dest)
    ref = _new_tuple(Ref, (node.name, node._ref_base + next(node._refs)))  # make_ref()
    slot = node._backend.create_waiter()
    calls = proc._calls  # proc.open_call(ref, slot, timeout), its common path inlined
    if calls is None or timeout is None or proc._pending_reason is not None:
        proc.open_call(ref, slot, timeout)
    else:
        deadline = node.clock.now() + timeout
        calls[ref] = (slot, deadline)
        if deadline < proc._call_timer_at:
            proc._arm_call_timer(deadline)
    watchers = target._monitored_by
    if watchers is None:
        watchers = target._monitored_by = {}
    watchers[ref] = proc.pid
    target._deliver(_new_tuple(CallRequest, (_new_tuple(Caller, (proc.pid, ref)), request)))
    proc.calling = dest
    try:
        result = await slot
    finally:
        proc.calling = None
        calls = proc._calls
        if calls:
            calls.pop(ref, None)
        watchers = target._monitored_by
        if watchers:
            watchers.pop(ref, None)
    if type(result) is SlotEnd:
        raise _failure(result.outcome, dest, timeout)
    return result


def _failure(outcome: CallExited | TimedOut, dest: Dest, timeout: float | None) -> Exception:
    if type(outcome) is CallExited:
        return Exited(outcome.reason, dest)
    return CallTimeout(f"call to {dest!r} got no reply within {timeout}s")


async def call_slot(
    node: Node, proc: Process, dest: Dest, request: Any, timeout: float | None
) -> Any:
    """A call from ``proc`` (any route: local, remote, by name): the reply's value, or a
    ``SlotEnd``."""
    target = node.resolve(dest)
    if target is None:
        await node._backend.checkpoint()
        return SLOT_NOPROC
    if type(target) is Pid:
        _check_cycle(node, proc, target)
    ref = node.make_ref()
    return await await_slot(
        node, proc, target, ref, timeout, CallRequest(Caller(proc.pid, ref), request)
    )


async def _call(node: Node, proc: Process, dest: Dest, request: Any, timeout: float | None) -> Any:
    result = await call_slot(node, proc, dest, request, timeout)
    if type(result) is SlotEnd:
        raise _failure(result.outcome, dest, timeout)
    return result


def cast(dest: Dest, request: Any) -> None:
    """Send ``request`` to the server at ``dest`` without waiting for anything (OTP's
    ``gen_server:cast``).

    The server handles it in ``handle_cast(request)``. A cast never blocks and never fails,
    as in OTP: a cast to a dead pid or to a name nobody registered is dropped. Casts and
    calls from one process reach a server in the order they were sent.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.
        request: any value.

    Raises:
        NotInProcess: no node runs here.

    Example:
        >>> import beamish
        >>> class Total(beamish.Actor):
        ...     def init(self):
        ...         self.total = 0
        ...     def handle_cast(self, amount):
        ...         self.total += amount
        ...     def handle_call(self, request, caller):
        ...         return self.total
        >>> async def main():
        ...     pid = await Total.start()
        ...     beamish.cast(pid, 2)
        ...     beamish.cast(pid, 3)
        ...     beamish.cast("nobody", 1)  # dropped, no error
        ...     return await beamish.call(pid, "total")
        >>> beamish.run(main)
        5
    """
    proc = current_process.get(None)
    if proc is not None:
        if proc._pending_reason is not None:
            return  # an exit signal has ended the sender (see send)
        node = proc._node
    else:
        node = this_node()
    message = (CAST, request)
    if type(dest) is Pid:
        target = node._table.get(dest[1])
        if target is not None and (target.pid is dest or target.pid == dest):
            # a live local pid (mostly the very object its start returned: no compare)
            if target.alive:
                mailbox = target._mailbox
                if mailbox is None or target._limit is not None:
                    target._deliver(message)
                    return
                mailbox.append(message)  # _deliver's unbounded path, inlined: casts are hot
                waiter = target._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        else:
            node.send(dest, message)  # never raises for a pid
        return
    try:
        node.send(dest, message)
    except NoProc:
        pass


def reply(caller: Caller, value: Any) -> None:
    """Answer a call whose ``handle_call`` returned ``NoReply()`` (OTP's
    ``gen_server:reply``).

    A server that cannot answer at once keeps the ``caller`` and replies later, from any
    callback, or from another process it hands the caller to. The caller is still waiting
    in :func:`call`; a reply after its timeout is dropped (``telemetry.REPLY_DROP``), and a
    second reply to the same caller is dropped too.

    Args:
        caller: the ``Caller`` that ``handle_call`` received.
        value: what the caller's :func:`call` returns.

    Example:
        >>> import beamish
        >>> class Later(beamish.Actor):
        ...     def handle_call(self, request, caller):
        ...         beamish.send(self.pid, ("answer", caller, request))
        ...         return beamish.NoReply()
        ...     def handle_info(self, message):
        ...         _, caller, request = message
        ...         beamish.reply(caller, request.upper())
        >>> async def main():
        ...     return await beamish.call(await Later.start(), "later")
        >>> beamish.run(main)
        'LATER'
    """
    this_node()._deliver_reply(caller.pid, caller.ref, value)


async def stop(dest: Dest, reason: Reason = "normal", timeout: float = DEFAULT_TIMEOUT) -> None:
    """Stop a process the OTP way and wait until it has exited (OTP's ``gen_server:stop``).

    A server (an ``Actor``) runs ``terminate(reason)`` and exits with ``reason``. A plain
    process gets an exit signal instead: ``reason``, or ``"shutdown"`` in place of
    ``"normal"`` (which a process that does not trap exits would ignore). If the process has
    not exited within ``timeout`` seconds, it is killed (reason ``"killed"``) and ``stop``
    raises. Works for a process on another node too.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.
        reason: the exit reason; ``"normal"`` and ``"shutdown"`` are not logged as crashes.
        timeout: seconds on the node clock to wait before the kill.

    Raises:
        NoProc: ``dest`` is not alive (a ``LookupError``).
        CallTimeout: it did not exit in time, and was killed.

    Example:
        >>> import beamish
        >>> class Polite(beamish.Actor):
        ...     def terminate(self, reason):
        ...         print("terminate", reason)
        >>> async def main():
        ...     pid = await Polite.start()
        ...     await beamish.stop(pid, "shutdown")
        ...     return beamish.is_alive(pid)
        >>> beamish.run(main)
        terminate shutdown
        False
    """
    check_timeout(timeout)
    node = this_node()
    target = node.resolve(dest)
    if target is not None and node.remote is not None and not _here(node, target):
        await _stop_remote(node, dest, target, reason, timeout)
        return
    target_proc = node._proc(target) if type(target) is Pid else None
    if target_proc is None or not target_proc.alive:
        raise NoProc(f"cannot stop {dest!r}: no such process")
    with node._anonymous() as me:
        ref = node._monitor(me, target_proc.pid)

        def is_down(message: Any) -> bool:
            return type(message) is Down and message.ref == ref

        if target_proc.server is not None:
            target_proc._deliver(StopRequest(reason))
        else:
            node.exit(me.pid, target_proc.pid, "shutdown" if is_normal(reason) else reason)
        try:
            await me.receive(is_down, timeout)
        except TimeoutError:
            node.exit(me.pid, target_proc.pid, KILL)
            await me.receive(is_down)
            raise CallTimeout(f"{dest!r} did not stop within {timeout}s and was killed") from None


def _here(node: Node, target: Any) -> bool:
    return node.is_local(target) if type(target) is Pid else bool(target[1] == node.name)


async def _stop_remote(node: Node, dest: Dest, target: Any, reason: Reason, timeout: float) -> None:
    """:func:`stop` for a server on another node: the same request, watched by a monitor."""
    with node._anonymous() as me:
        ref = node._monitor(me, target)

        def is_down(message: Any) -> bool:
            return type(message) is Down and message.ref == ref

        node.send(target, StopRequest(reason))
        try:
            down = await me.receive(is_down, timeout)
        except TimeoutError:
            if type(target) is Pid:
                node.exit(me.pid, target, KILL)
            elif node.remote is not None:  # a name there: its node kills whoever holds it
                node.remote.exit(me.pid, target, KILL, False)
            await me.receive(is_down)
            raise CallTimeout(f"{dest!r} did not stop within {timeout}s and was killed") from None
    if isinstance(down.reason, str) and down.reason == NOPROC:
        raise NoProc(f"cannot stop {dest!r}: no such process")
