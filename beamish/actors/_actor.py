"""The ``Actor`` behaviour (OTP's gen_server); its contract is on :class:`Actor`."""

from __future__ import annotations

import functools
import logging
from typing import Any, ClassVar

from ._api import this_node
from ._call import DEFAULT_TIMEOUT, await_slot
from ._checks import check_start_name, check_timeout, whereis_start_name
from ._context import current_process
from ._errors import NameTaken, StartError
from ._mailbox import Overflow
from ._messages import Caller, Down
from ._names import Via
from ._outcomes import CallExited, SlotEnd, Started, StartFailed
from ._pid import Pid
from ._process import Process
from ._reasons import KILL
from ._server import serve
from ._system import ServerRecord

_log = logging.getLogger("beamish.actor")

StartName = str | Via | tuple[str, str] | None
"""What ``name=`` accepts where a process starts (see ``Actor.start``)."""


class Actor:
    """A server process: subclass it and write callbacks; the runtime owns the loop (OTP's
    ``gen_server``, Elixir's ``GenServer``).

    Each instance is the state of one process. Its callbacks run one at a time, in that
    process, and only return results; the generic loop receives, replies, stops and cleans
    up:

        your subclass                         the generic loop
        ------------------------------------  --------------------------------------------
                                              register the name, link to the starter
        init(*args) -> None | Stop | Ignore   called once; start() waits for it
                       | action               (an action runs once start() has returned)
                                              then, for the oldest message:
        handle_call(request, caller)          a call(): reply with the return value
            -> value | Reply(v[, then=a])     ... the caller gets v (then the action a)
            -> NoReply([then=a]) | action     ... the caller waits for reply(caller, v)
            -> Stop(reason, reply=v)          ... reply (if given), then stop
        handle_cast(request)                  a cast()
        handle_info(message)                  anything else: Down, Exit, plain messages,
                                              and Timeout(s) after s idle seconds
            -> None | Stop(reason) | action
        handle_continue(term)                 right after a Continue(term) action
            -> None | Stop(reason) | action
        terminate(reason)                     on Stop, a crash in a callback, stop(), or
                                              the parent's exit while trapping exits;
                                              then exit with the reason
        format_status(state) -> shown         what get_state() and crash logs show

    An *action*, returned alone or as ``then=``, is one of ``Continue(term)`` (call
    ``handle_continue(term)`` before any message), ``Timeout(seconds)`` (call
    ``handle_info(Timeout(seconds))`` if no message comes in that time: an idle timeout) and
    ``Hibernate()`` (shed the idle mailbox and young garbage). The loop also answers the
    system messages of ``beamish.actors`` (``get_state``, ``replace_state``,
    ``statistics``, ``suspend``/``resume``, ``trace``) without calling back.

    Every callback may be ``def`` or ``async def``.

    - **Start is a handshake.** ``start`` and ``start_link`` return the pid only once
      ``init`` has finished. If ``init`` raises, returns ``Stop(reason)`` or ``Ignore()``,
      they raise ``StartError`` (``reason`` ``"ignore"`` for ``Ignore``), once the process
      has exited; a failed ``start_link`` does not take the starter down with it.
    - **Names.** ``name=`` registers the process before ``init`` runs (``NameTaken`` if it
      is taken): a ``str`` (a local name, which vanishes with the process), ``(name,
      node)`` on this node, or ``via(resolver, key)`` (a registry, or
      ``via(cluster.global_names(), key)`` for a cluster-wide name; given back if ``init``
      fails). Anything else raises ``TypeError`` in the caller before a process starts,
      as Elixir validates ``:name``.
    - **Crashes.** An exception in a callback crashes the process, never the runtime: every
      pending caller gets ``Exited(exception)``, linked processes get the exit signal, and
      the crash is logged with its traceback (``telemetry.PROCESS_CRASH``). No actor dies
      silently.
    - **Stopping with its parent.** A process started with ``start_link`` that traps exits
      (``beamish.trap_exits()`` in ``init``) stops with its parent's reason when the parent
      exits, running ``terminate``. One that does not trap exits is killed by the signal,
      and ``terminate`` does not run. Supervisors stop their children this way.
    - **Defaults.** An unexpected call or cast crashes the server with
      ``NotImplementedError``; an unexpected ``handle_info`` message is logged and dropped.
    - **Mailbox.** ``mailbox_limit`` and ``overflow`` (class attributes) bound the mailbox,
      as the same arguments of ``spawn`` do.

    Attributes:
        pid: this process's pid, set before ``init`` runs.
        mailbox_limit: the most messages the mailbox holds (``None``: unbounded).
        overflow: what a full mailbox does: ``"drop_newest"``, ``"drop_oldest"`` or
            ``"exit"`` (the server exits with ``MailboxFull``).

    Example:
        >>> import beamish
        >>> class Counter(beamish.Actor):
        ...     def init(self, start=0):
        ...         self.count = start
        ...     def handle_call(self, request, caller):
        ...         if request == "get":
        ...             return self.count
        ...         return beamish.Stop("normal", reply="bye")
        ...     def handle_cast(self, amount):
        ...         self.count += amount
        >>> async def main():
        ...     pid = await Counter.start_link(10, name="counter")
        ...     beamish.cast("counter", 5)
        ...     count = await beamish.call(pid, "get")
        ...     beamish.monitor(pid)
        ...     bye = await beamish.call(pid, "stop")
        ...     down = await beamish.receive()
        ...     return count, bye, down.reason
        >>> beamish.run(main)
        (15, 'bye', 'normal')
    """

    pid: Pid
    _parent: Pid | None = None  # who start_link-ed it: the one that stops it on shutdown
    _server: ServerRecord  # the loop's counters and flags (statistics, crash report)
    mailbox_limit: ClassVar[int | None] = None
    overflow: ClassVar[Overflow] = "drop_newest"

    def init(self, *args: Any) -> Any:
        """Set up the state, once, before any message; ``start`` waits for it. May be async.

        Args:
            *args: the arguments given to ``start``/``start_link`` (or the child spec).

        Returns:
            ``None`` to run; ``Stop(reason)`` to fail the start with ``reason``;
            ``Ignore()`` to start nothing (``start`` raises ``StartError("ignore")``, and a
            supervisor records the child as not running); an action (``Continue``,
            ``Timeout``, ``Hibernate``), done once ``start`` has returned.
        """
        if args:
            raise TypeError(f"{type(self).__name__}.init takes no arguments, got {args!r}")
        return None

    def handle_call(self, request: Any, caller: Caller) -> Any:
        """Answer a :func:`call`. May be async.

        Args:
            request: the value the caller passed to ``call``.
            caller: who to answer; keep it to answer later with ``reply(caller, value)``.

        Returns:
            The reply: any value, or ``Reply(value)`` (for a reply that is itself ``None``
            or a result type); ``NoReply()`` to answer later with ``reply``;
            ``Stop(reason, reply=value)`` to reply (if given) and stop. ``Reply(v,
            then=action)`` and ``NoReply(then=action)`` add an action; an action alone
            (``Continue``, ``Timeout``, ``Hibernate``) means ``NoReply(then=action)``.
        """
        raise NotImplementedError(f"{type(self).__name__} got an unexpected call: {request!r}")

    def handle_cast(self, request: Any) -> Any:
        """Handle a :func:`cast`. May be async.

        Args:
            request: the value the sender passed to ``cast``.

        Returns:
            ``None`` to go on, ``Stop(reason)`` to stop, or an action (``Continue``,
            ``Timeout``, ``Hibernate``).
        """
        raise NotImplementedError(f"{type(self).__name__} got an unexpected cast: {request!r}")

    def handle_info(self, message: Any) -> Any:
        """Handle any other message: ``Down`` from a monitor, ``Exit`` from a link while
        trapping exits, a timer's message, anything sent with ``send``, and the
        ``Timeout(seconds)`` of an idle timeout. May be async.

        Args:
            message: the message, as it was sent.

        Returns:
            ``None`` to go on, ``Stop(reason)`` to stop, or an action (``Continue``,
            ``Timeout``, ``Hibernate``).
        """
        _log.warning(
            "%s %r dropped an unexpected message: %r", type(self).__name__, self.pid, message
        )
        return None

    def handle_continue(self, term: Any) -> Any:
        """Go on with work a callback asked for with ``Continue(term)``, before the next
        message (OTP's ``handle_continue``). May be async.

        Args:
            term: the value given to ``Continue``.

        Returns:
            ``None`` to go on, ``Stop(reason)`` to stop, or another action.
        """
        raise NotImplementedError(
            f"{type(self).__name__} returned Continue({term!r}) but has no handle_continue"
        )

    def format_status(self, state: dict[str, Any]) -> Any:
        """What ``get_state``, ``replace_state`` and crash logs show of this server's state
        (OTP's ``format_status``): override it to hide secrets. Must not block.

        Args:
            state: the actor's instance attributes, as a new dict.

        Returns:
            What to show in place of the state; ``state`` itself by default.

        Example:
            >>> import beamish
            >>> from beamish.actors import get_state
            >>> class Vault(beamish.Actor):
            ...     def init(self, secret):
            ...         self.owner, self.secret = "ann", secret
            ...     def format_status(self, state):
            ...         return {**state, "secret": "***"}
            >>> async def main():
            ...     return await get_state(await Vault.start("hunter2"))
            >>> beamish.run(main)
            {'owner': 'ann', 'secret': '***'}
        """
        return state

    def _crash_report(self) -> dict[str, Any] | None:
        """The loop's report of this server's crash (name, parent, last message, state)."""
        server = getattr(self, "_server", None)
        return None if server is None else server.report

    def terminate(self, reason: Any) -> Any:
        """Clean up before the process exits. May be async.

        Runs when a callback returned ``Stop``, when a callback crashed, on ``stop()``, and
        when the parent exits while this process traps exits; not when the process is
        killed. If ``terminate`` raises, its exception becomes the exit reason (as in OTP).

        Args:
            reason: why the process is stopping; it exits with this reason.
        """
        return None

    @classmethod
    async def start(
        cls, *args: Any, name: StartName = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start a server, not linked to the caller; returns once ``init`` has finished.

        Args:
            *args: passed to ``init``.
            name: a name to register before ``init`` runs (see **Names** above).
            timeout: seconds ``init`` may take; past that the server is killed.

        Returns:
            The new server's pid.

        Raises:
            StartError: ``init`` raised (``reason`` is the exception), returned ``Stop``
                (its reason) or ``Ignore()`` (``"ignore"``), or took longer than
                ``timeout`` (``"timeout"``).
            NameTaken: ``name`` is registered already.
            TypeError: ``name`` or ``timeout`` is not one the API accepts (nothing starts).
        """
        return await cls._start(args, name, timeout, link=False)

    @classmethod
    async def start_link(
        cls, *args: Any, name: StartName = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start a server linked to the calling process; returns once ``init`` has finished.

        As :meth:`start`, with a link made before ``init`` runs, so the two die together
        unless one traps exits. Outside any process there is nothing to link to, and this
        is :meth:`start`. A failed start does not take the caller down: it raises
        ``StartError`` like ``start``.

        Args:
            *args: passed to ``init``.
            name: a name to register before ``init`` runs (see **Names** above).
            timeout: seconds ``init`` may take; past that the server is killed.

        Returns:
            The new server's pid.

        Raises:
            StartError: as for :meth:`start`.
            NameTaken: ``name`` is registered already.
            TypeError: ``name`` or ``timeout`` is not one the API accepts (nothing starts).
        """
        return await cls._start(args, name, timeout, link=True)

    @classmethod
    def child_spec(cls, *args: Any, name: StartName = None) -> dict[str, Any]:
        """How a supervisor starts this actor: ``{"id": cls.__name__, "start":
        (cls.start_link, args)}``, with the supervisor's defaults for the rest.

        Override it to change the defaults (``restart``, ``shutdown``, ``type``) for every
        supervisor that starts this class; ``beamish.supervision.child_spec(cls, ...)``
        overrides them for one child.

        Args:
            *args: the arguments of ``start_link``, and so of ``init``.
            name: passed to ``start_link`` (checked now). The id stays the class name, as
                in Elixir: give each of several named children of one class its own ``id``.

        Returns:
            A child spec, as a dict.
        """
        if name is None:
            return {"id": cls.__name__, "start": (cls.start_link, args)}
        check_start_name(name)
        return {"id": cls.__name__, "start": (functools.partial(cls.start_link, name=name), args)}

    @classmethod
    async def _start(
        cls, args: tuple[Any, ...], name: StartName, timeout: float | None, link: bool
    ) -> Pid:
        check_timeout(timeout)
        proc = current_process.get(None)
        if proc is not None:
            return await cls._start_from(proc, args, name, timeout, link)
        node = this_node()
        with node._anonymous() as anon:
            return await cls._start_from(anon, args, name, timeout, False)

    @classmethod
    async def _start_from(
        cls,
        proc: Process,
        args: tuple[Any, ...],
        name: StartName,
        timeout: float | None,
        link: bool,
    ) -> Pid:
        node = proc._node
        start_name = check_start_name(name, node.name)
        if start_name is not None and (holder := whereis_start_name(node, start_name)):
            raise NameTaken(f"{start_name!r} is already registered to {holder!r}")
        name = start_name
        ref = node.make_ref()
        pid = node._spawn(
            serve,
            (cls, args, proc.pid, ref, proc.pid if link else None, name),
            proc if link else None,
            cls.mailbox_limit,
            cls.overflow,
            proc.pid,
            proc,
        )
        ack = await await_slot(node, proc, pid, ref, timeout, None)
        ack_type = type(ack)
        if ack_type is Started:
            return pid
        if ack_type is not SlotEnd:  # StartFailed, StartIgnored
            await _wait_until_gone(proc, pid)  # as proc_lib: report once it has exited
            _release(name, pid)
            reason = ack.reason if ack_type is StartFailed else "ignore"
            if isinstance(reason, NameTaken):
                raise reason
            raise StartError(reason)
        _release(name, pid)
        if type(ack.outcome) is CallExited:
            raise StartError(ack.outcome.reason)
        if link:
            node._unlink(proc, pid)
        node.exit(proc.pid, pid, KILL)
        raise StartError("timeout")


__all__ = ["Actor", "Caller"]


def _release(name: str | Via | None, pid: Pid) -> None:
    """A failed start gives back a via name it took (OTP's ``gen:unregister_name``); a
    local name goes away with the process."""
    if isinstance(name, Via) and name.resolver.whereis_name(name.key) == pid:
        name.resolver.unregister_name(name.key)


async def _wait_until_gone(proc: Process, pid: Pid) -> None:
    node = proc._node
    if node._proc(pid) is None:
        return
    ref = node._monitor(proc, pid)
    await proc.receive(lambda m: type(m) is Down and m.ref == ref)
