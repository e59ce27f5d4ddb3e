"""The node: a process table, names, a clock and a backend, with no global state.

>>> Node.__name__
'Node'

Several nodes can live in one interpreter (tests do this): every process, name, timer and
monitor hangs off its ``Node``; the functions in ``beamish.actors`` find it through a
context variable. The kernel never imports the cluster: distribution installs itself as
``node.remote`` (see :class:`RemoteHook`) and the node hands it whatever is not local.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import math
import secrets
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar, Token
from functools import partial
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Protocol

from .. import telemetry
from ._context import current_node, current_process
from ._errors import NameTaken, NoProc
from ._mailbox import OVERFLOW_POLICIES, Overflow
from ._messages import Down, Exit
from ._names import Dest, Via
from ._outcomes import CallExited, SlotEnd
from ._pid import Pid, Ref
from ._process import BoundedProcess, Process, ProcessInfo
from ._reasons import KILL, KILLED, NOPROC, NORMAL, Reason, describe, is_logged, is_normal

if TYPE_CHECKING:
    from ._backends._base import Backend
    from ._clock import Clock, TimerHandle

_log = logging.getLogger("beamish.process")
# The tokens of `with node:` blocks, per context: each task unwinds only its own.
_entered: ContextVar[tuple[Token[Node], ...]] = ContextVar("beamish.node_entered")
_new_tuple = tuple.__new__  # builds Pid/Ref without NamedTuple's Python-level __new__
REAP_MARGIN = 0.5  # seconds past kill_grace that shutdown gives the reaper's Downs
GC_YOUNG_MAX = 100_000  # adaptive GC: generation 0 follows the live processes up to this
_GC_CHECK_MASK = 1023  # adaptive GC: look at the table once per 1024 spawns


class RemoteHook(Protocol):
    """What the node asks of distribution for pids and names on other nodes."""

    def send(self, dest: Pid | tuple[str, str], message: Any) -> None: ...

    def link(self, local: Pid, remote: Pid) -> None: ...

    def unlink(self, local: Pid, remote: Pid) -> None: ...

    def monitor(self, watcher: Pid, ref: Ref, remote: Pid | tuple[str, str]) -> None: ...

    def demonitor(self, ref: Ref, remote: Pid | tuple[str, str]) -> None: ...

    def call(self, watcher: Pid, ref: Ref, remote: Pid | tuple[str, str], message: Any) -> None:
        """``monitor(watcher, ref, remote)`` and ``send(remote, message)`` in one message:
        the remote node sets up the watch when the call request arrives."""
        ...

    def exit(
        self, sender: Pid, remote: Pid | tuple[str, str], reason: Reason, link: bool
    ) -> None: ...

    def reply(self, pid: Pid, ref: Ref, value: Any) -> None: ...

    def down(self, watcher: Pid, ref: Ref, pid: Pid, reason: Reason) -> None: ...


class Node:
    """One beamish node: a process table, local names, timers and a clock, on one event loop.

    Don't build one: ``beamish.run(main)`` runs a node for a script, and
    ``async with beamish.runtime.start() as node:`` runs one inside an application that owns
    its event loop. The module-level functions (``beamish.spawn``, ``beamish.call``, ...)
    find the node of the calling code by themselves.

    **Entering a node.** Code in a task that the node did not start, and that was not
    created inside ``runtime.start``'s block, sees no node: a web server's request
    handlers are the usual case, and ``beamish.call`` there raises ``NotInProcess``.
    ``with node:`` makes ``node`` the current node of the calling task for the length of the
    block; many tasks may be inside it at once, and blocks nest. It does not make the task a
    process: ``receive`` and ``self`` still need one (see ``runtime.run_main``).

    Example:
        >>> import asyncio, contextvars
        >>> import beamish
        >>> async def handler(node):
        ...     with node:
        ...         return await beamish.call("echo", "hi")
        >>> class Echo(beamish.Actor):
        ...     def handle_call(self, request, caller):
        ...         return request
        >>> async def server():
        ...     async with beamish.runtime.start() as node:
        ...         await Echo.start(name="echo")
        ...         fresh = contextvars.Context()  # a request task's context: no node in it
        ...         return await asyncio.create_task(handler(node), context=fresh)
        >>> asyncio.run(server())
        'hi'
    """

    def __init__(
        self,
        backend: Backend,
        *,
        name: str = "nonode@nohost",
        clock: Clock | None = None,
        creation: int | None = None,
    ) -> None:
        self.name = name
        self.creation = creation if creation is not None else secrets.randbits(31)
        self._backend = backend
        self.clock: Clock = clock if clock is not None else backend.make_clock(False)
        self._table: dict[int, Process] = {}
        self._names: dict[str, Pid] = {}
        self._timers: dict[Ref, tuple[TimerHandle, float, int | None]] = {}  # ..., target
        self._timers_to: dict[int, set[Ref]] = {}  # serial -> timers aimed at that process
        # serial -> (deadline, record) of a killed process that has not ended yet, dropped
        # when it ends (the record holds its task, frames and actor); one timer, armed at
        # the earliest deadline, serves them all
        self._reapers: dict[int, tuple[float, Process]] = {}
        self._reaper_timer: TimerHandle | None = None
        self._reaper_at = math.inf
        self._serials = itertools.count(1)
        self._refs = itertools.count(1)
        self._ref_base = self.creation << 40
        self.system_pid = Pid(name, 0, self.creation)
        self.remote: RemoteHook | None = None
        self.root: Pid | None = None  # the application supervisor, when runtime started one
        self._spawn_event = telemetry.PROCESS_SPAWN
        self.closing = False
        # Grow the cyclic GC's generation-0 threshold with the process table (the runtime
        # turns it on and restores the interpreter's thresholds when the node stops).
        self.adaptive_gc = False
        # Seconds a killed process gets to end its task before the node declares it dead
        # anyway (Down, links, its name): every wait after a kill is bounded by this.
        self.kill_grace = 1.0

    def __repr__(self) -> str:
        return f"<Node {self.name} {len(self._table)} processes>"

    @property
    def backend_name(self) -> str:
        return self._backend.name

    # -- identity --

    def make_ref(self) -> Ref:
        """A new reference, unique on this node across restarts."""
        ref: Ref = _new_tuple(Ref, (self.name, self._ref_base + next(self._refs)))
        return ref

    def is_local(self, pid: Pid) -> bool:
        return pid[0] == self.name and pid[2] == self.creation

    def _proc(self, pid: Pid) -> Process | None:
        if pid[0] == self.name and pid[2] == self.creation:
            return self._table.get(pid[1])
        return None

    def processes(self) -> list[Pid]:
        """Every live process on this node, oldest first."""
        return [p.pid for p in self._table.values()]

    def process_info(self, pid: Pid) -> ProcessInfo | None:
        """A snapshot of a local process, or None if it is not alive."""
        proc = self._proc(pid)
        return proc.info() if proc is not None else None

    def is_alive(self, pid: Pid) -> bool:
        # ``_proc`` inlined: the registry's unique lookup calls this on every read
        if pid[0] == self.name and pid[2] == self.creation:
            proc = self._table.get(pid[1])
            return proc is not None and proc.alive
        return False

    # -- spawning --

    def spawn(
        self,
        fn: Callable[..., Coroutine[Any, Any, Any]],
        args: tuple[Any, ...] = (),
        *,
        link: Pid | None = None,
        mailbox_limit: int | None = None,
        overflow: Overflow = "drop_newest",
        parent: Pid | None = None,
    ) -> Pid:
        """Start ``fn(*args)`` as a new process of this node; returns its pid.

        ``link``: a live local process to link the new one to before it runs (``NoProc``
        if it is not alive). ``parent`` is only reported (``PROCESS_SPAWN`` telemetry).
        The module-level :func:`beamish.spawn` is the everyday form.
        """
        return self._spawn(
            fn,
            args,
            self._live(link, "link to") if link is not None else None,
            mailbox_limit,
            overflow,
            parent,
            current_process.get(None),
        )

    def _live(self, pid: Pid, what: str) -> Process:
        proc = self._proc(pid)
        if proc is None or not proc.alive:
            raise NoProc(f"cannot {what} {pid!r}: not a live process of {self.name}")
        return proc

    def _spawn(
        self,
        fn: Callable[..., Coroutine[Any, Any, Any]],
        args: tuple[Any, ...],
        link: Process | None = None,
        mailbox_limit: int | None = None,
        overflow: Overflow = "drop_newest",
        parent: Pid | None = None,
        caller: Process | None = None,
    ) -> Pid:
        """``spawn`` for the kernel: ``link`` and ``caller`` (the spawning process, if any)
        are process records."""
        if mailbox_limit is not None and (overflow not in OVERFLOW_POLICIES or mailbox_limit < 1):
            raise ValueError(f"bad mailbox bound {mailbox_limit!r} / {overflow!r}")
        if caller is not None and caller._pending_reason is not None:
            raise caller._doom_error()  # an exit signal ended the caller: it acts no more
        coro = fn(*args)
        if type(coro) is not CoroutineType:
            if hasattr(coro, "close"):
                coro.close()
            raise TypeError(f"spawn needs an async function, got {fn!r} returning {coro!r}")
        serial = next(self._serials)
        if not serial & _GC_CHECK_MASK and self.adaptive_gc:
            self._grow_gc_threshold()
        pid = _new_tuple(Pid, (self.name, serial, self.creation))
        if mailbox_limit is None:
            proc = Process(self, pid)
        else:
            proc = BoundedProcess(self, pid, mailbox_limit, overflow)
        self._table[serial] = proc
        if link is not None:
            proc._links = {link.pid}
            link.add_link(pid)
        self._backend.start(proc, coro)
        if telemetry.has_handlers(self._spawn_event):
            telemetry.execute(
                self._spawn_event, {"count": 1}, {"node": self.name, "pid": pid, "parent": parent}
            )
        return pid

    def _grow_gc_threshold(self) -> None:
        """Let the generation-0 threshold follow the process table: with a young generation
        proportional to the live processes, the full collections (which walk every live
        process) stay rare while the table grows, instead of one per 25% of growth."""
        wanted = min(len(self._table), GC_YOUNG_MAX)  # adaptive GC: gen 0 = live processes
        threshold, *older = gc.get_threshold()
        if wanted > threshold:
            gc.set_threshold(wanted, *older)

    @contextlib.contextmanager
    def _anonymous(self) -> Iterator[Process]:
        """A task-less process for code running outside any process (calls, monitors).

        It gets a pid, a mailbox, links and monitors like any process and exits ``normal``
        when the block ends.
        """
        serial = next(self._serials)
        proc = Process(self, Pid(self.name, serial, self.creation))
        self._table[serial] = proc
        try:
            yield proc
        finally:
            if self._table.get(serial) is proc:
                reason = proc._pending_reason if proc._pending_reason is not None else NORMAL
                proc.alive = False
                self._exited(proc, reason, False)

    # -- names --

    def register(self, name: str, pid: Pid) -> None:
        """Register ``name`` for a live local process (``NameTaken`` if either is taken)."""
        if not isinstance(name, str):
            raise TypeError(f"local names are strings, not {type(name).__name__}")
        proc = self._proc(pid)
        if proc is None or not proc.alive:
            raise NoProc(f"cannot register {name!r}: {pid!r} is not a live local process")
        if name in self._names:
            raise NameTaken(f"{name!r} is already registered to {self._names[name]!r}")
        if proc.name is not None:
            raise NameTaken(f"{pid!r} is already registered as {proc.name!r}")
        self._names[name] = pid
        proc.name = name

    def unregister(self, name: str) -> bool:
        """Remove a name; False if it was not registered."""
        pid = self._names.pop(name, None)
        if pid is None:
            return False
        proc = self._proc(pid)
        if proc is not None:
            proc.name = None
        return True

    def whereis(self, name: str) -> Pid | None:
        """The pid registered under ``name`` on this node, or None."""
        return self._names.get(name)

    def registered(self) -> list[str]:
        return list(self._names)

    def resolve(self, dest: Dest) -> Pid | tuple[str, str] | None:
        """The pid behind a destination (or ``(name, node)`` for a remote name); None if
        a local or via name is not registered."""
        if type(dest) is Pid:
            return dest
        if isinstance(dest, str):
            return self._names.get(dest)
        if isinstance(dest, Via):
            return dest.resolver.whereis_name(dest.key)
        if isinstance(dest, tuple) and len(dest) == 2:
            name, node = dest
            if node == self.name:
                return self._names.get(name)
            return (name, node)
        raise TypeError(f"not a destination: {dest!r}")

    # -- messages --

    def send(self, dest: Dest, message: Any) -> None:
        """Send ``message`` to ``dest``; a dead pid drops it, an unknown name raises
        ``NoProc``."""
        if type(dest) is Pid:
            if dest[0] == self.name and dest[2] == self.creation:
                proc = self._table.get(dest[1])
                if proc is not None and proc.alive:
                    proc._deliver(message)
            elif self.remote is not None:
                self.remote.send(dest, message)
            return
        target = self.resolve(dest)
        if target is None:
            raise NoProc(f"no process is registered as {dest!r}")
        if type(target) is Pid:
            self.send(target, message)
        elif self.remote is not None:
            self.remote.send(target, message)
        else:
            raise NoProc(f"{dest!r}: node {target[1]!r} is not connected")

    def _mailbox_dropped(self, proc: Process, message: Any, policy: Overflow) -> None:
        telemetry.execute(
            telemetry.MAILBOX_DROP,
            {"count": 1, "mailbox_len": proc.message_count()},
            {"node": self.name, "pid": proc.pid, "policy": policy, "message": message},
        )

    def _deliver_reply(self, pid: Pid, ref: Ref, value: Any) -> None:
        local = pid[0] == self.name and pid[2] == self.creation  # self._proc(pid), inlined
        proc = self._table.get(pid[1]) if local else None
        if proc is None:
            if not self.is_local(pid) and self.remote is not None:
                self.remote.reply(pid, ref, value)
            return
        calls = proc._calls
        entry = calls.pop(ref, None) if calls else None
        if entry is None or (slot := entry[0]).done():
            telemetry.execute(
                telemetry.REPLY_DROP, {"count": 1}, {"node": self.name, "pid": pid, "ref": ref}
            )
            return
        slot.set_result(value)

    # -- links --

    def link(self, pid: Pid, other: Pid) -> None:
        """Link the live local process ``pid`` with ``other`` (any node), as if ``pid``
        called :func:`beamish.link`; ``NoProc`` if ``pid`` is not alive."""
        self._link(self._live(pid, "link"), other)

    def unlink(self, pid: Pid, other: Pid) -> None:
        """Remove the link between the local process ``pid`` and ``other``, both ways."""
        proc = self._proc(pid)
        if proc is not None:
            self._unlink(proc, other)

    def _link(self, proc: Process, other: Pid) -> None:
        """Link ``proc`` with ``other``; linking to a dead pid sends ``proc`` ``noproc``."""
        if other == proc.pid:
            return
        target = self._proc(other)
        if target is None and not self.is_local(other) and self.remote is not None:
            proc.add_link(other)
            self.remote.link(proc.pid, other)
            return
        if target is None:
            self._exit_signal(proc, other, NOPROC, link=True)
            return
        proc.add_link(other)
        target.add_link(proc.pid)

    def _unlink(self, proc: Process, other: Pid) -> None:
        proc.remove_link(other)
        target = self._proc(other)
        if target is not None:
            target.remove_link(proc.pid)
        elif not self.is_local(other) and self.remote is not None:
            self.remote.unlink(proc.pid, other)

    # -- monitors --

    def monitor(self, pid: Pid, dest: Dest) -> Ref:
        """Monitor ``dest`` from the live local process ``pid``, as if ``pid`` called
        :func:`beamish.monitor`: exactly one ``Down`` follows. ``NoProc`` if ``pid`` is not
        alive."""
        return self._monitor(self._live(pid, "monitor from"), dest)

    def demonitor(self, pid: Pid, ref: Ref, flush: bool = False) -> bool:
        """Remove the monitor ``ref`` of the local process ``pid`` (see
        :func:`beamish.demonitor`); False if it was not active."""
        proc = self._proc(pid)
        return proc is not None and self._demonitor(proc, ref, flush)

    def _monitor(self, proc: Process, dest: Dest) -> Ref:
        """Monitor ``dest`` from ``proc``: exactly one ``Down`` will follow."""
        ref = self.make_ref()
        target = self.resolve(dest)
        if type(target) is Pid:
            target_proc = self._proc(target)
            if target_proc is not None:
                target_proc.add_watcher(ref, proc.pid)
                proc.add_monitor(ref, target)
                return ref
            if target_proc is None and not self.is_local(target) and self.remote is not None:
                proc.add_monitor(ref, target)
                self.remote.monitor(proc.pid, ref, target)
                return ref
        elif target is not None and self.remote is not None:
            proc.add_monitor(ref, target)  # type: ignore[arg-type]
            self.remote.monitor(proc.pid, ref, target)
            return ref
        down_pid = target if type(target) is Pid else dest
        proc._deliver(Down(ref, down_pid, NOPROC))  # type: ignore[arg-type]
        return ref

    def _demonitor(self, proc: Process, ref: Ref, flush: bool = False) -> bool:
        """Remove a monitor; with ``flush``, also drop its ``Down`` if already queued."""
        target = proc._monitors.pop(ref, None) if proc._monitors else None
        if target is not None:
            if type(target) is Pid and (target_proc := self._proc(target)) is not None:
                if target_proc._monitored_by:
                    target_proc._monitored_by.pop(ref, None)
            elif self.remote is not None and not (type(target) is Pid and self.is_local(target)):
                self.remote.demonitor(ref, target)
        if flush and proc._mailbox:
            mailbox = proc._mailbox
            for index, message in enumerate(mailbox):
                if type(message) is Down and message.ref == ref:
                    del mailbox[index]
                    break
        return target is not None

    def _deliver_down(self, watcher: Pid, ref: Ref, pid: Pid, reason: Reason) -> None:
        proc = self._proc(watcher)
        if proc is None:
            if not self.is_local(watcher) and self.remote is not None:
                self.remote.down(watcher, ref, pid, reason)
            return
        calls = proc._calls
        if calls:
            entry = calls.pop(ref, None)
            if entry is not None:
                slot = entry[0]
                if not slot.done():
                    slot.set_result(SlotEnd(CallExited(reason)))
                return
        if proc._monitors is not None and proc._monitors.pop(ref, None) is not None:
            proc._deliver(Down(ref, pid, reason))

    # -- exit signals --

    def exit(self, sender: Pid, dest: Dest, reason: Reason) -> None:
        """Send an exit signal (``exit(pid, reason)``) from ``sender`` to ``dest``."""
        target = self.resolve(dest)
        if target is None:
            raise NoProc(f"no process is registered as {dest!r}")
        if type(target) is not Pid:
            raise NoProc(f"exit signals go to pids, not to remote names: {dest!r}")
        proc = self._proc(target)
        if proc is not None:
            self._exit_signal(proc, sender, reason, link=False)
        elif not self.is_local(target) and self.remote is not None:
            self.remote.exit(sender, target, reason, False)

    def _exit_signal(self, proc: Process, sender: Pid, reason: Reason, link: bool) -> None:
        """Erlang's receipt of an exit signal (see the table in ``_reasons``)."""
        if not proc.alive:
            if not link and isinstance(reason, str) and reason == KILL and proc._task is not None:
                self._reap_later(proc)  # doomed before, and still running: bound its end
            return
        if not link and isinstance(reason, str) and reason == KILL:
            self._terminate(proc, KILLED, kill=True)
        elif proc.trap_exits:
            proc._deliver(Exit(sender, reason))
        elif is_normal(reason):
            if sender == proc.pid:
                self._terminate(proc, NORMAL)
        else:
            self._terminate(proc, reason)

    def _terminate(self, proc: Process, reason: Reason, kill: bool = False) -> None:
        if proc.doom(reason):
            proc.abort_waits()  # an anonymous process: its receive or call raises Exited
            if proc._task is not None:
                self._backend.cancel(proc)
                if kill:
                    self._reap_later(proc)

    def _reap_later(self, proc: Process) -> None:
        serial = proc.pid[1]
        if serial not in self._reapers:  # killed again: the first deadline stands
            deadline = self.clock.now() + self.kill_grace
            self._reapers[serial] = (deadline, proc)
            if deadline < self._reaper_at:
                self._arm_reaper(deadline)

    def _arm_reaper(self, deadline: float) -> None:
        if self._reaper_timer is not None:
            self._reaper_timer.cancel()
        self._reaper_at = deadline
        self._reaper_timer = self.clock.call_at(deadline, self._reap_due)

    def _reap_due(self) -> None:
        self._reaper_timer = None
        self._reaper_at = math.inf
        now = self.clock.now()
        for proc in [proc for deadline, proc in self._reapers.values() if deadline <= now]:
            self._reap(proc)
        if self._reapers:
            self._arm_reaper(min(deadline for deadline, _ in self._reapers.values()))

    def _reap(self, proc: Process) -> None:
        """A killed process whose task still runs after ``kill_grace``: declare it dead."""
        self._reapers.pop(proc.pid[1], None)
        if self._table.get(proc.pid[1]) is not proc:
            return  # it ended in time
        _log.error(
            "process %r did not end within %ss of being killed (it swallows cancellation or "
            "waits in a shield); it is dead to the node from now on",
            proc.pid,
            self.kill_grace,
        )
        self._exited(proc, proc._pending_reason, False)

    def _exited(self, proc: Process, reason: Reason, originated: bool) -> None:
        """Fan out one process's exit: names, monitors, links, telemetry, crash log."""
        pid = proc.pid
        if self._table.get(pid[1]) is not proc:
            return  # already fanned out (a killed process declared dead before it ended)
        del self._table[pid[1]]
        if self._reapers:
            self._reapers.pop(pid[1], None)
        if proc._call_timer is not None:
            proc._call_timer.cancel()
            proc._call_timer = None
        if self._timers_to:
            self._cancel_timers_to(pid[1])
        if proc.name is not None:
            if self._names.get(proc.name) == pid:
                del self._names[proc.name]
            proc.name = None
        monitors = proc._monitors
        if monitors:
            proc._monitors = None
            for ref, target in monitors.items():
                target_proc = self._proc(target) if type(target) is Pid else None
                if target_proc is not None and target_proc._monitored_by:
                    target_proc._monitored_by.pop(ref, None)
                elif target_proc is None and self.remote is not None:
                    remote = not (type(target) is Pid and self.is_local(target))
                    if remote:
                        self.remote.demonitor(ref, target)
        watchers = proc._monitored_by
        if watchers:
            proc._monitored_by = None
            for ref, watcher in watchers.items():
                self._deliver_down(watcher, ref, pid, reason)
        links = proc._links
        if links:
            proc._links = None
            for other in links:
                other_proc = self._proc(other)
                if other_proc is not None:
                    other_proc.remove_link(pid)
                    self._exit_signal(other_proc, pid, reason, link=True)
                elif not self.is_local(other) and self.remote is not None:
                    self.remote.exit(pid, other, reason, True)
        if originated and is_logged(reason):
            self._log_crash(proc, reason)
        if telemetry.has_handlers(telemetry.PROCESS_EXIT):
            telemetry.execute(
                telemetry.PROCESS_EXIT,
                {"count": 1},
                {"node": self.name, "pid": pid, "reason": reason},
            )

    def _log_crash(self, proc: Process, reason: Reason) -> None:
        who = f"{proc.pid!r}" + (f" ({type(proc.server).__name__})" if proc.server else "")
        report = proc.server._crash_report() if proc.server is not None else None
        details = "".join(f"\n    {k}: {v!s:.300}" for k, v in (report or {}).items())
        if isinstance(reason, BaseException):
            _log.error(
                "process %s crashed: %s%s",
                who,
                describe(reason),
                details,
                exc_info=(type(reason), reason, reason.__traceback__),
            )
        else:
            _log.error("process %s exited: %s%s", who, describe(reason), details)
        metadata = {"node": self.name, "pid": proc.pid, "reason": reason}
        metadata["kind"] = type(reason).__name__
        if report is not None:
            metadata["report"] = report
        telemetry.execute(telemetry.PROCESS_CRASH, {"count": 1}, metadata)

    # -- timers --

    def send_after(self, dest: Dest, message: Any, seconds: float) -> Ref:
        """Send ``message`` to ``dest`` after ``seconds`` on the node clock.

        A timer aimed at a local pid belongs to that process: it is cancelled when the
        process exits, and never armed if it is not alive (as on the BEAM).
        """
        ref = self.make_ref()
        target: int | None = None
        if type(dest) is Pid and self.is_local(dest):
            proc = self._table.get(dest[1])
            if proc is None or not proc.alive:
                return ref
            target = dest[1]
            owned = self._timers_to.get(target)
            if owned is None:
                self._timers_to[target] = {ref}
            else:
                owned.add(ref)
        when = self.clock.now() + max(0.0, seconds)
        handle = self.clock.call_at(when, partial(self._fire_timer, ref, dest, message))
        self._timers[ref] = (handle, when, target)
        return ref

    def _forget_timer(self, ref: Ref) -> tuple[TimerHandle, float, int | None] | None:
        entry = self._timers.pop(ref, None)
        if entry is not None and entry[2] is not None:
            owned = self._timers_to.get(entry[2])
            if owned is not None:
                owned.discard(ref)
                if not owned:
                    del self._timers_to[entry[2]]
        return entry

    def _cancel_timers_to(self, serial: int) -> None:
        for ref in self._timers_to.pop(serial, ()):
            entry = self._timers.pop(ref, None)
            if entry is not None:
                entry[0].cancel()

    def _fire_timer(self, ref: Ref, dest: Dest, message: Any) -> None:
        if self._forget_timer(ref) is None:
            return
        with contextlib.suppress(NoProc):
            self.send(dest, message)

    def cancel_timer(self, ref: Ref) -> float | None:
        """Cancel a timer; the seconds it had left, or None if it had fired, was unknown,
        or died with its target process."""
        entry = self._forget_timer(ref)
        if entry is None:
            return None
        handle, when, _ = entry
        handle.cancel()
        return max(0.0, when - self.clock.now())

    async def sleep(self, seconds: float) -> None:
        """Sleep on the node clock (virtual in tests, unlike ``anyio.sleep``).

        In a process, an exit signal that ends the process ends its sleep too, even inside
        a user's shield.
        """
        proc = current_process.get(None)
        if proc is not None and proc._node is self:
            if proc._pending_reason is not None:
                await proc._end_doomed()
            ref = self.make_ref()  # a sleep is a call that only its timeout answers
            slot = self._backend.create_waiter()
            proc.open_call(ref, slot, max(0.0, seconds))
            try:
                await slot
            finally:
                if proc._calls:
                    proc._calls.pop(ref, None)
            return
        waiter = self._backend.create_waiter()
        handle = self.clock.call_at(self.clock.now() + seconds, partial(_set_done, waiter))
        try:
            await waiter
        finally:
            handle.cancel()

    # -- shutdown --

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every process under one deadline: ``timeout`` seconds, then ``kill``.

        The independent processes (the roots: those without a live ``start_link`` parent)
        are signalled together, newest first, and stop concurrently. A root that traps
        exits gets ``Exit(system_pid, "shutdown")`` (an ``Actor`` runs ``terminate``); the
        others stop at once. A server whose parent is alive is left to that parent, which
        stops it in its own order (a supervisor: reverse start order, each child's
        protocol). Whatever still runs at the deadline is killed; shutdown then waits at
        most ``kill_grace`` (and a small margin) more, by which time every killed process
        has ended or been declared dead; it logs any that still has not.
        """
        self.closing = True
        clock = self.clock
        deadline = clock.now() + timeout
        with self._anonymous() as me:
            watched: dict[Ref, Pid] = {}  # every process we wait for
            signalled: set[Ref] = set()  # the roots told to stop, not down yet
            seen: set[int] = {me.pid[1]}
            try:
                while True:
                    if not signalled:  # (again, once the roots are down: orphans, late spawns)
                        self._signal_roots(me, seen, watched, signalled)
                        if not watched:
                            break
                    down = await me.receive(_is_down, max(0.0, deadline - clock.now()))
                    watched.pop(down.ref, None)
                    signalled.discard(down.ref)
            except TimeoutError:
                await self._kill_remaining(me, watched)
        for handle, _, _ in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._timers_to.clear()

    def _signal_roots(
        self, me: Process, seen: set[int], watched: dict[Ref, Pid], signalled: set[Ref]
    ) -> None:
        """Watch every process not yet watched; tell the roots among them to stop."""
        for proc in reversed(list(self._table.values())):
            serial = proc.pid[1]
            if proc._task is None or serial in seen or not proc.alive:
                continue
            parent = getattr(proc.server, "_parent", None)
            parent_proc = self._proc(parent) if parent is not None else None
            if parent_proc is not None and parent_proc.alive and parent_proc._task is not None:
                continue  # its parent (a supervisor) stops it, in its own order
            seen.add(serial)
            ref = self._monitor(me, proc.pid)
            watched[ref] = proc.pid
            signalled.add(ref)
            if proc.trap_exits:
                self._exit_signal(proc, self.system_pid, "shutdown", link=True)
            else:
                self._terminate(proc, "shutdown")
        for proc in list(self._table.values()):  # the rest, dying ones included
            if proc._task is not None and proc.pid[1] not in seen:
                seen.add(proc.pid[1])
                watched[self._monitor(me, proc.pid)] = proc.pid

    async def _kill_remaining(self, me: Process, watched: dict[Ref, Pid]) -> None:
        """The deadline passed: kill whatever still runs, wait a little, log the rest."""
        known = set(watched.values())
        for proc in list(self._table.values()):
            if proc._task is not None and proc.pid not in known:
                watched[self._monitor(me, proc.pid)] = proc.pid
        stuck = sorted(set(watched.values()))
        _log.error(
            "%d processes did not stop within the shutdown timeout on %s: killing %s",
            len(stuck),
            self.name,
            ", ".join(map(repr, stuck[:10])) + (" ..." if len(stuck) > 10 else ""),
        )
        for pid in stuck:
            self.exit(self.system_pid, pid, KILL)
        clock = self.clock
        deadline = clock.now() + self.kill_grace + REAP_MARGIN
        try:
            while watched:
                down = await me.receive(_is_down, max(0.0, deadline - clock.now()))
                watched.pop(down.ref, None)
        except TimeoutError:
            _log.error("%d processes ignored kill on %s", len(watched), self.name)

    def __enter__(self) -> Node:
        """``with node:`` makes ``node`` the current node for code outside any process
        (a request handler of a web app); safe in many concurrent tasks at once."""
        token = current_node.set(self)
        _entered.set((*_entered.get(()), token))
        return self

    def __exit__(self, *exc: object) -> None:
        tokens = _entered.get()
        _entered.set(tokens[:-1])
        current_node.reset(tokens[-1])


def _is_down(message: Any) -> bool:
    return type(message) is Down


def _set_done(waiter: Any) -> None:
    if not waiter.done():
        waiter.set_result(None)
