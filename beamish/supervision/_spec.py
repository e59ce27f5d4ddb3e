"""Child specifications: validated, frozen data with overridable defaults.

>>> import beamish
>>> class Worker(beamish.Actor):
...     pass
>>> spec = child_spec(Worker, restart="transient")
>>> spec.id, spec.restart, spec.shutdown, spec.type
('Worker', 'transient', 5.0, 'worker')
>>> child_spec((Worker, 1), id="w1").start[1]
(1,)
>>> ChildSpec(id="x", start=(Worker.start_link, ()), restart="sometimes")
Traceback (most recent call last):
...
beamish.supervision.InvalidChildSpec: invalid child spec: restart='sometimes' (one of ...)

A child is described by any of:

- a ``ChildSpec``;
- an ``Actor`` subclass: ``cls.child_spec()``;
- a tuple ``(ActorClass, *args)``: ``cls.child_spec(*args)``;
- a mapping with the ``ChildSpec`` fields (what ``Actor.child_spec`` returns);
- any object with a ``child_spec()`` method (a ``WorkerPool``).

``placement`` puts the child somewhere else than the supervisor's node: with
``placement=pool`` (a ``beamish.workers.WorkerPool``) it is started in one of the pool's
worker processes, still linked to, and stopped by, its supervisor.

``start`` is ``(callable, args)``: the callable, sync or async, starts the child *linked to
the calling process* (the supervisor) and returns its pid; ``Actor.start_link`` is one.

``child_spec(child, name=...)`` names the child (Elixir's ``name:`` option): the name is
passed to the start function as ``name=``, so it takes a local name, ``(name, node)``,
``via(resolver, key)`` or a cluster-wide ``via(cluster.global_names(), key)``. The ``id``
is unchanged: give each of several named children of one class its own ``id``.

>>> named = child_spec(Worker, name="worker_1", id="w1")
>>> named.start[0].keywords
{'name': 'worker_1'}

Defaults follow Elixir: ``restart="permanent"``; ``shutdown`` 5 seconds for a worker and
``"infinity"`` for a supervisor; ``type="worker"``; ``significant=False``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..actors import check_start_name
from ._errors import InvalidChildSpec

Restart = Literal["permanent", "transient", "temporary"]


class Placement(Protocol):
    """Where a child runs when not in the supervisor's node: a ``WorkerPool`` is one.

    ``place(start)`` runs ``start`` (``(callable, args)``) there, links the child to the
    calling process (the supervisor) and returns its pid (None if the child ignored).
    """

    async def place(self, start: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any: ...


Shutdown = float | Literal["brutal_kill", "infinity"]
ChildType = Literal["worker", "supervisor"]

RESTARTS: tuple[Restart, ...] = ("permanent", "transient", "temporary")
TYPES: tuple[ChildType, ...] = ("worker", "supervisor")
DEFAULT_WORKER_SHUTDOWN = 5.0


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child."""

    id: Hashable
    start: tuple[Callable[..., Any], tuple[Any, ...]]
    restart: Restart = "permanent"
    shutdown: Shutdown | None = None
    type: ChildType = "worker"
    significant: bool = False
    placement: Placement | None = None

    def __post_init__(self) -> None:
        try:
            hash(self.id)
        except TypeError:
            raise InvalidChildSpec("id", self.id, "must be hashable") from None
        start = self.start
        if (
            not isinstance(start, tuple)
            or len(start) != 2
            or not callable(start[0])
            or not isinstance(start[1], tuple)
        ):
            raise InvalidChildSpec("start", start, "a (callable, args tuple) pair")
        if self.restart not in RESTARTS:
            raise InvalidChildSpec("restart", self.restart, "one of " + ", ".join(RESTARTS))
        if self.type not in TYPES:
            raise InvalidChildSpec("type", self.type, "one of " + ", ".join(TYPES))
        shutdown = self.shutdown
        if shutdown is None:
            shutdown = "infinity" if self.type == "supervisor" else DEFAULT_WORKER_SHUTDOWN
            object.__setattr__(self, "shutdown", shutdown)
        elif isinstance(shutdown, bool) or not (
            shutdown in ("brutal_kill", "infinity")
            or (isinstance(shutdown, int | float) and shutdown >= 0)
        ):
            raise InvalidChildSpec(
                "shutdown", shutdown, 'seconds >= 0, "brutal_kill" or "infinity"'
            )
        if self.placement is not None and not callable(getattr(self.placement, "place", None)):
            raise InvalidChildSpec("placement", self.placement, "None, or a worker pool")
        if not isinstance(self.significant, bool):
            raise InvalidChildSpec("significant", self.significant, "True or False")
        if self.significant and self.restart == "permanent":
            raise InvalidChildSpec(
                "significant", True, "a significant child must be transient or temporary"
            )


_FIELDS = frozenset(f.name for f in dataclasses.fields(ChildSpec))


def child_spec(child: Any, *, name: Any = None, **overrides: Any) -> ChildSpec:
    """Turn any child description into a validated ``ChildSpec``, applying ``overrides``.

    Args:
        child: a ``ChildSpec``, an ``Actor`` class, ``(ActorClass, *args)``, a dict of
            ``ChildSpec`` fields, or an object with a ``child_spec()`` method.
        name: the child's name (Elixir's ``name:``), passed to its start function as
            ``name=``: a local name, ``(name, node)``, ``via(resolver, key)`` or
            ``via(cluster.global_names(), key)``. The ``id`` stays as it is.
        **overrides: ``ChildSpec`` fields to replace (``id``, ``restart``, ...).

    Returns:
        The validated ``ChildSpec``.

    Raises:
        InvalidChildSpec: a field is invalid, unknown or missing, or ``name`` is not a
            name, or the start function takes no ``name=``.

    Example:
        >>> import beamish
        >>> class Cache(beamish.Actor):
        ...     pass
        >>> spec = child_spec(Cache, name="cache", restart="transient")
        >>> spec.id, spec.restart, spec.start[0].keywords
        ('Cache', 'transient', {'name': 'cache'})
    """
    spec = _child_spec(child, overrides)
    if name is None:
        return spec
    check_name(name)
    fn, args = spec.start
    if not _takes_name(fn):
        raise InvalidChildSpec("name", name, f"the start function {fn!r} takes no name=")
    return dataclasses.replace(spec, start=(functools.partial(fn, name=name), args))


def check_name(name: Any) -> None:
    """Raise ``InvalidChildSpec("name", ...)`` unless ``name`` is a valid start name."""
    try:
        check_start_name(name)
    except (TypeError, ValueError) as exc:
        raise InvalidChildSpec("name", name, str(exc)) from None


def _takes_name(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True  # cannot tell: let the start function decide
    return any(
        p.kind == p.VAR_KEYWORD
        or (p.name == "name" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def check_children(children: Any) -> list[ChildSpec]:
    """Validate a supervisor's ``children``: a list of child descriptions with unique ids."""
    if isinstance(children, str | bytes | Mapping) or not isinstance(children, list | tuple):
        raise InvalidChildSpec(
            "children", children, "a list of child specs (ChildSpec, Actor class, (cls, *args))"
        )
    specs = [child_spec(c) for c in children]
    seen: set[Hashable] = set()
    for spec in specs:
        if spec.id in seen:
            raise InvalidChildSpec(
                "id", spec.id, "duplicate id under one supervisor: give each child its own id="
            )
        seen.add(spec.id)
    return specs


def _child_spec(child: Any, overrides: dict[str, Any]) -> ChildSpec:
    if isinstance(child, ChildSpec):
        base: Mapping[str, Any] = {f: getattr(child, f) for f in _FIELDS}
        if (
            "type" in overrides
            and "shutdown" not in overrides
            and child.shutdown
            in (
                DEFAULT_WORKER_SHUTDOWN,
                "infinity",
            )
        ):
            base = {**base, "shutdown": None}
    elif isinstance(child, type) and hasattr(child, "child_spec"):
        base = _as_mapping(child.child_spec(), child)
    elif isinstance(child, tuple) and child and isinstance(child[0], type):
        cls = child[0]
        if not hasattr(cls, "child_spec"):
            raise InvalidChildSpec("child", child, f"{cls.__name__} has no child_spec()")
        base = _as_mapping(cls.child_spec(*child[1:]), child)
    elif isinstance(child, Mapping):
        base = child
    elif callable(getattr(child, "child_spec", None)):
        base = _as_mapping(child.child_spec(), child)
    else:
        raise InvalidChildSpec(
            "child", child, "a ChildSpec, an Actor class, (cls, *args) or a dict"
        )
    unknown = set(overrides) - _FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidChildSpec(name, overrides[name], "not a ChildSpec field")
    fields = {**base, **overrides}
    missing = {"id", "start"} - set(fields)
    if missing:
        name = sorted(missing)[0]
        raise InvalidChildSpec(name, None, "required")
    extra = set(fields) - _FIELDS
    if extra:
        name = sorted(extra)[0]
        raise InvalidChildSpec(name, fields[name], "not a ChildSpec field")
    return ChildSpec(**fields)


def _as_mapping(value: Any, child: Any) -> Mapping[str, Any]:
    if isinstance(value, ChildSpec):
        return {f: getattr(value, f) for f in _FIELDS}
    if isinstance(value, Mapping):
        return value
    raise InvalidChildSpec("child_spec", value, f"child_spec() of {child!r} must return a dict")
