"""Functions that act on the current process, Erlang style (``self()`` is implicit).

>>> import beamish
>>> async def main():
...     async def echo():
...         sender, text = await beamish.receive()
...         beamish.send(sender, text.upper())
...     pid = beamish.spawn(echo)
...     beamish.send(pid, (beamish.self(), "hi"))
...     return await beamish.receive()
>>> beamish.run(main)
'HI'

Each function finds the node through the current process; code outside any process (an
ASGI handler, a test body inside ``runtime.start``) reaches the node it runs under, and
functions that need a process of their own (``link``, ``trap_exits``) raise
``NotInProcess`` there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ._context import current_node, current_process
from ._errors import NotInProcess, SelfExit
from ._mailbox import Match, Overflow
from ._names import Dest
from ._node import Node
from ._pid import Pid, Ref
from ._process import Process, ProcessInfo
from ._reasons import KILL, KILLED, NORMAL, Reason, is_normal

AsyncFn = Callable[..., Coroutine[Any, Any, Any]]


def this_node() -> Node:
    """The node the calling code runs on.

    >>> this_node()
    Traceback (most recent call last):
    ...
    beamish.actors.NotInProcess: no beamish node runs here; use beamish.run or runtime.start
    """
    proc = current_process.get(None)
    if proc is not None:
        return proc._node
    node = current_node.get(None)
    if node is None:
        raise NotInProcess("no beamish node runs here; use beamish.run or runtime.start")
    return node


def current() -> Process:
    proc = current_process.get(None)
    if proc is None:
        raise NotInProcess("this needs to run inside a beamish process")
    return proc


def self() -> Pid:
    """The pid of the calling process (Erlang's ``self()``)."""
    proc = current_process.get(None)
    if proc is None:
        raise NotInProcess("self() needs to run inside a beamish process")
    return proc.pid


def _check_spawnable(fn: Any) -> None:
    if fn is receive:  # it returns a wait on the *caller's* mailbox, not a new process's
        raise TypeError(
            "spawn(receive) would wait on the spawner's mailbox: wrap it in an async def"
        )


def spawn(
    fn: AsyncFn, *args: Any, mailbox_limit: int | None = None, overflow: Overflow = "drop_newest"
) -> Pid:
    """Start ``fn(*args)`` as a new process and return its pid at once.

    ``mailbox_limit`` bounds the mailbox; ``overflow`` says what a full mailbox does
    (``"drop_newest"``, ``"drop_oldest"`` or ``"exit"``).
    """
    _check_spawnable(fn)
    proc = current_process.get(None)
    node = proc._node if proc is not None else this_node()
    return node.spawn(
        fn,
        args,
        mailbox_limit=mailbox_limit,
        overflow=overflow,
        parent=proc.pid if proc is not None else None,
    )


def spawn_link(
    fn: AsyncFn, *args: Any, mailbox_limit: int | None = None, overflow: Overflow = "drop_newest"
) -> Pid:
    """Like :func:`spawn`, linked to the calling process before the new one runs."""
    _check_spawnable(fn)
    proc = current()
    return proc._node.spawn(
        fn, args, link=proc, mailbox_limit=mailbox_limit, overflow=overflow, parent=proc.pid
    )


def spawn_monitor(
    fn: AsyncFn, *args: Any, mailbox_limit: int | None = None, overflow: Overflow = "drop_newest"
) -> tuple[Pid, Ref]:
    """Like :func:`spawn`, monitored by the calling process: returns ``(pid, ref)``."""
    _check_spawnable(fn)
    proc = current()
    node = proc._node
    pid = node.spawn(fn, args, mailbox_limit=mailbox_limit, overflow=overflow, parent=proc.pid)
    return pid, node.monitor(proc, pid)


def send(dest: Dest, message: Any) -> None:
    """Send ``message`` to a pid, a registered name, ``(name, node)`` or a via name.

    Never blocks. A message to a dead pid is dropped (as in Erlang); a name that nobody
    registered raises ``NoProc``. A process that an exit signal has ended (``is_alive``
    is False) sends nothing, even from code that catches the cancellation.
    """
    proc = current_process.get(None)
    if proc is not None:
        if proc._pending_reason is not None:
            return  # an exit signal has ended the sender: a dead process sends nothing
        node = proc._node
    else:
        node = this_node()
    if type(dest) is Pid and dest[0] == node.name and dest[2] == node.creation:
        target = node._table.get(dest[1])  # Node.send's local fast path, inlined
        if target is not None and target.alive:
            target._deliver(message)
        return
    node.send(dest, message)


def receive(match: Match | None = None, timeout: float | None = None) -> Awaitable[Any]:
    """Take the oldest message (or the oldest one ``match`` accepts) from the mailbox.

    Messages ``match`` rejects stay in place, in order. Raises ``TimeoutError`` when
    ``timeout`` seconds pass on the node clock first. While messages are waiting this
    returns without yielding, except once every 64 messages (a checkpoint).

    One task per process waits here: a second task of the same process that would wait
    gets ``RuntimeError``. To wait on the mailbox and on something else (a socket), let a
    helper task of the process forward the other events with ``send(self(), event)``.
    """
    proc = current_process.get(None)
    if proc is None:
        raise NotInProcess("receive() needs to run inside a beamish process")
    return proc.receive(match, timeout)


def receive_nowait(match: Match | None = None) -> Any:
    """Like :func:`receive` but raises ``WouldBlock`` instead of waiting."""
    return current().receive_nowait(match)


def link(pid: Pid) -> None:
    """Link the calling process with ``pid`` (both ways). A dead pid sends us ``noproc``."""
    proc = current()
    proc._node.link(proc, pid)


def unlink(pid: Pid) -> None:
    """Remove a link; no exit signal from ``pid`` arrives after this returns."""
    proc = current()
    proc._node.unlink(proc, pid)


def monitor(dest: Dest) -> Ref:
    """Monitor ``dest``: one ``Down(ref, pid, reason)`` will arrive when it exits
    (at once, with ``"noproc"``, if it is not alive)."""
    proc = current()
    return proc._node.monitor(proc, dest)


def demonitor(ref: Ref, flush: bool = False) -> bool:
    """Stop monitoring; ``flush`` also removes a ``Down`` already in the mailbox."""
    proc = current()
    return proc._node.demonitor(proc, ref, flush)


def exit(dest: Dest, reason: Reason) -> None:
    """Send an exit signal to ``dest`` (Erlang's ``exit/2``).

    ``"kill"`` cannot be trapped (the target exits ``"killed"``); a trapping target gets
    ``Exit(sender, reason)``; ``"normal"`` is ignored by a non-trapping target, unless the
    target is the caller itself, which then exits ``"normal"``.
    """
    proc = current_process.get(None)
    node = proc._node if proc is not None else this_node()
    if proc is not None:
        target = node.resolve(dest)
        if target == proc.pid:
            if isinstance(reason, str) and reason == KILL:
                raise SelfExit(KILLED)
            if not proc.trap_exits:
                raise SelfExit(NORMAL if is_normal(reason) else reason)
    node.exit(proc.pid if proc is not None else node.system_pid, dest, reason)


def trap_exits(flag: bool = True) -> bool:
    """Turn exit signals into ``Exit`` messages (True) or back; returns the old setting."""
    proc = current()
    old = proc.trap_exits
    proc.trap_exits = flag
    return old


def register(name: str, pid: Pid | None = None) -> None:
    """Register ``name`` for ``pid`` (default: the caller) on the local node."""
    if pid is None:
        pid = self()
    this_node().register(name, pid)


def unregister(name: str) -> bool:
    """Remove a local name; False if it was not registered."""
    return this_node().unregister(name)


def whereis(name: str) -> Pid | None:
    """The pid registered as ``name`` on the local node, or None."""
    proc = current_process.get(None)
    return (proc._node if proc is not None else this_node())._names.get(name)


def send_after(dest: Dest, message: Any, seconds: float) -> Ref:
    """Deliver ``message`` to ``dest`` after ``seconds`` on the node clock."""
    return this_node().send_after(dest, message, seconds)


def cancel_timer(ref: Ref) -> float | None:
    """Cancel a :func:`send_after` timer: seconds it had left, None if already fired."""
    return this_node().cancel_timer(ref)


async def sleep(seconds: float) -> None:
    """Sleep on the node clock (virtual under ``beamish.testing``)."""
    await this_node().sleep(seconds)


def make_ref() -> Ref:
    """A new unique reference."""
    return this_node().make_ref()


def process_info(pid: Pid) -> ProcessInfo | None:
    """A snapshot of a local process (None if it is not alive)."""
    return this_node().process_info(pid)


def is_alive(pid: Pid) -> bool:
    """True while the local process ``pid`` has not started exiting."""
    return this_node().is_alive(pid)
