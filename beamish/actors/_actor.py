"""The ``Actor`` behaviour (OTP's gen_server): subclass it, override the callbacks.

>>> import beamish
>>> class Counter(beamish.Actor):
...     def init(self, start=0):
...         self.count = start
...     def handle_call(self, request, caller):
...         if request == "get":
...             return self.count
...     def handle_cast(self, request):
...         self.count += request
>>> async def main():
...     pid = await Counter.start_link(10)
...     beamish.cast(pid, 5)
...     return await beamish.call(pid, "get")
>>> beamish.run(main)
15

Semantics
---------
- ``start``/``start_link`` return the pid only once ``init`` has finished (a start
  handshake). If ``init`` raises, returns ``Stop(reason)`` or ``Ignore()``, they raise
  ``StartError`` (with ``reason`` ``"ignore"`` for ``Ignore``); a failed ``start_link``
  does not take the starter down with it.
- ``name=`` registers the process before ``init`` runs (``NameTaken`` if it is taken):
  a ``str`` (a local name), ``(name, node)`` on this node, or ``via(resolver, key)`` (a
  registry, or ``via(cluster.global_names(), key)`` for a cluster-wide name). Anything
  else raises ``TypeError`` in the caller, before a process starts (Elixir's ``:name``
  validation). A via name is unregistered again if ``init`` fails.
- A process started with ``start_link`` that traps exits stops with its parent's reason
  when the parent exits, running ``terminate`` (as OTP does). A process that does not trap
  exits is simply killed by the signal; ``terminate`` then does not run.
- Default callbacks: an unexpected call or cast crashes the server with
  ``NotImplementedError``; an unexpected ``handle_info`` message is logged and dropped.
"""

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
from ._pid import Pid
from ._reasons import KILL
from ._server import serve

_log = logging.getLogger("beamish.actor")

StartName = str | Via | tuple[str, str] | None
"""What ``name=`` accepts where a process starts (see ``Actor.start``)."""


class Actor:
    """Base class for servers; see the module docstring for the contract."""

    pid: Pid
    _parent: Pid | None = None  # who start_link-ed it: the one that stops it on shutdown
    mailbox_limit: ClassVar[int | None] = None
    overflow: ClassVar[Overflow] = "drop_newest"

    def init(self, *args: Any) -> Any:
        """Set up state; return None, ``Stop(reason)`` or ``Ignore()``. May be async."""
        if args:
            raise TypeError(f"{type(self).__name__}.init takes no arguments, got {args!r}")
        return None

    def handle_call(self, request: Any, caller: Caller) -> Any:
        """Answer a call: return a value, ``Reply(v)``, ``NoReply()`` or ``Stop(...)``."""
        raise NotImplementedError(f"{type(self).__name__} got an unexpected call: {request!r}")

    def handle_cast(self, request: Any) -> Any:
        """Handle a cast: return None or ``Stop(reason)``."""
        raise NotImplementedError(f"{type(self).__name__} got an unexpected cast: {request!r}")

    def handle_info(self, message: Any) -> Any:
        """Handle any other message: return None or ``Stop(reason)``."""
        _log.warning(
            "%s %r dropped an unexpected message: %r", type(self).__name__, self.pid, message
        )
        return None

    def terminate(self, reason: Any) -> Any:
        """Clean up before the process exits with ``reason``. May be async."""
        return None

    @classmethod
    async def start(
        cls, *args: Any, name: StartName = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start an unlinked server; returns its pid once ``init`` has finished."""
        return await cls._start(args, name, timeout, link=False)

    @classmethod
    async def start_link(
        cls, *args: Any, name: StartName = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start a server linked to the caller; returns its pid once ``init`` finished."""
        return await cls._start(args, name, timeout, link=True)

    @classmethod
    def child_spec(cls, *args: Any, name: StartName = None) -> dict[str, Any]:
        """How a supervisor starts this actor (override to change the defaults).

        ``name`` is passed to ``start_link`` (checked now); the id stays the class name,
        as in Elixir, so give each of several named children its own ``id``.
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
        with node.anonymous() as anon:
            return await cls._start_from(anon, args, name, timeout, False)

    @classmethod
    async def _start_from(
        cls, proc: Any, args: tuple[Any, ...], name: StartName, timeout: float | None, link: bool
    ) -> Pid:
        node = proc._node
        start_name = check_start_name(name, node.name)
        if start_name is not None and (holder := whereis_start_name(node, start_name)):
            raise NameTaken(f"{start_name!r} is already registered to {holder!r}")
        name = start_name
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
            _release(name, pid)
            if isinstance(detail, NameTaken):
                raise detail
            raise StartError(detail)
        _release(name, pid)
        if kind == "down":
            raise StartError(value)
        if link:
            node.unlink(proc, pid)
        node.exit(proc.pid, pid, KILL)
        raise StartError("timeout")


__all__ = ["Actor", "Caller"]


def _release(name: str | Via | None, pid: Pid) -> None:
    """A failed start gives back a via name it took (OTP's ``gen:unregister_name``); a
    local name goes away with the process."""
    if isinstance(name, Via) and name.resolver.whereis_name(name.key) == pid:
        name.resolver.unregister_name(name.key)


async def _wait_until_gone(proc: Any, pid: Pid) -> None:
    node = proc._node
    if node._proc(pid) is None:
        return
    ref = node.monitor(proc, pid)
    await proc.receive(lambda m: type(m) is Down and m.ref == ref)
