"""``DynamicSupervisor`` (Elixir's); its contract is on :class:`DynamicSupervisor`."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import deque
from typing import Any, ClassVar

from ..actors import (
    KILL,
    SHUTDOWN,
    Down,
    Exit,
    Pid,
    StartError,
    StartName,
    Stop,
    exit,
    monitor,
    receive,
    this_node,
    trap_exits,
    unlink,
)
from ..actors import describe as describe_reason
from ._errors import ChildNotFound, MaxChildren
from ._intensity import record_restart
from ._shutdown import shutdown_child
from ._spec import ChildSpec, check_name
from ._strategy import should_restart
from ._supervisor import ChildCounts, ChildInfo, RequestServer, _log, start_spec


class DynamicSupervisor(RequestServer):
    """A supervisor of children started on demand.

    Semantics (Elixir's DynamicSupervisor)
    --------------------------------------
    - Starts with no children; ``start_child(sup, child)`` starts one (``MaxChildren`` when
      ``max_children`` run already). ``extra_arguments`` are put before each child's own start
      arguments.
    - Children are kept by pid (no ids), so start, exit and lookup cost O(1) with tens of
      thousands of children. ``terminate_child(sup, pid)`` stops one.
    - Restarts follow each child's ``restart`` type, counted against ``max_restarts`` in
      ``max_seconds``; beyond that the supervisor exits ``"shutdown"``. A ``temporary``
      child is never restarted, so its start arguments are not kept (as in OTP): a
      connection's request data lives no longer than the connection's own process wants.
    - On exit, all children get the shutdown signal at once, and the supervisor waits up to
      the longest ``shutdown`` among them before killing what is left.

    Example:
        >>> import beamish
        >>> from beamish.supervision import DynamicSupervisor, start_child, count_children
        >>> class Session(beamish.Actor):
        ...     def init(self, user):
        ...         self.user = user
        >>> async def main():
        ...     sup = await DynamicSupervisor.start_link(max_children=1000)
        ...     for user in ("ann", "bob"):
        ...         await start_child(sup, (Session, user))
        ...     return (await count_children(sup)).active
        >>> beamish.run(main)
        2
    """

    max_restarts: ClassVar[int] = 3
    max_seconds: ClassVar[float] = 5.0
    max_children: ClassVar[int | None] = None

    @classmethod
    async def start_link(  # type: ignore[override]
        cls, *, name: StartName = None, **options: Any
    ) -> Pid:
        """Start a dynamic supervisor linked to the caller.

        ``options``: ``max_children``, ``extra_arguments``, ``max_restarts``, ``max_seconds``.
        """
        return await cls._start((cls._settings(options),), name, timeout=None, link=True)

    @classmethod
    async def start(cls, *, name: StartName = None, **options: Any) -> Pid:  # type: ignore[override]
        """Start an unlinked dynamic supervisor."""
        return await cls._start((cls._settings(options),), name, timeout=None, link=False)

    @classmethod
    def child_spec(  # type: ignore[override]
        cls, *, id: Any = None, name: StartName = None, **options: Any
    ) -> dict[str, Any]:
        """A dynamic supervisor as a child: ``type="supervisor"``; options and ``name``
        checked now."""
        cls._settings(dict(options))
        if name is not None:
            check_name(name)
            options["name"] = name
        return {
            "id": cls.__name__ if id is None else id,
            "start": (functools.partial(cls.start_link, **options), ()),
            "type": "supervisor",
        }

    @classmethod
    def _settings(cls, options: dict[str, Any]) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "max_children": cls.max_children,
            "extra_arguments": (),
            "max_restarts": cls.max_restarts,
            "max_seconds": cls.max_seconds,
        }
        unknown = set(options) - set(settings)
        if unknown:
            raise TypeError(f"unknown DynamicSupervisor options: {sorted(unknown)}")
        settings.update(options)
        limit = settings["max_children"]
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"max_children must be None or an int >= 0, got {limit!r}")
        if not isinstance(settings["max_restarts"], int) or settings["max_restarts"] < 0:
            raise ValueError(f"max_restarts must be an int >= 0, got {settings['max_restarts']!r}")
        if not settings["max_seconds"] > 0:
            raise ValueError(f"max_seconds must be > 0, got {settings['max_seconds']!r}")
        settings["extra_arguments"] = tuple(settings["extra_arguments"])
        return settings

    def init(self, settings: dict[str, Any]) -> None:  # type: ignore[override]
        trap_exits(True)
        self._max_children: int | None = settings["max_children"]
        self._extra: tuple[Any, ...] = settings["extra_arguments"]
        self._max_restarts: int = settings["max_restarts"]
        self._max_seconds: float = settings["max_seconds"]
        self._children: dict[Pid, ChildSpec] = {}
        self._restarts: deque[float] = deque()

    async def handle_request(self, request: Any) -> Any:
        match request:
            case ("start_child", ChildSpec() as spec):
                return await self._start_child(spec)
            case ("terminate_child", pid):
                return await self._terminate_child(pid)
            case ("which_children",):
                return self._which_children()
            case ("count_children",):
                return self._count_children()
        return await super().handle_request(request)

    async def _start_child(self, spec: ChildSpec) -> Pid | None:
        if self._max_children is not None and len(self._children) >= self._max_children:
            raise MaxChildren(f"{self.pid!r} already runs max_children={self._max_children}")
        if self._extra:
            fn, args = spec.start
            spec = dataclasses.replace(spec, start=(fn, self._extra + args))
        try:
            pid = await start_spec(spec)
        except StartError:
            raise
        except Exception as exc:
            raise StartError(exc) from exc
        if pid is not None:
            if spec.restart == "temporary":  # never restarted: drop its arguments (OTP's way)
                spec = dataclasses.replace(spec, start=(spec.start[0], ()))
            self._children[pid] = spec
        return pid

    async def _terminate_child(self, pid: Pid) -> None:
        spec = self._children.pop(pid, None)
        if spec is None:
            raise ChildNotFound(f"{pid!r} is not a child of {self.pid!r}")
        await shutdown_child(pid, spec.shutdown)

    def _which_children(self) -> list[ChildInfo]:
        return [ChildInfo(s.id, pid, s.type, s.restart) for pid, s in self._children.items()]

    def _count_children(self) -> ChildCounts:
        supervisors = sum(1 for s in self._children.values() if s.type == "supervisor")
        total = len(self._children)
        return ChildCounts(total, total, supervisors, total - supervisors)

    async def handle_info(self, message: Any) -> Any:
        if type(message) is not Exit:
            return super().handle_info(message)
        spec = self._children.pop(message.pid, None)
        if spec is None or not should_restart(spec.restart, message.reason):
            return None
        if _log.isEnabledFor(logging.INFO):  # (the reason is not described for nothing)
            _log.info(
                "dynamic supervisor %r: restarting %r (was %r) after %s",
                self.pid,
                spec.id,
                message.pid,
                describe_reason(message.reason),
            )
        return await self._restart(spec, message.reason)

    async def _restart(self, spec: ChildSpec, reason: Any) -> Any:
        now = this_node().clock.now()
        allowed = record_restart(self._restarts, now, self._max_restarts, self._max_seconds)
        if not allowed:
            _log.error(
                "dynamic supervisor %r: reached max restart intensity (%d in %ss); shutting down",
                self.pid,
                self._max_restarts,
                self._max_seconds,
            )
            return Stop("shutdown")
        try:
            pid = await start_spec(spec)
        except Exception as exc:
            failure = exc.reason if isinstance(exc, StartError) else exc
            _log.error(
                "dynamic supervisor %r: restarting %r failed: %s",
                self.pid,
                spec.id,
                describe_reason(failure),
            )
            return await self._restart(spec, failure)
        if pid is not None:
            self._children[pid] = spec
        return None

    async def terminate(self, reason: Any) -> None:
        await stop_all(self._children)
        self._children.clear()


async def stop_all(children: dict[Pid, ChildSpec]) -> None:
    """Stop many children at once: signal all, wait up to the longest shutdown, kill the rest."""
    if not children:
        return
    waiting: dict[Any, Pid] = {}
    longest: float | None = 0.0
    for pid, spec in children.items():
        waiting[monitor(pid)] = pid
        unlink(pid)
        if spec.shutdown == "brutal_kill":
            exit(pid, KILL)
            continue
        exit(pid, SHUTDOWN)
        if spec.shutdown == "infinity":
            longest = None
        elif longest is not None and isinstance(spec.shutdown, int | float):
            longest = max(longest, float(spec.shutdown))

    def is_ours(message: Any) -> bool:
        return type(message) is Down and message.ref in waiting

    clock = this_node().clock
    deadline = None if longest is None else clock.now() + longest
    try:
        while waiting:
            left = None if deadline is None else max(0.0, deadline - clock.now())
            down = await receive(is_ours, left)
            del waiting[down.ref]
    except TimeoutError:
        for pid in waiting.values():
            exit(pid, KILL)
        while waiting:
            down = await receive(is_ours)
            del waiting[down.ref]
