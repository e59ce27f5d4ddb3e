"""Synchronous calls, casts and replies (the client half of ``gen_server``).

>>> import beamish
>>> class Doubler(beamish.Actor):
...     def handle_call(self, n, caller):
...         return 2 * n
>>> async def main():
...     pid = await Doubler.start()
...     return await beamish.call(pid, 21)
>>> beamish.run(main)
42

Semantics
---------
- ``call`` monitors the callee for the length of the call: it returns the reply, raises
  ``CallTimeout`` after ``timeout`` seconds (node clock), or ``Exited(reason)`` as soon as
  the callee exits or if it never existed (``"noproc"``).
- Replies go to a per-call slot, not to the mailbox: a reply that comes after its call
  timed out is dropped by the runtime and counted (``telemetry.REPLY_DROP``).
- A call to oneself, or one that closes a cycle of processes blocked in calls on each
  other, raises ``CallCycle`` at once instead of waiting for the timeout.
- ``cast`` never blocks and never fails (as in OTP, even for an unknown name).
- Code outside any process may call: the runtime lends it a task-less process.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._api import this_node
from ._context import current_process
from ._errors import CallCycle, CallTimeout, Exited, NoProc
from ._messages import Caller, CallRequest, CastRequest, Down
from ._names import Dest
from ._node import Node
from ._pid import Pid, Ref
from ._process import Process
from ._reasons import KILL, NOPROC, Reason, is_normal

DEFAULT_TIMEOUT = 5.0
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
) -> tuple[str, Any]:
    """Register a call slot for ``ref``, watch ``target``, deliver ``message`` to it, and
    wait for a reply, the target's exit, or the timeout: ``(kind, value)``."""
    slot = node._backend.create_waiter()
    proc.open_call(ref, slot, timeout)
    target_proc = node._proc(target) if type(target) is Pid else None
    if target_proc is not None:
        target_proc.add_watcher(ref, proc.pid)
        if target_proc.alive and message is not None:
            target_proc._deliver(message)
    elif node.remote is not None and not (type(target) is Pid and node.is_local(target)):
        node.remote.monitor(proc.pid, ref, target)
        if message is not None:
            node.remote.send(target, message)
    else:
        if proc._calls:
            proc._calls.pop(ref, None)
        await node._backend.checkpoint()
        return ("down", NOPROC)
    proc.calling = target if type(target) is Pid else None
    try:
        return await slot  # type: ignore[no-any-return]
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
    """Send ``request`` to the server at ``dest`` and wait for its reply.

    Raises ``CallTimeout`` (a ``TimeoutError``), ``Exited(reason)``, or ``CallCycle``.
    """
    proc = current_process.get(None)
    if proc is None:
        node = this_node()
        with node.anonymous() as anon:
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
    ref = node.make_ref()
    slot = node._backend.create_waiter()
    proc.open_call(ref, slot, timeout)
    watchers = target._monitored_by
    if watchers is None:
        watchers = target._monitored_by = {}
    watchers[ref] = proc.pid
    target._deliver(_new_tuple(CallRequest, (_new_tuple(Caller, (proc.pid, ref)), request)))
    proc.calling = dest
    try:
        kind, value = await slot
    finally:
        proc.calling = None
        calls = proc._calls
        if calls:
            calls.pop(ref, None)
        watchers = target._monitored_by
        if watchers:
            watchers.pop(ref, None)
    if kind == "reply":
        return value
    if kind == "down":
        raise Exited(value, dest)
    raise CallTimeout(f"call to {dest!r} got no reply within {timeout}s")


async def _call(node: Node, proc: Process, dest: Dest, request: Any, timeout: float | None) -> Any:
    target = node.resolve(dest)
    if target is None:
        await node._backend.checkpoint()
        raise Exited(NOPROC, dest)
    if type(target) is Pid:
        _check_cycle(node, proc, target)
    ref = node.make_ref()
    kind, value = await await_slot(
        node, proc, target, ref, timeout, CallRequest(Caller(proc.pid, ref), request)
    )
    if kind == "reply":
        return value
    if kind == "down":
        raise Exited(value, dest)
    raise CallTimeout(f"call to {dest!r} got no reply within {timeout}s")


def cast(dest: Dest, request: Any) -> None:
    """Send ``request`` to the server at ``dest`` without waiting (``handle_cast``)."""
    proc = current_process.get(None)
    if proc is not None:
        if proc._pending_reason is not None:
            return  # an exit signal has ended the sender (see send)
        node = proc._node
    else:
        node = this_node()
    message = _new_tuple(CastRequest, (request,))
    if type(dest) is Pid:
        if dest[0] == node.name and dest[2] == node.creation:
            target = node._table.get(dest[1])
            if target is not None and target.alive:
                target._deliver(message)
        else:
            node.send(dest, message)  # never raises for a pid
        return
    try:
        node.send(dest, message)
    except NoProc:
        pass


def reply(caller: Caller, value: Any) -> None:
    """Answer a call later, after ``handle_call`` returned ``NoReply()``."""
    this_node()._deliver_reply(caller.pid, caller.ref, value)


async def stop(dest: Dest, reason: Reason = "normal", timeout: float = DEFAULT_TIMEOUT) -> None:
    """Stop a process the OTP way and wait until it has exited.

    A server runs ``terminate(reason)`` and exits with ``reason``; a plain process gets an
    exit signal (``"shutdown"`` in place of ``"normal"``). If it has not exited within
    ``timeout`` seconds it is killed and ``CallTimeout`` is raised. ``NoProc`` if ``dest``
    is not alive.
    """
    node = this_node()
    target = node.resolve(dest)
    if target is not None and node.remote is not None and not _here(node, target):
        await _stop_remote(node, dest, target, reason, timeout)
        return
    target_proc = node._proc(target) if type(target) is Pid else None
    if target_proc is None or not target_proc.alive:
        raise NoProc(f"cannot stop {dest!r}: no such process")
    with node.anonymous() as me:
        ref = node.monitor(me, target_proc.pid)

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
    with node.anonymous() as me:
        ref = node.monitor(me, target)

        def is_down(message: Any) -> bool:
            return type(message) is Down and message.ref == ref

        node.send(target, StopRequest(reason))
        try:
            down = await me.receive(is_down, timeout)
        except TimeoutError:
            node.exit(me.pid, target, KILL)
            await me.receive(is_down)
            raise CallTimeout(f"{dest!r} did not stop within {timeout}s and was killed") from None
    if isinstance(down.reason, str) and down.reason == NOPROC:
        raise NoProc(f"cannot stop {dest!r}: no such process")
