"""The registry's functions: writes for the calling process, reads on the caller's side.

The contract is in ``beamish.registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..actors import Pid, Via, this_node
from ..actors import self as self_pid
from ..actors import via as actors_via
from ._patterns import ANY, Guard, Result, compile_match
from ._table import Entry, Table, _by_node, table_of

__all__ = [
    "count",
    "count_match",
    "count_select",
    "delete_meta",
    "dispatch",
    "keys",
    "lookup",
    "match",
    "meta",
    "put_meta",
    "register",
    "select",
    "unregister",
    "unregister_match",
    "update_value",
    "values",
    "via",
    "whereis",
]

_MISSING: Any = object()


def register(registry: str, key: Any, value: Any = None) -> Pid:
    """Register the calling process under ``key`` with ``value`` (Elixir's
    ``Registry.register/3``); the entry goes away when the process exits.

    Returns:
        The owner: the registry partition that watches the caller.

    Raises:
        AlreadyRegistered: a unique key held by a live process (``.pid``; the caller's own
            pid if it registered ``key`` already).
        UnknownRegistry: no registry ``registry`` runs on this node.
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="rooms", keys="unique")
        ...     registry.register("rooms", "lobby", {"topic": "hi"})
        ...     return registry.lookup("rooms", "lobby") == [(beamish.self(), {"topic": "hi"})]
        >>> beamish.run(main)
        True
    """
    table = table_of(registry)
    return table.register(key, self_pid(), value)


def unregister(registry: str, key: Any) -> None:
    """Remove the calling process's entries under ``key`` (none: nothing happens).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="rooms", keys="unique")
        ...     registry.register("rooms", "lobby")
        ...     registry.unregister("rooms", "lobby")
        ...     return registry.lookup("rooms", "lobby")
        >>> beamish.run(main)
        []
    """
    table_of(registry).unregister(key, self_pid())


def unregister_match(registry: str, key: Any, pattern: Any, guard: Guard | None = None) -> None:
    """Remove the calling process's entries under ``key`` whose value matches ``pattern``
    and ``guard`` (see **Patterns** in the package docstring).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="subs", keys="duplicate")
        ...     for n in (1, 2, 3):
        ...         registry.register("subs", "news", n)
        ...     registry.unregister_match("subs", "news", registry.Var("n"), lambda b: b["n"] > 1)
        ...     return registry.values("subs", "news", beamish.self())
        >>> beamish.run(main)
        [1]
    """
    test = compile_match(pattern, guard)
    table_of(registry).unregister(key, self_pid(), keep=lambda value: test(value) is None)


def update_value(registry: str, key: Any, fn: Callable[[Any], Any]) -> tuple[Any, Any] | None:
    """Replace the value of the calling process's entry under ``key`` by ``fn(value)``
    (unique registries only).

    Returns:
        ``(new, old)``, or None if the caller does not hold ``key``.

    Raises:
        ValueError: the registry has duplicate keys.

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="counters", keys="unique")
        ...     registry.register("counters", "hits", 1)
        ...     return registry.update_value("counters", "hits", lambda n: n + 1)
        >>> beamish.run(main)
        (2, 1)
    """
    table = table_of(registry)
    _unique_only(table, "update_value")
    return table.update(key, self_pid(), fn)


def put_meta(registry: str, key: Any, value: Any) -> None:
    """Store ``value`` under ``key`` in the registry's metadata (this node's copy).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="r", keys="unique", meta={"a": 1})
        ...     registry.put_meta("r", "b", 2)
        ...     registry.delete_meta("r", "a")
        ...     return registry.meta("r", "b"), registry.meta("r", "a", None)
        >>> beamish.run(main)
        (2, None)
    """
    hash(key)
    table_of(registry).meta[key] = value


def delete_meta(registry: str, key: Any) -> None:
    """Remove ``key`` from the registry's metadata (absent: nothing happens)."""
    table_of(registry).meta.pop(key, None)


def meta(registry: str, key: Any, default: Any = _MISSING) -> Any:
    """The registry's metadata under ``key`` (given at start, or by ``put_meta``).

    Raises:
        KeyError: no such key and no ``default``.
    """
    table = table_of(registry)
    if default is _MISSING:
        return table.meta[key]
    return table.meta.get(key, default)


def lookup(registry: str, key: Any) -> list[Entry]:
    """The entries under ``key``, as ``[(pid, value), ...]`` (Elixir's ``lookup/2``).

    A dict read on the caller's side: no message to the registry, and it works in any task
    of the node, process or not. Unique registries return at most one entry, and none for
    a local process that has exited but whose entry its partition has not removed yet.
    Duplicate registries list the entries in the order they were registered.

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="subs", keys="duplicate")
        ...     registry.register("subs", "news", "a")
        ...     registry.register("subs", "news", "b")
        ...     return [value for _pid, value in registry.lookup("subs", "news")]
        >>> beamish.run(main)
        ['a', 'b']
    """
    try:
        table = _by_node[id(this_node())][registry]
    except KeyError:
        table = table_of(registry)  # raises the clear error
    # Table.lookup inlined (a call less on the hot read); a killed registry's table stays
    # readable until a restart replaces it, as before
    if table.unique:
        held = table.entries.get(key)
        if held is None:
            return []
        if held[0][0] == table.node_name and not table.is_alive(held[0]):
            return []  # an exited holder its partition has not removed yet
        return [held]
    return list(table.entries.get(key, ()))


def whereis(registry: str, key: Any) -> Pid | None:
    """The process holding ``key`` in a unique registry, or None.

    Raises:
        ValueError: the registry has duplicate keys.

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="rooms", keys="unique")
        ...     registry.register("rooms", "lobby")
        ...     return registry.whereis("rooms", "lobby") == beamish.self()
        >>> beamish.run(main)
        True
    """
    table = table_of(registry)
    _unique_only(table, "whereis")
    found = table.lookup(key)
    return found[0][0] if found else None


def keys(registry: str, pid: Pid) -> list[Any]:
    """The keys ``pid`` is registered under, in registration order (one per entry).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="rooms", keys="unique")
        ...     registry.register("rooms", "a")
        ...     registry.register("rooms", "b")
        ...     return registry.keys("rooms", beamish.self())
        >>> beamish.run(main)
        ['a', 'b']
    """
    return list(table_of(registry).by_pid.get(pid, ()))


def values(registry: str, key: Any, pid: Pid) -> list[Any]:
    """The values ``pid`` registered under ``key`` (at most one in a unique registry)."""
    return [value for owner, value in lookup(registry, key) if owner == pid]


def match(registry: str, key: Any, pattern: Any, guard: Guard | None = None) -> list[Entry]:
    """The entries under ``key`` whose value matches ``pattern`` and ``guard`` (see
    **Patterns** in the package docstring).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> from beamish.registry import ANY, Var
        >>> async def main():
        ...     await registry.Registry.start_link(name="subs", keys="duplicate")
        ...     registry.register("subs", "news", ("en", 1))
        ...     registry.register("subs", "news", ("fr", 2))
        ...     english = registry.match("subs", "news", ("en", ANY))
        ...     big = registry.match("subs", "news", (ANY, Var("n")), lambda b: b["n"] > 1)
        ...     return [v for _, v in english], [v for _, v in big]
        >>> beamish.run(main)
        ([('en', 1)], [('fr', 2)])
    """
    test = compile_match(pattern, guard)
    return [entry for entry in lookup(registry, key) if test(entry[1]) is not None]


def count(registry: str) -> int:
    """The number of entries in the registry (this node's view)."""
    return table_of(registry).size


def count_match(registry: str, key: Any, pattern: Any, guard: Guard | None = None) -> int:
    """The number of entries :func:`match` would return."""
    return len(match(registry, key, pattern, guard))


def select(
    registry: str,
    pattern: Any = (ANY, ANY, ANY),
    guard: Guard | None = None,
    result: Result | None = None,
) -> list[Any]:
    """Every entry whose ``(key, pid, value)`` matches ``pattern`` and ``guard``: as the
    triple, or as ``result(bindings)`` (Elixir's ``select/2``, in Python's shape).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> from beamish.registry import ANY, Var
        >>> async def main():
        ...     await registry.Registry.start_link(name="rooms", keys="unique")
        ...     registry.register("rooms", "a", 1)
        ...     registry.register("rooms", "b", 5)
        ...     return registry.select(
        ...         "rooms", (Var("k"), ANY, Var("v")), lambda b: b["v"] > 2, lambda b: b["k"]
        ...     )
        >>> beamish.run(main)
        ['b']
    """
    table = table_of(registry)
    test = compile_match(pattern, guard)
    selected = []
    for entry in table.items():
        bindings = test(entry)
        if bindings is not None:
            selected.append(entry if result is None else result(bindings))
    return selected


def count_select(registry: str, pattern: Any = (ANY, ANY, ANY), guard: Guard | None = None) -> int:
    """The number of entries :func:`select` would return."""
    return len(select(registry, pattern, guard))


def dispatch(registry: str, key: Any, fn: Callable[[list[Entry]], Any]) -> None:
    """Call ``fn(entries)`` with the entries under ``key``, in the calling task; ``fn`` is
    not called when there are none (Elixir's ``dispatch/3``).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> async def main():
        ...     await registry.Registry.start_link(name="subs", keys="duplicate")
        ...     registry.register("subs", "news")
        ...     registry.dispatch(
        ...         "subs", "news", lambda entries: [beamish.send(p, "extra!") for p, _ in entries]
        ...     )
        ...     return await beamish.receive(timeout=1)
        >>> beamish.run(main)
        'extra!'
    """
    entries = lookup(registry, key)
    if entries:
        fn(entries)


@dataclass(frozen=True, slots=True, eq=False)
class RegistryName:
    """A registry as a :class:`beamish.Resolver`: what :func:`via` puts in its ``Via``.

    ``register_name(key, pid)`` registers ``key`` with the ``value`` given to ``via``, and
    only for the calling process, as Elixir's ``register_name/2``.
    """

    registry: str
    value: Any = None

    def whereis_name(self, key: Any) -> Pid | None:
        return whereis(self.registry, key)

    def register_name(self, key: Any, pid: Pid) -> None:
        table = table_of(self.registry)
        _unique_only(table, "via")
        if pid != self_pid():
            raise ValueError(f"a registry registers only the calling process, not {pid!r}")
        table.register(key, pid, self.value)

    def unregister_name(self, key: Any) -> None:
        table = table_of(self.registry)
        held = table.entries.get(key)
        if held is not None and table.node.is_local(held[0]):  # a node rules its own
            table.unregister(key, held[0], caller=False)


def via(registry: str, key: Any, value: Any = None) -> Via:
    """A name in a unique registry, usable wherever a destination is accepted: ``send``,
    ``call``, ``cast``, ``monitor``, ``exit``, ``Actor.start_link(name=...)`` and child
    specs. As a start name, the new process registers ``key`` with ``value`` before its
    ``init`` runs (Elixir's ``{:via, Registry, {registry, key, value}}``).

    Example:
        >>> import beamish
        >>> from beamish import registry
        >>> class Room(beamish.Actor):
        ...     def handle_call(self, request, caller):
        ...         return ("room says", request)
        >>> async def main():
        ...     await registry.Registry.start_link(name="rooms", keys="unique")
        ...     await Room.start_link(name=registry.via("rooms", "lobby"))
        ...     return await beamish.call(registry.via("rooms", "lobby"), "hi")
        >>> beamish.run(main)
        ('room says', 'hi')
    """
    hash(key)
    return actors_via(RegistryName(registry, value), key)


def _unique_only(table: Table, what: str) -> None:
    if not table.unique:
        raise ValueError(f"{what} needs a unique registry; {table.name!r} has duplicate keys")
