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
- ``name=`` registers the process before ``init`` runs (``NameTaken`` if it is taken).
- A process started with ``start_link`` that traps exits stops with its parent's reason
  when the parent exits, running ``terminate`` (as OTP does). A process that does not trap
  exits is simply killed by the signal; ``terminate`` then does not run.
- Default callbacks: an unexpected call or cast crashes the server with
  ``NotImplementedError``; an unexpected ``handle_info`` message is logged and dropped.
"""

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
        cls, *args: Any, name: str | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start an unlinked server; returns its pid once ``init`` has finished."""
        return await cls._start(args, name, timeout, link=False)

    @classmethod
    async def start_link(
        cls, *args: Any, name: str | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Pid:
        """Start a server linked to the caller; returns its pid once ``init`` finished."""
        return await cls._start(args, name, timeout, link=True)

    @classmethod
    def child_spec(cls, *args: Any) -> dict[str, Any]:
        """How a supervisor starts this actor (override to change the defaults)."""
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
