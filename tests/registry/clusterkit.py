"""Helpers for cluster-scoped registry tests: nodes over the in-memory network, a watcher
per node that waits (on the registry's own listener messages) for a view to hold."""


import anyio
from meshkit import nodes, on, until_connected

import beamish
from beamish import registry
from beamish.registry import Registered, Registry, Unregistered

__all__ = [
    "Claimer",
    "Watch",
    "connect_all",
    "nodes",
    "on",
    "start_registry",
    "until_connected",
    "until_agreed",
    "until_one_of",
    "until_view",
    "until_within",
    "view",
]

REPLICATION = {"broadcast_period": 0.05, "down_period": 0.6}


class Watch(beamish.Actor):
    """The registry's listener on one node: answers ``("until", key, pids)`` once
    ``lookup(key)`` lists exactly ``pids`` (a set), checking again on every event."""

    def init(self, name):
        self.name = name
        self.waiting = []
        self.events = []

    def handle_call(self, request, caller):
        if request == "events":
            return list(self.events)
        kind, key, pids = request
        if self._holds(kind, key, pids):
            return None
        self.waiting.append((caller, kind, key, pids))
        return beamish.NoReply()

    def handle_info(self, message):
        if isinstance(message, Registered | Unregistered):
            self.events.append(message)
            still = []
            for caller, kind, key, pids in self.waiting:
                if self._holds(kind, key, pids):
                    beamish.reply(caller, None)
                else:
                    still.append((caller, kind, key, pids))
            self.waiting = still

    def _holds(self, kind, key, pids):
        """``until``: the view is exactly ``pids``; ``within``: at most ``pids``;
        ``one_of``: exactly one of ``pids``."""
        seen = {pid for pid, _ in registry.lookup(self.name, key)}
        if kind == "until":
            return seen == set(pids)
        if kind == "within":
            return seen <= set(pids)
        if kind == "not":
            return seen != set(pids)
        return len(seen) == 1 and seen <= set(pids)


class Claimer(beamish.Actor):
    """Registers ``key`` in ``name`` at start; traps exits and keeps the Exit messages."""

    def init(self, name, key, value=None):
        beamish.trap_exits(True)
        self.exits = []
        registry.register(name, key, value)

    def handle_call(self, request, caller):
        return list(self.exits)

    def handle_info(self, message):
        if isinstance(message, beamish.Exit):
            self.exits.append(message)


async def _start(name, keys, options):
    await Watch.start(name, name=f"watch-{name}")
    await Registry.start(
        name=name, keys=keys, scope="cluster", listeners=[f"watch-{name}"], **options
    )


async def start_registry(started, name="reg", keys="unique", **options):
    """Start the cluster-scoped registry ``name`` (and its watcher) on every node."""
    options.setdefault("replication", REPLICATION)
    for node, _ in started.values():
        await on(node, _start, name, keys, options)


async def _until(name, kind, key, pids, timeout):
    with anyio.fail_after(timeout):
        await beamish.call(f"watch-{name}", (kind, key, frozenset(pids)), timeout=None)


async def until_view(started, key, pids, name="reg", timeout=10):
    """Wait until every node's lookup of ``key`` lists exactly ``pids``."""
    for node, _ in started.values():
        await on(node, _until, name, "until", key, pids, timeout)


async def until_within(started, key, pids, name="reg", timeout=10):
    """Wait until no node's lookup of ``key`` lists a pid outside ``pids``."""
    for node, _ in started.values():
        await on(node, _until, name, "within", key, pids, timeout)


async def until_one_of(started, key, pids, name="reg", timeout=10):
    """Wait until every node's lookup of ``key`` lists exactly one of ``pids``."""
    for node, _ in started.values():
        await on(node, _until, name, "one_of", key, pids, timeout)


async def until_agreed(started, key, name="reg", timeout=10):
    """Wait until every node's lookup of ``key`` lists the same pids; return them. Between
    looks it waits (on listener messages) for any node's view to change."""
    with anyio.fail_after(timeout):
        while True:
            views = await view(started, key, name)
            seen = {n: frozenset(pid for pid, _ in found) for n, found in views.items()}
            if len(set(seen.values())) == 1:
                return set(seen[next(iter(seen))])
            async with anyio.create_task_group() as group:

                async def first_change(n, pids, scope):
                    await on(started[n][0], _until, name, "not", key, pids, timeout)
                    scope.cancel()

                for n in started:
                    group.start_soon(first_change, n, seen[n], group.cancel_scope)


async def _lookup(name, key):
    return registry.lookup(name, key)


async def view(started, key, name="reg"):
    """Each node's lookup of ``key``."""
    return {n: await on(node, _lookup, name, key) for n, (node, _) in started.items()}


async def connect_all(started):
    """Connect the first node to the others; wait until every node sees every other."""
    names = list(started)
    first = started[names[0]][1]
    for other in names[1:]:
        await first.connect("mem://" + other)
    for name, (_, the_cluster) in started.items():
        await until_connected(the_cluster, [n for n in started if n != name])
