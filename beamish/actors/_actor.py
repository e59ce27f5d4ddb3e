"""The ``Actor`` behaviour (OTP's gen_server); its contract is on :class:`Actor`."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from ._api import this_node
from ._call import DEFAULT_TIMEOUT, await_slot
from ._context import current_process
from ._errors import NameTaken, StartError
from ._mailbox import Overflow
from ._messages import Caller, Down
from ._pid import Pid
from ._reasons import KILL
from ._server import serve

_log = logging.getLogger("beamish.actor")


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
                                              then, for the oldest message:
        handle_call(request, caller)          a call(): reply with the return value
            -> value | Reply(v)               ... the caller gets v
            -> NoReply()                      ... the caller waits for reply(caller, v)
            -> Stop(reason, reply=v)          ... reply (if given), then stop
        handle_cast(request) -> None | Stop   a cast()
        handle_info(message) -> None | Stop   anything else: Down, Exit, plain messages
        terminate(reason)                     on Stop, a crash in a callback, stop(), or
                                              the parent's exit while trapping exits;
                                              then exit with the reason

    Every callback may be ``def`` or ``async def``.

    - **Start is a handshake.** ``start`` and ``start_link`` return the pid only once
      ``init`` has finished. If ``init`` raises, returns ``Stop(reason)`` or ``Ignore()``,
      they raise ``StartError`` (``reason`` ``"ignore"`` for ``Ignore``), once the process
      has exited; a failed ``start_link`` does not take the starter down with it.
    - **Names.** ``name=`` registers the process before ``init`` runs (``NameTaken`` if it
      is taken); the name vanishes with the process.
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
    mailbox_limit: ClassVar[int | None] = None
    overflow: ClassVar[Overflow] = "drop_newest"

    def init(self, *args: Any) -> Any:
        """Set up the state, once, before any message; ``start`` waits for it. May be async.

        Args:
            *args: the arguments given to ``start``/``start_link`` (or the child spec).

        Returns:
            ``None`` to run; ``Stop(reason)`` to fail the start with ``reason``;
            ``Ignore()`` to start nothing (``start`` raises ``StartError("ignore")``, and a
            supervisor records the child as not running).
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
            ``Stop(reason, reply=value)`` to reply (if given) and stop.
        """
        raise NotImplementedError(f"{type(self).__name__} got an unexpected call: {request!r}")

    def handle_cast(self, request: Any) -> Any:
        """Handle a :func:`cast`. May be async.

        Args:
            request: the value the sender passed to ``cast``.

        Returns:
            ``None`` to go on, or ``Stop(reason)`` to stop.
        """
        raise NotImplementedError(f"{type(self).__name__} got an unexpected cast: {request!r}")

    def handle_info(self, message: Any) -> Any:
        """Handle any other message: ``Down`` from a monitor, ``Exit`` from a link while
        trapping exits, a timer's message, anything sent with ``send``. May be async.

        Args:
            message: the message, as it was sent.

        Returns:
            ``None`` to go on, or ``Stop(reason)`` to stop.
        """
        _log.warning(
            "%s %r dropped an unexpected message: %r", type(self).__name__, self.pid, message
        )
        return None

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
        cls, *args: Any, name: str | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start a server, not linked to the caller; returns once ``init`` has finished.

        Args:
            *args: passed to ``init``.
            name: a local name to register before ``init`` runs.
            timeout: seconds ``init`` may take; past that the server is killed.

        Returns:
            The new server's pid.

        Raises:
            StartError: ``init`` raised (``reason`` is the exception), returned ``Stop``
                (its reason) or ``Ignore()`` (``"ignore"``), or took longer than
                ``timeout`` (``"timeout"``).
            NameTaken: ``name`` is registered already.
        """
        return await cls._start(args, name, timeout, link=False)

    @classmethod
    async def start_link(
        cls, *args: Any, name: str | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start a server linked to the calling process; returns once ``init`` has finished.

        As :meth:`start`, with a link made before ``init`` runs, so the two die together
        unless one traps exits. Outside any process there is nothing to link to, and this
        is :meth:`start`. A failed start does not take the caller down: it raises
        ``StartError`` like ``start``.

        Args:
            *args: passed to ``init``.
            name: a local name to register before ``init`` runs.
            timeout: seconds ``init`` may take; past that the server is killed.

        Returns:
            The new server's pid.

        Raises:
            StartError: as for :meth:`start`.
            NameTaken: ``name`` is registered already.
        """
        return await cls._start(args, name, timeout, link=True)

    @classmethod
    def child_spec(cls, *args: Any) -> dict[str, Any]:
        """How a supervisor starts this actor: ``{"id": cls.__name__, "start":
        (cls.start_link, args)}``, with the supervisor's defaults for the rest.

        Override it to change the defaults (``restart``, ``shutdown``, ``type``) for every
        supervisor that starts this class; ``beamish.supervision.child_spec(cls, ...)``
        overrides them for one child.

        Args:
            *args: the arguments of ``start_link``, and so of ``init``.

        Returns:
            A child spec, as a dict.
        """
        return {"id": cls.__name__, "start": (cls.start_link, args)}

    @classmethod
    async def _start(
        cls, args: tuple[Any, ...], name: str | None, timeout: float | None, link: bool
    ) -> Pid:
        proc = current_process.get(None)
        if proc is not None:
            return await cls._start_from(proc, args, name, timeout, link)
        node = this_node()
        with node.anonymous() as anon:
            return await cls._start_from(anon, args, name, timeout, False)

    @classmethod
    async def _start_from(
        cls, proc: Any, args: tuple[Any, ...], name: str | None, timeout: float | None, link: bool
    ) -> Pid:
        node = proc._node
        if name is not None and node.whereis(name) is not None:
            raise NameTaken(f"{name!r} is already registered to {node.whereis(name)!r}")
        ref = node.make_ref()
        pid = node.spawn(
            serve,
            (cls, args, proc.pid, ref, proc.pid if link else None, name),
            link=proc if link else None,
            mailbox_limit=cls.mailbox_limit,
            overflow=cls.overflow,
            parent=proc.pid,
        )
        kind, value = await await_slot(node, proc, pid, ref, timeout, None)
        if kind == "reply":
            status, detail = value
            if status == "ok":
                return pid  # type: ignore[no-any-return]
            await _wait_until_gone(proc, pid)  # as proc_lib: report once it has exited
            if isinstance(detail, NameTaken):
                raise detail
            raise StartError(detail)
        if kind == "down":
            raise StartError(value)
        if link:
            node.unlink(proc, pid)
        node.exit(proc.pid, pid, KILL)
        raise StartError("timeout")


__all__ = ["Actor", "Caller"]


async def _wait_until_gone(proc: Any, pid: Pid) -> None:
    node = proc._node
    if node._proc(pid) is None:
        return
    ref = node.monitor(proc, pid)
    await proc.receive(lambda m: type(m) is Down and m.ref == ref)
