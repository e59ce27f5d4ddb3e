"""The application the OS-process nodes of test_os_nodes.py run.

    python -m beamish run tests.cluster.nodeapp:main --name n1@127.0.0.1 --cookie C \\
        --listen 127.0.0.1:0 --seed 127.0.0.1:4370 --no-discovery

It registers ``ctl`` (a :class:`Control` server), prints ``READY <name> <address>`` on
stdout once its cluster listens, and runs until it is killed. Messages that cross the
wire are plain tuples, strings and pids, so the test process needs no import of this
module under the same name.
"""

from __future__ import annotations

import os

import beamish
from beamish import cluster


async def victim() -> None:
    """Waits for "die" (then crashes) or "stop" (then exits normally)."""
    message = await beamish.receive(lambda m: m in ("die", "stop"))
    if message == "die":
        raise RuntimeError("victim told to die")


async def sink(peer: str, count: int, address: str, report_to: beamish.Pid) -> None:
    """Receives the integers 0..count-1 from ``peer``; after the first 1,000 it connects to
    ``address`` (``peer``'s, already connected); reports (received, gaps, NodeDowns, what
    connect returned) to ``report_to`` once it has them all or ``peer`` went down."""
    cluster.monitor_node(peer)
    me = beamish.self()
    received, gaps, downs, connected = 0, [], [], None

    async def connect() -> None:
        beamish.send(me, ("connected", await cluster.connect(address)))

    while received < count and not downs:
        message = await beamish.receive()
        if isinstance(message, cluster.NodeDown):
            downs.append(str(message.reason))
        elif isinstance(message, tuple):
            connected = message[1]
        else:
            if message != received:
                gaps.append((received, message))
            received = message + 1
            if received == 1000:
                beamish.spawn(connect)
    if connected is None and not downs:
        message = await beamish.receive(lambda m: isinstance(m, tuple), timeout=10)
        connected = message[1]
    beamish.send(report_to, ("sink", received, gaps, downs, connected))


async def stream(target: beamish.Pid, count: int) -> None:
    """Sends the integers 0..count-1 to ``target``."""
    for i in range(count):
        beamish.send(target, i)
        if i % 500 == 0:
            await beamish.sleep(0)


def _event(message: object) -> tuple[object, ...] | None:
    if isinstance(message, beamish.Exit):
        return ("exit", message.pid, message.reason)
    if isinstance(message, beamish.Down):
        return ("down", message.pid, message.reason)
    if isinstance(message, cluster.NodeDown):
        return ("nodedown", message.node, str(message.reason))
    return None


class Control(beamish.Actor):
    """What the test asks a node to do, by call; it records the exits, downs and node
    downs its links and monitors deliver, and answers ``("events", n)`` once it has n."""

    def init(self) -> None:
        beamish.trap_exits(True)
        cluster.monitor_nodes(True)
        self.events: list[tuple[object, ...]] = []
        self.waiting_events: list[tuple[int, beamish.Caller]] = []
        self.waiting_nodes: list[tuple[set[str], beamish.Caller]] = []
        self.waiting_apart: list[tuple[set[str], beamish.Caller]] = []

    def handle_call(self, request: tuple[object, ...], caller: beamish.Caller) -> object:
        op = request[0]
        if op == "echo":
            return (beamish.this_node().name, request[1])
        if op == "os_pid":
            return os.getpid()
        if op == "sink":
            return beamish.spawn(sink, *request[1:])
        if op == "stream":
            return beamish.spawn(stream, *request[1:])
        if op == "victim":  # a process of this node, for the test to link to and kill
            return beamish.spawn(victim)
        if op == "watch":  # link to and monitor a (remote) pid, and watch its node
            pid = request[1]
            assert isinstance(pid, beamish.Pid)
            beamish.link(pid)
            beamish.monitor(pid)
            cluster.monitor_node(pid.node)
            return "watching"
        if op == "events":
            self.waiting_events.append((int(request[1]), caller))  # type: ignore[call-overload]
            self._flush()
            return beamish.NoReply()
        if op == "nodes":  # answers once connected to every node named
            self.waiting_nodes.append((set(request[1]), caller))  # type: ignore[arg-type]
            self._flush()
            return beamish.NoReply()
        if op == "apart":  # answers once connected to none of the nodes named
            self.waiting_apart.append((set(request[1]), caller))  # type: ignore[arg-type]
            self._flush()
            return beamish.NoReply()
        if op == "addresses":  # the address this node knows for each peer
            return dict(cluster.this_cluster().addresses)
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: tuple[beamish.Pid, object]) -> None:
        owner, payload = request
        beamish.send(owner, ("cast", beamish.this_node().name, payload))

    def handle_info(self, message: object) -> None:
        event = _event(message)
        if event is not None:
            self.events.append(event)
        self._flush()

    def _flush(self) -> None:
        for entry in list(self.waiting_events):
            if len(self.events) >= entry[0]:
                self.waiting_events.remove(entry)
                beamish.reply(entry[1], list(self.events))
        connected = set(cluster.nodes())
        for wanted in list(self.waiting_nodes):
            if wanted[0] <= connected:
                self.waiting_nodes.remove(wanted)
                beamish.reply(wanted[1], sorted(connected))
        for apart in list(self.waiting_apart):
            if not apart[0] & connected:
                self.waiting_apart.remove(apart)
                beamish.reply(apart[1], sorted(connected))


async def main() -> None:
    await Control.start(name="ctl")
    the_cluster = cluster.this_cluster()
    print(f"READY {beamish.this_node().name} {the_cluster.address}", flush=True)
    await beamish.receive(lambda message: False)  # until the process is killed


async def options() -> tuple[bool, list[str] | None]:
    """What the command line set: (allow_pickle, spawn_modules)."""
    the_cluster = cluster.this_cluster()
    modules = the_cluster.spawn_modules
    return the_cluster.codec.allow_pickle, None if modules is None else sorted(modules)


async def addressing() -> tuple[str | None, str | None, str | None]:
    """What the command line set: (listen address, advertised address, dial-from host)."""
    the_cluster = cluster.this_cluster()
    local_host = getattr(the_cluster.transport, "local_host", None)
    return the_cluster.address, the_cluster.public_address, local_host
