"""System messages (OTP's ``sys``): look into and steer any server on the generic loop.

>>> import beamish
>>> from beamish.actors import get_state, statistics
>>> class Counter(beamish.Actor):
...     def init(self):
...         self.count = 0
...     def handle_cast(self, n):
...         self.count += n
>>> async def main():
...     pid = await Counter.start()
...     beamish.cast(pid, 2)
...     state = await get_state(pid)
...     return state, (await statistics(pid)).casts
>>> beamish.run(main)
({'count': 2}, 1)

Semantics
---------
- The generic loop answers them between two callbacks, never through ``handle_call``; they
  work on every behaviour on the loop (``Actor``, supervisors, the worker pool, ...). A
  server busy in a callback answers when it is done, as in OTP.
- They are calls underneath: ``dest`` is anything ``call`` takes (a remote pid too), and
  they raise what ``call`` raises: ``Exited`` (``"noproc"`` for a dead process),
  ``CallTimeout``. A local process that runs no server raises ``TypeError`` at once.
- They neither cancel nor restart a server's idle timeout (an observer does not keep an
  idle session alive).
- A suspended server takes only system messages, ``stop`` and its parent's exit; the rest
  waits in its mailbox, in order, until ``resume``.

This module holds both halves: the record the loop keeps of each server (counters, flags,
its crash report) with the answers to system requests, and the functions callers use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._api import this_node
from ._call import DEFAULT_TIMEOUT, call
from ._names import Dest
from ._pid import Pid

if TYPE_CHECKING:
    from ._actor import Actor
    from ._process import Process
    from ._server import Timeout

SYSTEM = "$beamish.system"
"""Tags a system request inside a call: ``(SYSTEM, op, arg)`` (see ``_system``)."""


@dataclass(frozen=True, slots=True)
class ServerStatistics:
    """A snapshot of one server's loop (``statistics(pid)``).

    ``parent`` is the process that ``start_link``-ed it (None after ``start``).
    ``messages`` counts the calls, casts, infos and timeouts handled; ``reductions`` every
    callback run (``init`` and continues included), a rough measure of the work done.
    ``current_callback`` names the callback running now (only an async one can be seen
    running), ``idle_timeout`` the armed idle timeout's seconds.
    """

    pid: Pid
    name: str | None
    behaviour: str
    parent: Pid | None
    started_at: float
    messages: int
    calls: int
    casts: int
    infos: int
    timeouts: int
    continues: int
    system_messages: int
    reductions: int
    current_callback: str | None
    mailbox_len: int
    suspended: bool
    tracing: bool
    hibernated: bool
    idle_timeout: float | None


class ServerRecord:
    """The loop's own bookkeeping for one server: counters, flags, the crash report."""

    __slots__ = (
        "callback",
        "calls",
        "casts",
        "continues",
        "hibernated",
        "idle",
        "infos",
        "parent",
        "report",
        "started_at",
        "suspended",
        "system",
        "timeouts",
        "tracing",
    )

    def __init__(self, parent: Pid | None, started_at: float) -> None:
        self.parent = parent
        self.started_at = started_at
        self.calls = self.casts = self.infos = self.timeouts = 0
        self.continues = self.system = 0
        self.callback: str | None = "init"
        self.suspended = self.tracing = self.hibernated = False
        self.idle: Timeout | None = None
        self.report: dict[str, Any] | None = None

    def snapshot(self, proc: Process, actor: Actor) -> ServerStatistics:
        messages = self.calls + self.casts + self.infos + self.timeouts
        return ServerStatistics(
            pid=proc.pid,
            name=proc.name,
            behaviour=type(actor).__name__,
            parent=self.parent,
            started_at=self.started_at,
            messages=messages,
            calls=self.calls,
            casts=self.casts,
            infos=self.infos,
            timeouts=self.timeouts,
            continues=self.continues,
            system_messages=self.system,
            reductions=1 + messages + self.continues,
            current_callback=self.callback,
            mailbox_len=proc.message_count(),
            suspended=self.suspended,
            tracing=self.tracing,
            hibernated=self.hibernated,
            idle_timeout=None if self.idle is None else self.idle.seconds,
        )


_KERNEL_ATTRIBUTES = frozenset({"pid", "_parent", "_server"})


def state_of(actor: Actor) -> dict[str, Any]:
    """An actor's state: its instance attributes, without the kernel's own."""
    return {k: v for k, v in vars(actor).items() if k not in _KERNEL_ATTRIBUTES}


def formatted_state(actor: Actor) -> Any:
    """``format_status(state)``; its failure described in its place, never raised."""
    try:
        return actor.format_status(state_of(actor))
    except Exception as exc:
        return f"<format_status failed: {exc!r:.200}>"


def answer_system(
    proc: Process, actor: Actor, server: ServerRecord, request: tuple[Any, ...]
) -> Any:
    """Answer one system request: ``("ok", value)`` or ``("error", exception)``."""
    _, op, arg = request
    server.system += 1
    if op == "get_state":
        return ("ok", formatted_state(actor))
    if op == "replace_state":
        try:
            new_state = arg(state_of(actor))
            if not isinstance(new_state, dict):
                raise TypeError(f"replace_state: the function returned {new_state!r}, not a dict")
        except Exception as exc:
            return ("error", exc)
        kept = {k: v for k, v in vars(actor).items() if k in _KERNEL_ATTRIBUTES}
        vars(actor).clear()
        vars(actor).update(new_state)
        vars(actor).update(kept)
        return ("ok", formatted_state(actor))
    if op == "statistics":
        return ("ok", dataclasses.asdict(server.snapshot(proc, actor)))  # plain data (peers)
    if op == "suspend":
        server.suspended = True
    elif op == "resume":
        server.suspended = False
    elif op == "trace":
        server.tracing = bool(arg)
    else:
        return ("error", ValueError(f"unknown system request {op!r}"))
    return ("ok", None)


def crash_report(proc: Process, actor: Actor, callback: str, message: Any) -> dict[str, Any]:
    """What a crash log says of a server: behaviour, name, parent, last message, state."""
    server: ServerRecord = actor._server
    return {
        "behaviour": type(actor).__name__,
        "name": proc.name,
        "parent": server.parent,
        "callback": callback,
        "last_message": f"{message!r:.300}",
        "state": formatted_state(actor),
    }


# -- the client half: what callers use --


async def _system_call(dest: Dest, op: str, arg: Any, timeout: float | None) -> Any:
    if type(dest) is Pid:
        node = this_node()
        if node.is_local(dest):
            proc = node._proc(dest)
            if proc is not None and proc.alive and proc.server is None:
                raise TypeError(f"{dest!r} runs no server: only servers take system messages")
    status, value = await call(dest, (SYSTEM, op, arg), timeout)
    if status == "error":
        raise value
    return value


async def get_state(dest: Dest, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
    """The state of the server at ``dest``, as its ``format_status`` shows it (OTP's
    ``sys:get_state``).

    An actor's state is a dict of its instance attributes (``vars(actor)`` without the
    kernel's ``pid``); ``format_status`` may hide or reshape it.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.
        timeout: seconds on the node clock to wait for the answer.

    Returns:
        ``actor.format_status(state)``: by default the dict itself (a shallow copy).

    Raises:
        Exited: the process is not alive (``"noproc"``) or exited before it answered.
        CallTimeout: no answer in time (the server is busy, or suspended in a callback).
        TypeError: ``dest`` is a local process that runs no server.

    Example:
        >>> import beamish
        >>> from beamish.actors import get_state
        >>> class Cart(beamish.Actor):
        ...     def init(self):
        ...         self.items = ["tea"]
        >>> async def main():
        ...     return await get_state(await Cart.start())
        >>> beamish.run(main)
        {'items': ['tea']}
    """
    return await _system_call(dest, "get_state", None, timeout)


async def replace_state(
    dest: Dest,
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Any:
    """Replace the state of the server at ``dest`` with ``fn(state)`` (OTP's
    ``sys:replace_state``), for debugging and hot fixes.

    ``fn`` runs inside the server, between two messages, on a dict of its instance
    attributes; the attributes become the dict ``fn`` returns. If ``fn`` raises (or returns
    something other than a dict) the server keeps its state and goes on.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.
        fn: ``state -> new_state``; over the wire it travels as a pickle (trusted peers).
        timeout: seconds on the node clock to wait for the answer.

    Returns:
        The new state, as ``format_status`` shows it.

    Raises:
        Exception: whatever ``fn`` raised, raised here (``TypeError`` for a non-dict).
        Exited, CallTimeout, TypeError: as for :func:`get_state`.

    Example:
        >>> import beamish
        >>> from beamish.actors import replace_state
        >>> class Limit(beamish.Actor):
        ...     def init(self):
        ...         self.limit = 10
        ...     def handle_call(self, request, caller):
        ...         return self.limit
        >>> async def main():
        ...     pid = await Limit.start()
        ...     await replace_state(pid, lambda state: {**state, "limit": 99})
        ...     return await beamish.call(pid, "limit")
        >>> beamish.run(main)
        99
    """
    return await _system_call(dest, "replace_state", fn, timeout)


async def statistics(dest: Dest, timeout: float | None = DEFAULT_TIMEOUT) -> ServerStatistics:
    """Counters and flags of the server at ``dest`` (OTP's ``sys:statistics``).

    A local server is read directly, at once, even while it is busy in a callback (then
    ``current_callback`` names it); a remote one answers a system message.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.
        timeout: seconds on the node clock to wait for a remote answer.

    Returns:
        A frozen ``ServerStatistics``.

    Raises:
        Exited, CallTimeout, TypeError: as for :func:`get_state`.

    Example:
        >>> import beamish
        >>> from beamish.actors import statistics
        >>> class Echo(beamish.Actor):
        ...     def handle_call(self, request, caller):
        ...         return request
        >>> async def main():
        ...     pid = await Echo.start(name="echo")
        ...     await beamish.call(pid, 1)
        ...     stats = await statistics("echo")
        ...     return stats.behaviour, stats.name, stats.calls, stats.mailbox_len
        >>> beamish.run(main)
        ('Echo', 'echo', 1, 0)
    """
    node = this_node()
    target = node.resolve(dest)
    if type(target) is Pid and node.is_local(target):
        proc = node._proc(target)
        server = getattr(proc.server, "_server", None) if proc is not None else None
        if proc is not None and proc.alive and server is not None:
            await node._backend.checkpoint()
            return server.snapshot(proc, proc.server)  # type: ignore[no-any-return]
    stats = await _system_call(dest, "statistics", None, timeout)
    if isinstance(stats, dict):  # a peer's, as plain data
        return ServerStatistics(**stats)
    return stats  # type: ignore[no-any-return]


async def suspend(dest: Dest, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Suspend the server at ``dest`` (OTP's ``sys:suspend``): from now on it handles only
    system messages, ``stop`` and its parent's exit, until :func:`resume`.

    Calls to a suspended server wait (and time out); casts and messages queue in order.

    Raises:
        Exited, CallTimeout, TypeError: as for :func:`get_state`.

    Example:
        >>> import beamish
        >>> from beamish.actors import suspend, resume
        >>> class Echo(beamish.Actor):
        ...     def handle_call(self, request, caller):
        ...         return request
        >>> async def main():
        ...     pid = await Echo.start()
        ...     await suspend(pid)
        ...     try:
        ...         await beamish.call(pid, "hi", timeout=0.05)
        ...     except beamish.CallTimeout:
        ...         pass
        ...     await resume(pid)
        ...     return await beamish.call(pid, "back")
        >>> beamish.run(main)
        'back'
    """
    await _system_call(dest, "suspend", None, timeout)


async def resume(dest: Dest, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Resume a server suspended with :func:`suspend` (OTP's ``sys:resume``); it takes its
    waiting messages in the order they came.

    Raises:
        Exited, CallTimeout, TypeError: as for :func:`get_state`.
    """
    await _system_call(dest, "resume", None, timeout)


async def trace(dest: Dest, on: bool = True, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Turn tracing of the server at ``dest`` on or off (OTP's ``sys:trace``).

    A traced server emits ``beamish.telemetry.SERVER_TRACE`` for every message it handles
    and every continue: ``kind`` (``"call"``, ``"cast"``, ``"info"``, ``"timeout"``,
    ``"continue"``), ``message`` and the callback's ``result``.

    Raises:
        Exited, CallTimeout, TypeError: as for :func:`get_state`.

    Example:
        >>> import beamish
        >>> from beamish import telemetry
        >>> from beamish.actors import trace
        >>> class Sink(beamish.Actor):
        ...     def handle_cast(self, request):
        ...         return None
        >>> seen = []
        >>> def record(event, measurements, metadata, config):
        ...     seen.append((metadata["kind"], metadata["message"][1]))
        >>> async def main():
        ...     pid = await Sink.start()
        ...     await trace(pid)
        ...     beamish.cast(pid, "hello")
        ...     await trace(pid, False)
        ...     beamish.cast(pid, "unseen")
        ...     await beamish.actors.get_state(pid)
        >>> telemetry.attach("doc-trace", telemetry.SERVER_TRACE, record)
        >>> beamish.run(main)
        >>> telemetry.detach("doc-trace")
        True
        >>> seen
        [('cast', 'hello')]
    """
    await _system_call(dest, "trace", bool(on), timeout)
