"""Helpers for tests that run several distributed nodes in one test process."""

import contextlib
import itertools

import anyio

import beamish
from beamish import cluster, telemetry
from beamish.runtime import run_main

COOKIE = "test-cookie"


class Echo(beamish.Actor):
    """Answers calls with (its node, the request); crashes on "crash"."""

    def handle_call(self, request, caller):
        if request == "crash":
            raise ValueError("echo crashed")
        return (beamish.this_node().name, request)

    def handle_cast(self, request):
        owner, payload = request
        beamish.send(owner, ("cast", payload))


@contextlib.asynccontextmanager
async def nodes(
    transport_for, names, *, cookies=None, heartbeat=15.0, listen_for=None, options=None
):
    """Start one node with distribution per name; yields {name: (node, cluster)}.

    ``heartbeat`` is one tick for all nodes or a {name: tick} dict (15 s for the others);
    ``options`` maps a name to more ``cluster.start`` keywords for that node.
    """
    started = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in names:
            node = await stack.enter_async_context(beamish.runtime.start(name=name))
            cookie = (cookies or {}).get(name, COOKIE)
            listen = listen_for(name) if listen_for else f"mem://{name}"
            the_cluster = await stack.enter_async_context(
                cluster.start(
                    cookie=cookie,
                    transport=transport_for(name),
                    listen=listen,
                    discovery=False,
                    heartbeat=heartbeat.get(name, 15.0)
                    if isinstance(heartbeat, dict)
                    else heartbeat,
                    **(options or {}).get(name, {}),
                )
            )
            started[name] = (node, the_cluster)
        yield started


async def on(node, fn, *args):
    """Run ``fn(*args)`` as a process of ``node`` and return its result."""
    return await run_main(node, fn, *args)


_ids = itertools.count()


async def until_connected(the_cluster, peers, timeout=10):
    """Wait (on nodeup events, not polling) until ``the_cluster`` is connected to ``peers``."""
    done = anyio.Event()

    def check(*_):
        if set(peers) <= set(the_cluster.nodes()):
            done.set()

    handler = f"meshkit-{next(_ids)}"
    telemetry.attach(handler, cluster._mesh.NODE_UP, check)
    try:
        check()
        with anyio.fail_after(timeout):
            await done.wait()
    finally:
        telemetry.detach(handler)


class Recorder:
    """Records one telemetry event's metadata (process-wide) and waits for a count of it."""

    def __init__(self, event, node=None):
        self.event, self.node, self.seen = event, node, []
        self._changed = anyio.Event()
        self._id = f"meshkit-recorder-{next(_ids)}"

    def __enter__(self):
        telemetry.attach(self._id, self.event, self._on)
        return self

    def __exit__(self, *exc):
        telemetry.detach(self._id)

    def _on(self, _event, _measurements, metadata, _config):
        if self.node is None or metadata.get("node") == self.node:
            self.seen.append(dict(metadata))
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, count, timeout=10):
        with anyio.fail_after(timeout):
            while len(self.seen) < count:
                await self._changed.wait()
        return self.seen
