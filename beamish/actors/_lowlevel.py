"""The kernel's low-level API: what distribution, pools, the runtime and the test kit need.

The public contract is on each function (``help(beamish.actors.lowlevel)``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

import anyio

from ._api import current, this_node
from ._call import DEFAULT_TIMEOUT, call_slot
from ._checks import check_timeout
from ._context import current_node as _current_node
from ._context import current_process
from ._names import Dest
from ._node import Node
from ._outcomes import (
    CallExited,
    CallOutcome,
    Replied,
    SlotEnd,
    StartAck,
    TimedOut,
)
from ._pid import Pid, Ref
from ._process import Process
from ._reasons import Reason

if TYPE_CHECKING:
    from ._actor import Actor


# -- signals, watches and links from outside a process --


def deliver_exit(node: Node, pid: Pid, sender: Pid, reason: Reason, *, link: bool = False) -> bool:
    """Deliver an exit signal from ``sender`` (a pid on any node) to the local ``pid``.

    It is handled exactly as a local one: ``"kill"`` kills, a trapping process gets
    ``Exit(sender, reason)``, ``"normal"`` is ignored, any other reason ends it. With
    ``link=True`` it is the exit of a linked process: it is delivered only if ``pid`` holds
    a link to ``sender``, and that link is dropped first.

    Returns:
        False if nothing was delivered: ``pid`` is not a process of ``node``, or (``link``)
        it was not linked to ``sender``.

    Example:
        >>> import beamish
        >>> from beamish.actors import lowlevel
        >>> async def main():
        ...     pid, ref = beamish.spawn_monitor(beamish.sleep, 60)
        ...     outsider = beamish.Pid("far@away", 7, 1)
        ...     lowlevel.deliver_exit(beamish.this_node(), pid, outsider, "boom")
        ...     return (await beamish.receive()).reason
        >>> beamish.run(main)
        'boom'
    """
    proc = node._proc(pid)
    if proc is None or (link and not proc.remove_link(sender)):
        return False
    node._exit_signal(proc, sender, reason, link)
    return True


def deliver_down(node: Node, watcher: Pid, ref: Ref, pid: Any, reason: Reason) -> None:
    """End the watch ``ref`` of ``watcher`` on ``pid`` with ``reason``.

    A call of ``watcher`` waiting on ``ref`` ends with :class:`CallExited`; a monitor
    ``ref`` that ``watcher`` holds delivers ``Down(ref, pid, reason)``; anything else (a
    demonitored ref, a dead watcher) is ignored. A ``watcher`` on another node is handed to
    the node's remote hook.
    """
    node._deliver_down(watcher, ref, pid, reason)


def deliver_reply(node: Node, pid: Pid, ref: Ref, value: Any) -> None:
    """Answer the call ``ref`` that ``pid`` waits on (``reply`` with an explicit node).

    A reply nobody waits for (the call timed out, the ref is unknown) is dropped and
    counted (``telemetry.REPLY_DROP``); a ``pid`` on another node goes through the remote
    hook.
    """
    node._deliver_reply(pid, ref, value)


def watch(node: Node, pid: Pid, ref: Ref, watcher: Pid) -> bool:
    """Record that ``watcher`` (a pid on any node) monitors the local ``pid`` under ``ref``.

    When ``pid`` exits, the node runs ``deliver_down(node, watcher, ref, pid, reason)``
    (for a remote ``watcher``: the remote hook's ``down``). Distribution uses it for the
    monitors and calls that peers make.

    Returns:
        False if ``pid`` is not a process of ``node`` (answer ``"noproc"`` yourself).
    """
    proc = node._proc(pid)
    if proc is None:
        return False
    proc.add_watcher(ref, watcher)
    return True


def unwatch(node: Node, pid: Pid, ref: Ref) -> bool:
    """Forget the watch ``ref`` on the local ``pid``; True if it was there."""
    proc = node._proc(pid)
    watchers = proc._monitored_by if proc is not None else None
    return watchers is not None and watchers.pop(ref, None) is not None


def is_watched(node: Node, pid: Pid, ref: Ref) -> bool:
    """Whether the local ``pid`` is watched under ``ref``.

    A call monitors its callee under the call's ref until it ends, so
    ``is_watched(node, server, caller.ref)`` says whether that caller still waits.
    """
    proc = node._proc(pid)
    watchers = proc._monitored_by if proc is not None else None
    return watchers is not None and ref in watchers


def add_link(node: Node, pid: Pid, other: Pid) -> bool:
    """Record the local half of a link between ``pid`` and ``other`` (another node's
    process, whose half the caller keeps).

    Returns:
        False if ``pid`` is not a live process of ``node``.
    """
    proc = node._proc(pid)
    if proc is None or not proc.alive:
        return False
    proc.add_link(other)
    return True


def remove_link(node: Node, pid: Pid, other: Pid) -> bool:
    """Drop the local half of the link between ``pid`` and ``other``; True if it was
    there."""
    proc = node._proc(pid)
    return proc is not None and proc.remove_link(other)


def actor_of(node: Node, pid: Pid) -> Actor | None:
    """The ``Actor`` instance the local process ``pid`` runs, or None (not a process of
    ``node``, or not an actor).

    For reads of a server's state on the caller's side, as Elixir reads a server's ETS
    table: the reader must treat it as read-only and expect it to change between awaits.
    """
    proc = node._proc(pid)
    return proc.server if proc is not None else None


def mailbox_messages(node: Node, pid: Pid) -> tuple[Any, ...]:
    """The messages waiting in the mailbox of the local ``pid``, oldest first (Erlang's
    ``process_info(Pid, messages)``); empty if it is not a process of ``node``."""
    proc = node._proc(pid)
    return tuple(proc._mailbox or ()) if proc is not None else ()


# -- calls with typed outcomes --


def _outcome(result: Any) -> CallOutcome:
    if type(result) is SlotEnd:
        return result.outcome
    return Replied(result)


async def call_outcome(
    dest: Dest, request: Any, timeout: float | None = DEFAULT_TIMEOUT
) -> CallOutcome:
    """:func:`beamish.call` that returns how the call ended instead of raising.

    The same routing, monitor, cycle check and drop of late replies; outside any process
    it borrows one, as ``call`` does.

    Returns:
        ``Replied(value)``, ``CallExited(reason)`` (``"noproc"``: there was nobody), or
        ``TimedOut()``.

    Raises:
        CallCycle: the call would wait on itself.
        NotInProcess: no node runs here.

    Example:
        >>> import beamish
        >>> from beamish.actors import lowlevel
        >>> class Echo(beamish.Actor):
        ...     def handle_call(self, request, caller):
        ...         return request
        >>> async def main():
        ...     pid = await Echo.start()
        ...     answered = await lowlevel.call_outcome(pid, "hi")
        ...     return answered, await lowlevel.call_outcome("nobody", 1)
        >>> beamish.run(main)
        (Replied(value='hi'), CallExited(reason='noproc'))
    """
    if timeout is not None:
        check_timeout(timeout)
    proc = current_process.get(None)
    if proc is not None:
        return _outcome(await call_slot(proc._node, proc, dest, request, timeout))
    node = this_node()
    with node._anonymous() as anon:
        return _outcome(await call_slot(node, anon, dest, request, timeout))


class PendingCall:
    """A call slot of the current process, opened by :func:`open_call`.

    Attributes:
        ref: the call's reference; the answer names it.
        caller: the pid that waits (the current process).
    """

    __slots__ = ("_proc", "_slot", "caller", "ref")

    def __init__(self, proc: Process, timeout: float | None) -> None:
        node = proc._node
        self._proc = proc
        self.ref: Ref = node.make_ref()
        self.caller: Pid = proc.pid
        self._slot = node._backend.create_waiter()
        proc.open_call(self.ref, self._slot, timeout)

    async def wait(self) -> CallOutcome:
        """Wait for the answer: a reply (``deliver_reply``), the end of the watch
        (``deliver_down``) or the timeout. An exit signal that ends the process ends the
        wait too, as it ends ``receive``."""
        return _outcome(await self._slot)

    def close(self) -> None:
        """Forget the slot: an answer that comes later is dropped and counted."""
        calls = self._proc._calls
        if calls:
            calls.pop(self.ref, None)


@contextlib.contextmanager
def open_call(timeout: float | None) -> Iterator[PendingCall]:
    """Open a call slot in the current process, for a request protocol of your own.

    Hand ``pending.caller`` and ``pending.ref`` to whoever answers; it ends the wait with
    :func:`deliver_reply` or :func:`deliver_down` (or, across nodes, the remote hook's
    ``reply``/``down``). Leaving the block forgets the slot.

    Args:
        timeout: seconds on the node clock; ``None`` waits until an answer or an exit.

    Raises:
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> from beamish.actors import lowlevel
        >>> async def main():
        ...     node = beamish.this_node()
        ...     with lowlevel.open_call(timeout=1.0) as pending:
        ...         lowlevel.deliver_reply(node, pending.caller, pending.ref, "answer")
        ...         answered = await pending.wait()
        ...     with lowlevel.open_call(timeout=1.0) as pending:
        ...         return answered, await pending.wait()
        >>> beamish.run(main, virtual_time=True)
        (Replied(value='answer'), TimedOut())
    """
    if timeout is not None:
        check_timeout(timeout)
    pending = PendingCall(current(), timeout)
    try:
        yield pending
    finally:
        pending.close()


def ack_start(node: Node, starter: Pid, ref: Ref, ack: StartAck) -> None:
    """Tell ``starter``, waiting in ``start`` under ``ref``, how ``init`` went
    (``Started(pid)``, ``StartFailed(reason)`` or ``StartIgnored()``)."""
    node._deliver_reply(starter, ref, ack)


# -- borrowing a process --


class BorrowedProcess:
    """A process lent to code that runs outside any process (see :func:`borrow_process`).

    Attributes:
        pid: its pid; ``self()`` in the block.
    """

    __slots__ = ("_proc", "pid")

    def __init__(self, proc: Process) -> None:
        self._proc = proc
        self.pid: Pid = proc.pid

    @property
    def exit_reason(self) -> Reason:
        """None while it lives; the reason once an exit signal (or :meth:`exit`) ended it."""
        return self._proc._pending_reason

    def exit(self, reason: Reason) -> None:
        """End it from inside with ``reason`` (``exit(self(), reason)`` in code that must
        go on to the end of the block): links and monitors fire when the block ends."""
        self._proc.doom(reason)

    @contextlib.contextmanager
    def cancel_on_exit(self) -> Iterator[anyio.CancelScope]:
        """An anyio cancel scope around the block that an exit signal ending this process
        cancels, as it cancels a spawned process's task. One at a time."""
        proc = self._proc
        if proc._task is not None:
            raise RuntimeError(f"{self.pid!r} already has a cancel scope")
        scope = anyio.CancelScope()
        proc._task = scope  # the backends cancel a process through its task (or scope)
        try:
            with scope:
                yield scope
        finally:
            proc._task = None


@contextlib.contextmanager
def borrow_process(node: Node) -> Iterator[BorrowedProcess]:
    """Run the block as a new process of ``node``: the calling task gets a pid, a mailbox,
    links and monitors for the length of the block.

    Inside, ``self()``, ``receive``, ``link``, ``monitor``, ``call`` and ``spawn_link`` act
    for that process. It exits ``normal`` when the block ends (or with the reason an exit
    signal gave it): its links and monitors fire then, as for any process. The pytest
    plugin runs a test body this way; ``runtime.run`` waits for its main process so.

    Example:
        >>> import beamish
        >>> from beamish.actors import lowlevel
        >>> async def main():
        ...     async with beamish.runtime.start() as node:
        ...         with lowlevel.borrow_process(node) as me:
        ...             beamish.send(me.pid, "to myself")
        ...             return me.pid == beamish.self(), await beamish.receive()
        >>> import anyio; anyio.run(main)
        (True, 'to myself')
    """
    with node._anonymous() as proc:
        token = current_process.set(proc)
        try:
            yield BorrowedProcess(proc)
        finally:
            current_process.reset(token)


# -- the node and its loop --


def current_pid() -> Pid | None:
    """The calling process's pid, or None outside any process (``self()`` that never
    raises: for logging filters and the like)."""
    proc = current_process.get(None)
    return proc.pid if proc is not None else None


def current_node() -> Node | None:
    """The node of the calling code, or None (``this_node()`` that never raises)."""
    proc = current_process.get(None)
    return proc._node if proc is not None else _current_node.get(None)


def waiter_factory(node: Node) -> Callable[[], Any]:
    """The constructor of ``node``'s one-shot waiters (an asyncio future; trio's equivalent):
    ``w = make()`` and ``await w`` in one task; ``if not w.done(): w.set_result(None)`` from
    any code on the node's loop wakes it. A tenth of an ``anyio.Event``'s cost, for hot waits
    outside processes (a transport's writer)."""
    return node._backend.create_waiter


def start_system_task(node: Node, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run ``fn()`` as a runtime task of ``node`` (not a process: no pid, no mailbox) until
    the node closes, which cancels it."""
    node._backend.start_system(fn)


def running_pid(node: Node, frame: FrameType) -> Pid | None:
    """The process of ``node`` whose task runs ``frame`` (the loop thread's innermost
    frame), or None. For a watchdog on another thread: best effort, never blocking."""
    if node.backend_name == "trio":
        from ._backends._trio import TrioBackend

        run_code = TrioBackend._run.__code__
        walk: FrameType | None = frame
        while walk is not None:
            if walk.f_code is run_code:
                proc = walk.f_locals.get("proc")
                return proc.pid if isinstance(proc, Process) else None
            walk = walk.f_back
        return None
    loop = getattr(node._backend, "loop", None)
    task = asyncio.current_task(loop) if loop is not None else None
    if task is None:
        return None
    for proc in list(node._table.values()):
        if proc._task is task:
            return proc.pid
    return None


__all__ = [
    "BorrowedProcess",
    "CallExited",
    "CallOutcome",
    "PendingCall",
    "Replied",
    "TimedOut",
]
