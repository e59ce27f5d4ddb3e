"""Cut and heal the network between nodes that talk real TCP (OS processes or not).

Each member node gets its own loopback address (127.0.0.2, 127.0.0.3, ...: Linux routes all
of 127/8), listens there and dials from there (``--connect-from``, i.e.
``TcpTransport(local_host=...)``), and advertises a relay that runs here, in the test
process (``--advertise``). Every peer reaches it through that relay, which knows each
connection's pair from the dialler's source address, as a firewall rule would: it never
reads a beamish frame (so TLS works too).

A cut is silent, like a pulled cable: for a pair that is cut the relay stops reading and
writing (both sockets stay open, the bytes wait in the kernel's buffers), and a new
connection is accepted but not forwarded (a dropped SYN), so only heartbeats notice. On
heal the waiting bytes and connections flow again, and what the nodes closed meanwhile
closes then.

    async with netsplit() as net:
        a = await net.launch(launch, "a")                  # launch: osnodes.launcher's
        b = await net.launch(launch, "b", seeds=[net["a"].relay])
        net.cut(["a"], ["b"])
        net.heal()

Connections from an address no member owns (the test process's own node on 127.0.0.1)
are relayed and never cut. Benchmarks import it with ``tests/cluster`` on ``sys.path``.
"""

from __future__ import annotations

import collections
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute
from meshkit import until_connected

import beamish
from beamish import cluster
from beamish.cluster.transports import TcpTransport

RELAY_HOST = "127.0.0.1"
LOOPBACK_ALIASES = sys.platform.startswith("linux")
"""Whether this system routes 127.0.0.2 and up (Linux does; others need aliases set up)."""
_FLOWING_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class Member:
    """One node behind the relay: ``name`` (``short@host``), ``host`` (its own loopback
    address), ``relay`` (the address it advertises and peers dial)."""

    def __init__(self, short: str, host: str, relay: str) -> None:
        self.short, self.host, self.relay = short, host, relay
        self.name = f"{short}@{host}"
        self.address: str | None = None
        self._attached = anyio.Event()

    def __repr__(self) -> str:
        return f"<Member {self.name} relay={self.relay} at {self.address}>"

    def options(self) -> list[str]:
        """The ``python -m beamish run`` options that put the node behind its relay."""
        return [
            "--listen", f"{self.host}:0",
            "--connect-from", self.host,
            "--advertise", self.relay,
        ]  # fmt: skip

    def attach(self, address: str) -> None:
        """The node listens at ``address`` (its READY line, or its cluster's ``address``):
        connections to the relay, which waited until now, go there."""
        self.address = address
        self._attached.set()


class Netsplit:
    """The relays of one test and the cuts between their members; see the module."""

    def __init__(self, group: anyio.abc.TaskGroup) -> None:
        self._group = group
        self._members: dict[str, Member] = {}
        self._by_host: dict[str, str] = {}
        self._cut: set[frozenset[str]] = set()
        self._changed = anyio.Event()
        self._live: collections.Counter[frozenset[str]] = collections.Counter()
        self._listeners: list[anyio.abc.Listener[Any]] = []

    def __getitem__(self, short: str) -> Member:
        return self._members[short]

    async def member(self, short: str) -> Member:
        """A new member: its loopback address, and its relay, listening."""
        if short in self._members:
            raise ValueError(f"{short} is a member already")
        host = f"127.0.0.{len(self._members) + 2}"
        listener = await anyio.create_tcp_listener(local_host=RELAY_HOST, local_port=0)
        self._listeners.append(listener)
        port = listener.extra(SocketAttribute.local_port)
        member = Member(short, host, f"{RELAY_HOST}:{port}")
        self._members[short] = member
        self._by_host[host] = short
        self._group.start_soon(listener.serve, self._relaying(member), self._group)
        return member

    async def launch(
        self,
        launch: Callable[..., Awaitable[Any]],
        short: str,
        seeds: Sequence[str] = (),
        options: Sequence[str] = ("--no-discovery",),
        **more: Any,
    ) -> Any:
        """Start an OS-process node behind a new member's relay with ``launch`` (the
        ``osnodes.launcher`` one: it waits for READY) and attach it; returns its OsNode."""
        member = await self.member(short)
        node = await launch(member.name, seeds, (*options, *member.options()), **more)
        member.attach(node.address)
        return node

    def cut(self, *sides: Collection[str]) -> None:
        """Cut every pair of members on different ``sides`` (short names); other pairs keep
        whatever state they had."""
        for i, side in enumerate(sides):
            for short in side:
                if short not in self._members:
                    raise KeyError(f"{short!r} is not a member")
                for other_side in sides[i + 1 :]:
                    for other in other_side:
                        self._cut.add(frozenset((short, other)))
        self._signal()

    def heal(self) -> None:
        """Every pair flows again."""
        self._cut.clear()
        self._signal()

    def relayed(self) -> set[frozenset[str]]:
        """The pairs of members with a relayed connection open now."""
        return {pair for pair, count in self._live.items() if count > 0}

    def _signal(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _flowing(self, pair: frozenset[str] | None) -> None:
        """Return once ``pair`` is not cut (at once if it is not)."""
        while pair is not None and pair in self._cut:
            await self._changed.wait()

    def _relaying(self, member: Member) -> Callable[[anyio.abc.SocketStream], Awaitable[None]]:
        async def relay(client: anyio.abc.SocketStream) -> None:
            dialler = self._by_host.get(client.extra(SocketAttribute.remote_address)[0])
            pair = None if dialler is None else frozenset((dialler, member.short))
            async with client:
                await member._attached.wait()
                await self._flowing(pair)  # a cut drops the SYN: the dialler waits
                assert member.address is not None
                host, _, port = member.address.rpartition(":")
                try:
                    upstream = await anyio.connect_tcp(host, int(port))
                except OSError:
                    return  # the node is gone: the dialler sees the connection close
                if pair is not None:
                    self._live[pair] += 1
                try:
                    async with upstream, anyio.create_task_group() as pumps:
                        pumps.start_soon(self._pump, client, upstream, pair, pumps.cancel_scope)
                        pumps.start_soon(self._pump, upstream, client, pair, pumps.cancel_scope)
                finally:
                    if pair is not None:
                        self._live[pair] -= 1

        return relay

    async def _pump(
        self,
        source: anyio.abc.ByteStream,
        sink: anyio.abc.ByteStream,
        pair: frozenset[str] | None,
        both: anyio.CancelScope,
    ) -> None:
        """Copy ``source`` to ``sink`` while ``pair`` is not cut; when either end closes,
        close the connection (both directions)."""
        try:
            while True:
                await self._flowing(pair)
                data = await source.receive()
                await self._flowing(pair)  # cut while it waited: the bytes wait too
                await sink.send(data)
        except _FLOWING_ERRORS:
            await self._flowing(pair)  # a close crosses a cut only when it heals, as a lost FIN
        both.cancel()


@contextlib.asynccontextmanager
async def netsplit() -> AsyncIterator[Netsplit]:
    """The relays for one test; leaving closes them and every relayed connection."""
    listeners: list[anyio.abc.Listener[Any]] = []
    try:
        async with anyio.create_task_group() as group:
            net = Netsplit(group)
            listeners = net._listeners
            try:
                yield net
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            for listener in listeners:
                await listener.aclose()


HEARTBEATS = pytest.mark.parametrize(
    "heartbeat",
    [
        pytest.param("0.5", id="connections-drop"),  # the cluster notices within 2 s
        pytest.param("15", id="connections-outlive-the-cut"),  # held bytes arrive on heal
    ],
)
"""Run a partition test with cluster connections that drop during the cut, and that outlive it."""


@contextlib.asynccontextmanager
async def three_relayed_nodes(
    launcher: Callable[[], Any],
    shorts: Sequence[str],
    heartbeat: str,
    cookie: str,
    env: Any = None,
    timeout: float = 15,
) -> AsyncIterator[tuple[Netsplit, tuple[str, ...], Any]]:
    """The OS-process nodes ``shorts`` behind the relays (the first is the others' seed),
    and a node here connected to each through its relay (never cut), hidden (Erlang's
    ``-hidden``): it names no node to another, so after a heal the nodes find each other
    again by themselves. ``launcher()`` is an ``osnodes.launcher`` bound to the app.
    Yields (the netsplit, the nodes' full names, the node here)."""
    options = ("--no-discovery", "--heartbeat", heartbeat)
    async with netsplit() as net, launcher() as launch:
        first, *rest = shorts
        await net.launch(launch, first, options=options, env=env)
        for short in rest:
            await net.launch(launch, short, [net[first].relay], options=options, env=env)
        names = tuple(net[short].name for short in shorts)
        async with (
            beamish.runtime.start(name=f"{first}d@{RELAY_HOST}") as node,
            cluster.start(
                cookie=cookie, transport=TcpTransport(), listen=f"{RELAY_HOST}:0", discovery=False
            ) as the_cluster,
        ):
            the_cluster.hidden = True
            for short in shorts:
                await the_cluster.connect(net[short].relay)
            await until_connected(the_cluster, names, timeout=timeout)
            yield net, names, node
