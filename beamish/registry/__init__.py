"""Elixir's Registry: find processes by key, on one node or across the cluster.

A registry is a process per node, started under a supervisor, plus a table that every
function here reads and writes *on the caller's side*: ``lookup`` is a dict read, as Elixir
reads its ETS table, and never waits for a process.

>>> import beamish
>>> from beamish import registry
>>> from beamish.registry import Registry
>>> class Room(beamish.Actor):
...     def handle_call(self, request, caller):
...         return f"lobby got {request}"
>>> async def main():
...     await Registry.start_link(name="rooms", keys="unique")
...     await Room.start_link(name=registry.via("rooms", "lobby"))
...     return await beamish.call(registry.via("rooms", "lobby"), "hello")
>>> beamish.run(main)
'lobby got hello'

Semantics
---------
- **Keys.** ``keys="unique"``: a key has at most one entry (``register`` of a taken key
  raises ``AlreadyRegistered(pid)``). ``keys="duplicate"``: any number of entries per key,
  several from one process included (a pub/sub topic's subscribers).
- **Ownership.** ``register`` and ``unregister`` act for the calling process. Its entries
  vanish when it exits: a partition of the registry is linked to it (as in Elixir, a
  crashed registry takes its registered processes down with it). Until the partition has
  handled the exit, a duplicate ``lookup`` may still list the dead pid; a unique one does
  not (it checks that a local holder is alive).
- **Names.** ``via(registry, key)`` is a destination for ``send``, ``call``, ``cast``,
  ``monitor``, ``exit``, and a ``name=`` for ``Actor.start_link`` and child specs.
- **Listeners.** Each process in ``listeners=`` gets ``Registered(registry, key, pid,
  value)`` and ``Unregistered(registry, key, pid)`` for every entry added or removed.
- **Patterns** (``match``, ``select``, ``unregister_match``): ``ANY`` matches anything,
  ``Var("x")`` matches anything and binds ``x`` (twice: equal values), tuples, lists and
  dicts match structurally (a dict pattern's keys must be present), anything else by
  ``==``. ``guard(bindings) -> bool`` filters; a guard that raises selects nothing.
- **Cluster scope** (``scope="cluster"``, with ``beamish.cluster`` started, the same
  registry started on each node): writes are local-first and replicated asynchronously;
  after a partition heals every node picks the same winner for a unique key and the loser
  gets the exit signal ``("name_conflict", key, winner)`` (or ``resolve(key, loser,
  winner)`` runs on its node). docs/registry.md states the consistency model.
"""

from .._public import present_as as _present_as
from ._api import RegistryName as RegistryName
from ._api import count as count
from ._api import count_match as count_match
from ._api import count_select as count_select
from ._api import delete_meta as delete_meta
from ._api import dispatch as dispatch
from ._api import keys as keys
from ._api import lookup as lookup
from ._api import match as match
from ._api import meta as meta
from ._api import put_meta as put_meta
from ._api import register as register
from ._api import select as select
from ._api import unregister as unregister
from ._api import unregister_match as unregister_match
from ._api import update_value as update_value
from ._api import values as values
from ._api import via as via
from ._api import whereis as whereis
from ._errors import AlreadyRegistered as AlreadyRegistered
from ._errors import UnknownRegistry as UnknownRegistry
from ._patterns import ANY as ANY
from ._patterns import Var as Var
from ._registry import Registry as Registry
from ._registry import RegistryOptions as RegistryOptions
from ._registry import set_cluster_scope as set_cluster_scope
from ._table import Registered as Registered
from ._table import Replication as Replication
from ._table import Table as Table
from ._table import Unregistered as Unregistered

_present_as(__name__, globals())
