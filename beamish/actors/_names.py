"""Destinations and name resolution: local names, ``(name, node)``, and resolvers.

The contract is on ``beamish.via`` and ``beamish.register``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ._pid import Pid


@runtime_checkable
class Resolver(Protocol):
    """Anything that maps keys to pids: plugged in with :func:`via`."""

    def whereis_name(self, key: Any) -> Pid | None: ...

    def register_name(self, key: Any, pid: Pid) -> None: ...

    def unregister_name(self, key: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Via:
    """A destination resolved by ``resolver`` (Elixir's ``{:via, module, key}``)."""

    resolver: Resolver
    key: Any


def via(resolver: Resolver, key: Any) -> Via:
    """A destination that ``resolver`` resolves: usable wherever a pid is accepted.

    A destination (``Dest``) is one of:

    - a ``Pid``;
    - a ``str``: a name registered on the local node with ``register``;
    - a ``(name, node)`` tuple: a name registered on that node (the cluster resolves it);
    - ``via(resolver, key)``: any object implementing :class:`Resolver` resolves ``key`` to a
      pid: ``beamish.cluster.global_names()`` for cluster-wide names, or one of your own.

    Local names follow Erlang: one name per process, a name belongs to one process, and it
    vanishes when the process exits. Registering a taken name raises ``NameTaken``.

    Args:
        resolver: any object with ``whereis_name(key)``, ``register_name(key, pid)`` and
            ``unregister_name(key)`` (the :class:`Resolver` protocol), such as
            ``beamish.cluster.global_names()``.
        key: the name to resolve, any value the resolver accepts.

    Returns:
        The destination, for ``send``, ``call``, ``cast``, ``monitor`` and ``exit``.

    Example:
        >>> class Static:
        ...     def __init__(self): self.names = {}
        ...     def whereis_name(self, key): return self.names.get(key)
        ...     def register_name(self, key, pid): self.names[key] = pid
        ...     def unregister_name(self, key): self.names.pop(key, None)
        >>> import beamish
        >>> names = Static()
        >>> async def main():
        ...     names.register_name("room:1", beamish.self())
        ...     beamish.send(beamish.via(names, "room:1"), "found")
        ...     return await beamish.receive(timeout=1)
        >>> beamish.run(main)
        'found'
    """
    return Via(resolver, key)


Dest = Pid | str | tuple[str, str] | Via
