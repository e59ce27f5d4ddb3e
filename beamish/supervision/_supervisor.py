"""``Supervisor`` (OTP's supervisor); its contract is on :class:`Supervisor`."""

from __future__ import annotations

import functools
import inspect
import logging
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

from ..actors import (
    Actor,
    Caller,
    Exit,
    Pid,
    Reply,
    StartError,
    StartName,
    Stop,
    call,
    sleep,
    this_node,
    trap_exits,
)
from ..actors import describe as describe_reason
from ._errors import (
    AlreadyPresent,
    AlreadyStarted,
    ChildNotFound,
    ChildRunning,
    InvalidChildSpec,
    MaxChildren,
)
from ._intensity import backoff_delay, record_restart
from ._shutdown import shutdown_child
from ._spec import ChildSpec, check_children, check_name, child_spec
from ._strategy import STRATEGIES, Strategy, restart_plan, should_restart

_log = logging.getLogger("beamish.supervisor")

AutoShutdown = Literal["never", "any_significant", "all_significant"]
AUTO_SHUTDOWNS: tuple[AutoShutdown, ...] = ("never", "any_significant", "all_significant")


class ChildInfo(NamedTuple):
    """One row of ``which_children``: ``pid`` is None when the child is not running."""

    id: Hashable
    pid: Pid | None
    type: str
    restart: str


class ChildCounts(NamedTuple):
    """``count_children``: specs, running children, and specs by type."""

    specs: int
    active: int
    supervisors: int
    workers: int


@dataclass(frozen=True, slots=True)
class SupervisorOptions:
    """Validated supervisor flags."""

    strategy: Strategy = "one_for_one"
    max_restarts: int = 3
    max_seconds: float = 5.0
    auto_shutdown: AutoShutdown = "never"
    backoff: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ValueError(f"max_restarts must be an int >= 0, got {self.max_restarts!r}")
        if not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds!r}")
        if self.auto_shutdown not in AUTO_SHUTDOWNS:
            raise ValueError(f"auto_shutdown must be one of {AUTO_SHUTDOWNS}")
        if self.backoff is not None and not (0 < self.backoff[0] <= self.backoff[1]):
            raise ValueError("backoff must be (initial, maximum) with 0 < initial <= maximum")


class _Child:
    __slots__ = ("pid", "spec")

    def __init__(self, spec: ChildSpec, pid: Pid | None) -> None:
        self.spec = spec
        self.pid = pid


class _Failed(NamedTuple):
    """A supervisor call that failed: raised again in the caller, not in the supervisor."""

    error: BaseException


async def start_spec(spec: ChildSpec) -> Pid | None:
    """Run a spec's start callable in the calling process; None if the child ignored."""
    fn, args = spec.start
    try:
        if spec.placement is not None:
            result = await spec.placement.place(spec.start)
        else:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
    except StartError as exc:
        if exc.reason == "ignore":
            return None
        raise
    if result is None:
        return None
    if type(result) is not Pid:
        raise TypeError(f"start of child {spec.id!r} returned {result!r}, not a pid")
    return result


_REFUSALS = (ChildNotFound, AlreadyPresent, AlreadyStarted, ChildRunning, StartError, MaxChildren)


class RequestServer(Actor):
    """The supervisors' ``handle_call``: a request ``(op, *args)`` is answered by
    ``handle_request``; a refusal (a supervision error) goes back to the caller, raised
    there, and never crashes the supervisor."""

    async def handle_call(self, request: Any, caller: Caller) -> Any:
        try:
            return Reply(await self.handle_request(request))
        except _REFUSALS as exc:
            return Reply(_Failed(exc))

    async def handle_request(self, request: Any) -> Any:
        """Answer one supervisor request (each supervisor matches its own)."""
        return _Failed(ValueError(f"{type(self).__name__} has no operation {request!r}"))


class Supervisor(RequestServer):
    """A supervisor process. Pass ``children`` to ``start_link``, or subclass and override
        :meth:`children` (and the class attributes) for a module-based supervisor.

    Semantics (OTP's supervisor)
    ----------------------------
    - Children start in order, each ``start_link`` handshake finishing before the next; if one
      fails, those already started are stopped in reverse and ``start_link`` raises
      ``StartError(("failed_to_start_child", id, reason))``.
    - A child that exits is restarted according to its ``restart`` type (``permanent`` always,
      ``transient`` after an abnormal exit, ``temporary`` never) and the strategy:
      ``one_for_one`` restarts it alone; ``one_for_all`` stops the others (reverse order) and
      restarts all; ``rest_for_one`` stops and restarts the children started after it too.
    - More than ``max_restarts`` restarts within ``max_seconds`` and the supervisor stops its
      children and exits ``"shutdown"``, which escalates to its own supervisor.
    - Each child is stopped with OTP's shutdown protocol (``shutdown_child``: the
      ``shutdown`` signal, a bounded wait, then ``kill``); the supervisor's own exit stops
      every child in reverse start order.
    - ``auto_shutdown``: ``"never"`` (default), ``"any_significant"`` or ``"all_significant"``:
      the supervisor exits ``"shutdown"`` when a significant child (or the last of them) exits
      and is not restarted.
    - ``backoff=(initial, maximum)`` waits ``initial * 2**(n-1)`` seconds (at most
      ``maximum``) before the n-th restart in the window; off by default, as in OTP.

    Example:
        >>> import beamish
        >>> from beamish.supervision import Supervisor, which_children
        >>> class Worker(beamish.Actor):
        ...     def handle_call(self, request, caller):
        ...         raise RuntimeError("crash on purpose")
        >>> async def main():
        ...     sup = await Supervisor.start_link([(Worker,)], strategy="one_for_one")
        ...     [(child_id, first, *_)] = await which_children(sup)
        ...     try:
        ...         await beamish.call(first, "boom")
        ...     except beamish.Exited:
        ...         pass
        ...     [(_, second, *_)] = await which_children(sup)
        ...     return child_id, first != second
        >>> beamish.run(main)
        ('Worker', True)
    """

    strategy: ClassVar[Strategy] = "one_for_one"
    max_restarts: ClassVar[int] = 3
    max_seconds: ClassVar[float] = 5.0
    auto_shutdown: ClassVar[AutoShutdown] = "never"
    backoff: ClassVar[tuple[float, float] | None] = None

    def children(self, *args: Any) -> Sequence[Any]:
        """The child specs of a module-based supervisor (override)."""
        raise NotImplementedError(
            f"{type(self).__name__}: pass children= to start_link or override children()"
        )

    @classmethod
    async def start_link(  # type: ignore[override]
        cls,
        *args: Any,
        children: Sequence[Any] | None = None,
        name: StartName = None,
        **flags: Any,
    ) -> Pid:
        """Start a supervisor linked to the caller; returns once every child has started.

        ``flags``: ``strategy``, ``max_restarts``, ``max_seconds``, ``auto_shutdown``,
        ``backoff`` (defaults from the class attributes). ``children`` (a list) and
        ``name`` are checked here, before the supervisor starts: a bad child spec or a
        duplicate id raises ``InvalidChildSpec`` in the caller.
        """
        children, args = cls._children_and_args(args, children)
        return await cls._start(
            (cls._options(flags), children, args), name, timeout=None, link=True
        )

    @classmethod
    async def start(  # type: ignore[override]
        cls,
        *args: Any,
        children: Sequence[Any] | None = None,
        name: StartName = None,
        **flags: Any,
    ) -> Pid:
        """Start an unlinked supervisor (a root, or one embedded in another application)."""
        children, args = cls._children_and_args(args, children)
        return await cls._start(
            (cls._options(flags), children, args), name, timeout=None, link=False
        )

    @classmethod
    def child_spec(
        cls,
        *args: Any,
        id: Hashable | None = None,
        children: Sequence[Any] | None = None,
        name: StartName = None,
        **flags: Any,
    ) -> dict[str, Any]:
        """A supervisor as a child: ``type="supervisor"`` (so ``shutdown="infinity"``).

        ``flags``, ``children`` and ``name`` are checked now, not when the parent starts it.
        """
        cls._options(flags)
        if children is not None:
            children = check_children(children)
        if name is not None:
            check_name(name)
            flags["name"] = name
        start = functools.partial(cls.start_link, children=children, **flags)
        return {
            "id": cls.__name__ if id is None else id,
            "start": (start, args),
            "type": "supervisor",
        }

    @classmethod
    def _children_and_args(
        cls, args: tuple[Any, ...], children: Sequence[Any] | None
    ) -> tuple[Sequence[Any] | None, tuple[Any, ...]]:
        # Supervisor.start_link(children, ...) as in Elixir; subclasses that override
        # children() get their positional arguments passed to it.
        if children is None and cls.children is Supervisor.children and len(args) == 1:
            children, args = args[0], ()
        if children is not None:
            children = check_children(children)
        return children, args

    @classmethod
    def _options(cls, flags: dict[str, Any]) -> SupervisorOptions:
        defaults = {
            "strategy": cls.strategy,
            "max_restarts": cls.max_restarts,
            "max_seconds": cls.max_seconds,
            "auto_shutdown": cls.auto_shutdown,
            "backoff": cls.backoff,
        }
        unknown = set(flags) - set(defaults)
        if unknown:
            raise TypeError(f"unknown supervisor flags: {sorted(unknown)}")
        return SupervisorOptions(**{**defaults, **flags})

    # -- the process --

    async def init(  # type: ignore[override]
        self, options: SupervisorOptions, children: Sequence[Any] | None, args: tuple[Any, ...]
    ) -> Any:
        trap_exits(True)
        self.options = options
        self._children: dict[Hashable, _Child] = {}
        self._by_pid: dict[Pid, Hashable] = {}
        self._restarts: deque[float] = deque()
        specs = [
            child_spec(c) for c in (children if children is not None else self.children(*args))
        ]
        seen: set[Hashable] = set()
        for spec in specs:
            if spec.id in seen:
                raise InvalidChildSpec("id", spec.id, "duplicate id under one supervisor")
            seen.add(spec.id)
        for spec in specs:
            try:
                pid = await start_spec(spec)
            except Exception as exc:
                reason = exc.reason if isinstance(exc, StartError) else exc
                _log.error(
                    "supervisor %r: child %r failed to start: %s",
                    self.pid,
                    spec.id,
                    describe_reason(reason),
                )
                await self._stop_all()
                return Stop(("failed_to_start_child", spec.id, reason))
            self._add(spec, pid)
        return None

    def _add(self, spec: ChildSpec, pid: Pid | None) -> None:
        if pid is None and spec.restart == "temporary":
            return
        self._children[spec.id] = _Child(spec, pid)
        if pid is not None:
            self._by_pid[pid] = spec.id

    async def handle_info(self, message: Any) -> Any:
        if type(message) is Exit:
            child_id = self._by_pid.pop(message.pid, None)
            if child_id is not None:
                return await self._child_exited(child_id, message.reason)
            return None
        return super().handle_info(message)

    async def _child_exited(self, child_id: Hashable, reason: Any) -> Any:
        child = self._children[child_id]
        child.pid = None
        spec = child.spec
        if spec.restart == "temporary":
            del self._children[child_id]
        if not should_restart(spec.restart, reason):
            return self._auto_shutdown(spec)
        if _log.isEnabledFor(logging.INFO):  # (the reason is not described for nothing)
            why = describe_reason(reason)
            _log.info("supervisor %r: restarting %r after %s", self.pid, child_id, why)
        return await self._restart(child_id)

    def _auto_shutdown(self, spec: ChildSpec) -> Any:
        mode = self.options.auto_shutdown
        if not spec.significant or mode == "never":
            return None
        if mode == "all_significant" and any(
            c.spec.significant and c.pid is not None for c in self._children.values()
        ):
            return None
        return Stop("shutdown")

    async def _restart(self, child_id: Hashable) -> Any:
        options = self.options
        now = this_node().clock.now()
        allowed = record_restart(self._restarts, now, options.max_restarts, options.max_seconds)
        if not allowed:
            _log.error(
                "supervisor %r: reached max restart intensity (%d in %ss); shutting down",
                self.pid,
                options.max_restarts,
                options.max_seconds,
            )
            return Stop("shutdown")
        stop: list[Hashable]
        start: list[Hashable]
        if options.strategy == "one_for_one":  # restart_plan's answer, without a pass
            stop, start = [], [child_id]  # over every child per restart
        else:
            order = list(self._children)
            restarted = {cid for cid, c in self._children.items() if c.spec.restart != "temporary"}
            stop, start = restart_plan(options.strategy, order, child_id, restarted)
        for sibling in stop:
            await self._stop_child(sibling)
        if options.backoff is not None:
            await sleep(backoff_delay(len(self._restarts), *options.backoff))
        for cid in start:
            child = self._children.get(cid)
            if child is None:
                continue
            try:
                pid = await start_spec(child.spec)
            except Exception as exc:
                _log.error(
                    "supervisor %r: restarting %r failed: %s",
                    self.pid,
                    cid,
                    describe_reason(exc.reason if isinstance(exc, StartError) else exc),
                )
                return await self._restart(cid)
            child.pid = pid
            if pid is not None:
                self._by_pid[pid] = cid
        return None

    async def _stop_child(self, child_id: Hashable) -> None:
        child = self._children.get(child_id)
        if child is None or child.pid is None:
            return
        pid = child.pid
        self._by_pid.pop(pid, None)
        await shutdown_child(pid, child.spec.shutdown)
        child.pid = None
        if child.spec.restart == "temporary":
            del self._children[child_id]

    async def _stop_all(self) -> None:
        for child_id in reversed(list(self._children)):
            await self._stop_child(child_id)

    async def terminate(self, reason: Any) -> None:
        await self._stop_all()

    # -- requests (RequestServer answers them; errors go back to the caller) --

    async def handle_request(self, request: Any) -> Any:
        match request:
            case ("which_children",):
                return await self._which_children()
            case ("count_children",):
                return await self._count_children()
            case ("start_child", ChildSpec() as spec):
                return await self._start_child(spec)
            case ("terminate_child", child_id):
                return await self._terminate_child(child_id)
            case ("restart_child", child_id):
                return await self._restart_child(child_id)
            case ("delete_child", child_id):
                return await self._delete_child(child_id)
        return await super().handle_request(request)

    async def _which_children(self) -> list[ChildInfo]:
        return [
            ChildInfo(cid, c.pid, c.spec.type, c.spec.restart) for cid, c in self._children.items()
        ]

    async def _count_children(self) -> ChildCounts:
        kids = list(self._children.values())
        supervisors = sum(1 for c in kids if c.spec.type == "supervisor")
        active = sum(1 for c in kids if c.pid is not None)
        return ChildCounts(len(kids), active, supervisors, len(kids) - supervisors)

    async def _start_child(self, spec: ChildSpec) -> Pid | None:
        existing = self._children.get(spec.id)
        if existing is not None:
            if existing.pid is not None:
                raise AlreadyStarted(spec.id, existing.pid)
            raise AlreadyPresent(spec.id)
        try:
            pid = await start_spec(spec)
        except StartError:
            raise
        except Exception as exc:
            raise StartError(exc) from exc
        self._add(spec, pid)
        return pid

    def _get(self, child_id: Hashable) -> _Child:
        child = self._children.get(child_id)
        if child is None:
            raise ChildNotFound(f"no child {child_id!r} under {self.pid!r}")
        return child

    async def _terminate_child(self, child_id: Hashable) -> None:
        self._get(child_id)
        await self._stop_child(child_id)

    async def _restart_child(self, child_id: Hashable) -> Pid | None:
        child = self._get(child_id)
        if child.pid is not None:
            raise ChildRunning(f"child {child_id!r} is running")
        try:
            pid = await start_spec(child.spec)
        except StartError:
            raise
        except Exception as exc:
            raise StartError(exc) from exc
        child.pid = pid
        if pid is not None:
            self._by_pid[pid] = child_id
        return pid

    async def _delete_child(self, child_id: Hashable) -> None:
        child = self._get(child_id)
        if child.pid is not None:
            raise ChildRunning(f"child {child_id!r} is running; terminate_child it first")
        del self._children[child_id]


async def _request(sup: Any, *request: Any) -> Any:
    result = await call(sup, request, timeout=None)
    if type(result) is _Failed:
        raise result.error
    return result


async def which_children(sup: Any) -> list[ChildInfo]:
    """The children of ``sup`` in start order (OTP's ``supervisor:which_children``).

    Args:
        sup: the supervisor's pid or name.

    Returns:
        One ``ChildInfo(id, pid, type, restart)`` per child; ``pid`` is ``None`` for a child
        that is not running (terminated, or it returned ``Ignore``).

    Example:
        >>> import beamish
        >>> from beamish.supervision import Supervisor, which_children
        >>> class Worker(beamish.Actor):
        ...     pass
        >>> async def main():
        ...     sup = await Supervisor.start_link([(Worker,)])
        ...     return [(c.id, c.type, c.restart) for c in await which_children(sup)]
        >>> beamish.run(main)
        [('Worker', 'worker', 'permanent')]
    """
    return await _request(sup, "which_children")  # type: ignore[no-any-return]


async def count_children(sup: Any) -> ChildCounts:
    """How many child specs, running children, supervisors and workers ``sup`` has (OTP's
    ``supervisor:count_children``).

    Returns:
        ``ChildCounts(specs, active, supervisors, workers)``.
    """
    return await _request(sup, "count_children")  # type: ignore[no-any-return]


async def start_child(sup: Any, child: Any, **overrides: Any) -> Pid | None:
    """Add a child to a running supervisor and start it (OTP's ``supervisor:start_child``).

    Under a ``Supervisor`` the child joins the end of the start order; under a
    ``DynamicSupervisor`` it is one more child, kept by pid.

    Args:
        sup: the supervisor's pid or name.
        child: a child spec in any form ``child_spec`` takes: a ``ChildSpec``, a dict, an
            ``Actor`` class, ``(ActorClass, *args)``, or anything with ``child_spec()``.
        **overrides: spec fields to override (``id``, ``restart``, ``shutdown``, ...).

    Returns:
        The child's pid, or ``None`` if its ``init`` returned ``Ignore``.

    Raises:
        AlreadyStarted: a running child has that id (``exc.pid`` is it).
        AlreadyPresent: a child with that id is there, not running (``delete_child`` it).
        MaxChildren: a ``DynamicSupervisor`` runs ``max_children`` already.
        StartError: the child failed to start.
        InvalidChildSpec: the spec is not valid.
    """
    return await _request(sup, "start_child", child_spec(child, **overrides))  # type: ignore[no-any-return]


async def terminate_child(sup: Any, child_id: Hashable) -> None:
    """Stop a child with its shutdown protocol (OTP's ``supervisor:terminate_child``).

    A ``Supervisor`` keeps the child's spec, so ``restart_child`` can start it again
    (a temporary child's spec goes); a ``DynamicSupervisor`` forgets the child.

    Args:
        sup: the supervisor's pid or name.
        child_id: the child's id; its pid under a ``DynamicSupervisor``.

    Raises:
        ChildNotFound: no such child.
    """
    await _request(sup, "terminate_child", child_id)


async def restart_child(sup: Any, child_id: Hashable) -> Pid | None:
    """Start again a child stopped by ``terminate_child`` (OTP's
    ``supervisor:restart_child``).

    Returns:
        The child's new pid, or ``None`` if it returned ``Ignore``.

    Raises:
        ChildRunning: the child is running.
        ChildNotFound: no such child.
    """
    return await _request(sup, "restart_child", child_id)  # type: ignore[no-any-return]


async def delete_child(sup: Any, child_id: Hashable) -> None:
    """Remove the spec of a child that is not running (OTP's ``supervisor:delete_child``).

    Raises:
        ChildRunning: the child is running (``terminate_child`` it first).
        ChildNotFound: no such child.
    """
    await _request(sup, "delete_child", child_id)
