"""An in-process transport over a simulated network: several nodes in one test process.

>>> net = MemoryNetwork()
>>> a, b = net.transport("a"), net.transport("b")
>>> net.partition("a", "b")
>>> net.is_partitioned("b", "a")
True
>>> net.heal()
>>> net.is_partitioned("a", "b")
False

Each node gets its own :class:`MemoryTransport` from :meth:`MemoryNetwork.transport`, so the
network knows which node is at each end of a connection. Addresses are ``mem://<name>``.

Semantics
---------
- ``listen("mem://x")`` claims that address (``OSError`` if taken). Any address that is not
  ``mem://...`` (``""``, ``"127.0.0.1:0"``) means "pick one": ``mem://<node>``, or
  ``mem://<node>-2`` and so on if that is taken. ``connect`` to an address nobody listens on
  raises ``ConnectionRefusedError`` at once.
- Streams keep order and never lose or corrupt bytes on their own; ``send(b"")`` is a no-op;
  ``receive(max_bytes)`` returns at most ``max_bytes`` and never ``b""``. ``aclose`` on one end
  ends the other's ``receive`` with ``anyio.EndOfStream`` once the data sent before it has
  been read; ``send`` towards a closed end raises ``anyio.BrokenResourceError``.
- ``partition(a, b)`` / ``partition_groups([...], [...])`` cut the link between nodes.
  By default (``silent=False``) the cut is detected at once, as after a heartbeat timeout:
  existing connections across it break (both ends' ``receive`` and ``send`` raise
  ``anyio.BrokenResourceError``) and ``connect`` across it raises ``ConnectionError``.
  With ``silent=True`` connections stay up but every ``send`` across the cut is dropped, as
  is data already in flight when it would be delivered, and a close on one end is not seen
  by the other until the heal (a FIN lost like any packet), so only heartbeats can notice; a
  ``connect`` across it waits for a heal until its timeout, then raises ``ConnectionError``.
- ``heal()`` lifts every cut. Broken connections stay broken; new ones succeed, and silently
  cut ones carry data again.
- ``set_delay(seconds)`` delays the delivery of every later ``send`` by that long on the anyio
  clock (virtual under trio's ``MockClock``); order is kept. Connecting is not delayed.
- ``set_drop_rate(p, seed=...)`` drops each ``send`` call whole with probability ``p`` from a
  seeded RNG, so a run is reproducible. Dropping whole writes keeps framing intact when the
  writer sends whole frames per call.
- :meth:`MemoryNetwork.statistics` counts connections, sends and drops.
"""

from __future__ import annotations

import errno
import itertools
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import ByteStream

from ._base import Handler

__all__ = [
    "MemoryListener",
    "MemoryNetwork",
    "MemoryStream",
    "MemoryTransport",
    "NetworkStatistics",
]

SCHEME = "mem://"


@dataclass(frozen=True)
class NetworkStatistics:
    """A snapshot of a :class:`MemoryNetwork`."""

    connections: int
    """Connections with at least one end still open."""
    sends: int
    """``send`` calls with data, across all streams."""
    dropped: int
    """Sends dropped by the drop rate or a silent partition (at send or at delivery)."""


class _Signal:
    """Wakes every task waiting on it when state changes (an Event re-armed per change)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    def wake(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None


class _Pipe:
    """One direction of a connection: chunks stamped with their delivery time."""

    __slots__ = ("chunks", "reader_closed", "signal", "writer_closed")

    def __init__(self) -> None:
        self.chunks: deque[tuple[float, bytes]] = deque()
        self.writer_closed = False
        self.reader_closed = False
        self.signal = _Signal()


class _Link:
    """A connection between two nodes: two pipes and a broken flag."""

    __slots__ = ("a", "b", "broken", "open_ends", "pipes")

    def __init__(self, a: str, b: str) -> None:
        self.a = a
        self.b = b
        self.broken = False
        self.open_ends = 2
        self.pipes = (_Pipe(), _Pipe())

    def break_(self) -> None:
        self.broken = True
        for pipe in self.pipes:
            pipe.chunks.clear()
            pipe.signal.wake()


class MemoryStream(ByteStream):
    """One end of an in-memory connection (an ``anyio.abc.ByteStream``)."""

    def __init__(
        self,
        network: MemoryNetwork,
        link: _Link,
        local_node: str,
        remote_node: str,
        outgoing: _Pipe,
        incoming: _Pipe,
    ) -> None:
        self._network = network
        self._link = link
        self.local_node = local_node
        self.remote_node = remote_node
        self._out = outgoing
        self._in = incoming
        self._buffer = b""
        self._closed = False
        self._send_guard = anyio.ResourceGuard("sending to")
        self._receive_guard = anyio.ResourceGuard("reading from")

    def __repr__(self) -> str:
        return f"<MemoryStream {self.local_node} -> {self.remote_node}>"

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return {}

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        with self._receive_guard:
            await anyio.lowlevel.checkpoint()
            pipe = self._in
            while True:
                if self._closed:
                    raise anyio.ClosedResourceError
                if self._link.broken:
                    raise anyio.BrokenResourceError(f"connection {self!r} was broken")
                if self._buffer:
                    data, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
                    return data
                if pipe.chunks:
                    deliver_at, data = pipe.chunks[0]
                    if deliver_at <= anyio.current_time():
                        pipe.chunks.popleft()
                        if self._network._silently_cut(self.remote_node, self.local_node):
                            self._network._dropped += 1
                        else:
                            self._buffer = data
                        continue
                    with anyio.move_on_at(deliver_at):
                        await pipe.signal.wait()
                    continue
                if pipe.writer_closed and not self._network._silently_cut(
                    self.remote_node, self.local_node
                ):
                    raise anyio.EndOfStream  # across a silent cut, the close is not seen either
                await pipe.signal.wait()

    async def send(self, item: bytes) -> None:
        with self._send_guard:
            await anyio.lowlevel.checkpoint()
            if self._closed or self._out.writer_closed:
                raise anyio.ClosedResourceError
            network = self._network
            if self._link.broken or (
                self._out.reader_closed
                and not network._silently_cut(self.local_node, self.remote_node)
            ):
                raise anyio.BrokenResourceError(f"connection {self!r} was broken or closed")
            if not item:
                return
            network._sends += 1
            if network._drops(self.local_node, self.remote_node):
                network._dropped += 1
                return
            self._out.chunks.append((anyio.current_time() + network.delay, bytes(item)))
            self._out.signal.wake()

    async def send_eof(self) -> None:
        await anyio.lowlevel.checkpoint()
        if self._closed:
            raise anyio.ClosedResourceError
        self._out.writer_closed = True
        self._out.signal.wake()

    async def aclose(self) -> None:
        self.close()
        await anyio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close this end at once (``aclose`` without the checkpoint); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._buffer = b""
        self._out.writer_closed = True
        self._out.signal.wake()
        self._in.reader_closed = True
        self._in.chunks.clear()
        self._in.signal.wake()
        self._link.open_ends -= 1
        if self._link.open_ends == 0:
            self._network._links.discard(self._link)


class MemoryListener:
    """A listening address on a :class:`MemoryNetwork`; see ``Listener``."""

    def __init__(self, network: MemoryNetwork, node: str, address: str) -> None:
        self._network = network
        self.node = node
        self._address = address
        self._backlog: deque[MemoryStream] = deque()
        self._signal = _Signal()
        self._closed = False

    def __repr__(self) -> str:
        return f"<MemoryListener {self._address} of {self.node}>"

    @property
    def address(self) -> str:
        return self._address

    async def serve(self, handler: Handler) -> None:
        """Accept until :meth:`aclose`, each connection's ``handler`` in its own task."""
        await anyio.lowlevel.checkpoint()
        async with anyio.create_task_group() as tg:
            while not self._closed:
                while self._backlog:
                    tg.start_soon(_run, handler, self._backlog.popleft())
                await self._signal.wait()

    def _enqueue(self, stream: MemoryStream) -> None:
        self._backlog.append(stream)
        self._signal.wake()

    async def aclose(self) -> None:
        """Stop accepting; idempotent. Connections not yet accepted are reset."""
        if not self._closed:
            self._closed = True
            if self._network._listeners.get(self._address) is self:
                del self._network._listeners[self._address]
            while self._backlog:
                stream = self._backlog.popleft()
                stream._link.break_()
                stream.close()
            self._signal.wake()
        await anyio.lowlevel.checkpoint()


async def _run(handler: Handler, stream: MemoryStream) -> None:
    await handler(stream)


class MemoryTransport:
    """The transport of one node on a :class:`MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, node: str) -> None:
        self.network = network
        self.node = node

    def __repr__(self) -> str:
        return f"<MemoryTransport of {self.node}>"

    async def listen(self, address: str) -> MemoryListener:
        """Claim ``mem://name``, or pick ``mem://<node>`` for any other address."""
        await anyio.lowlevel.checkpoint()
        listeners = self.network._listeners
        if address.startswith(SCHEME) and address != SCHEME:
            if address in listeners:
                raise OSError(errno.EADDRINUSE, f"{address} is already in use")
        else:
            base = SCHEME + self.node
            candidates = itertools.chain([base], (f"{base}-{n}" for n in itertools.count(2)))
            address = next(a for a in candidates if a not in listeners)
        listener = MemoryListener(self.network, self.node, address)
        listeners[address] = listener
        return listener

    async def connect(self, address: str, timeout: float = 5.0) -> MemoryStream:
        """Dial ``mem://name``; raise :class:`ConnectionError` if refused or cut off."""
        await anyio.lowlevel.checkpoint()
        network = self.network
        deadline = anyio.current_time() + timeout
        while True:
            listener = network._listeners.get(address)
            if listener is None:
                raise ConnectionRefusedError(errno.ECONNREFUSED, f"nobody listens on {address}")
            silent = network._cuts.get(frozenset((self.node, listener.node)))
            if silent is None:
                break
            if not silent:
                raise ConnectionError(
                    errno.EHOSTUNREACH, f"{address} is cut off from {self.node} (partition)"
                )
            with anyio.move_on_at(deadline):
                await network._changed.wait()
            if anyio.current_time() >= deadline:
                raise ConnectionError(
                    errno.ETIMEDOUT, f"connecting to {address} timed out after {timeout}s"
                )
        link = _Link(self.node, listener.node)
        network._links.add(link)
        up, down = link.pipes
        client = MemoryStream(network, link, self.node, listener.node, up, down)
        server = MemoryStream(network, link, listener.node, self.node, down, up)
        listener._enqueue(server)
        return client


class MemoryNetwork:
    """A simulated network joining :class:`MemoryTransport` s; tests script its faults."""

    def __init__(self) -> None:
        self._listeners: dict[str, MemoryListener] = {}
        self._links: set[_Link] = set()
        self._cuts: dict[frozenset[str], bool] = {}  # node pair -> silent?
        self._changed = _Signal()
        self.delay = 0.0
        self.drop_rate = 0.0
        self._rng = random.Random(0)
        self._sends = 0
        self._dropped = 0

    def transport(self, node: str) -> MemoryTransport:
        """The transport of ``node`` (partitions and statistics know it by this name)."""
        return MemoryTransport(self, node)

    def partition(self, a: str, b: str, *, silent: bool = False) -> None:
        """Cut nodes ``a`` and ``b`` apart (see the module docs for ``silent``)."""
        self.partition_groups([a], [b], silent=silent)

    def partition_groups(
        self, group_a: Iterable[str], group_b: Iterable[str], *, silent: bool = False
    ) -> None:
        """Cut every node of ``group_a`` from every node of ``group_b``."""
        group_b = list(group_b)
        for a in group_a:
            for b in group_b:
                if a != b:
                    self._cuts[frozenset((a, b))] = silent
        if not silent:
            for link in list(self._links):
                if self._cuts.get(frozenset((link.a, link.b))) is False:
                    link.break_()
        self._changed.wake()

    def heal(self) -> None:
        """Lift every cut; new connections succeed, silently cut ones carry data again (and
        a close made during the cut is seen now)."""
        self._cuts.clear()
        for link in self._links:
            for pipe in link.pipes:
                pipe.signal.wake()
        self._changed.wake()

    def is_partitioned(self, a: str, b: str) -> bool:
        """Whether traffic between nodes ``a`` and ``b`` is cut."""
        return frozenset((a, b)) in self._cuts

    def set_delay(self, seconds: float) -> None:
        """Deliver every later ``send`` ``seconds`` after it was made (anyio clock)."""
        if seconds < 0:
            raise ValueError(f"delay must be >= 0, got {seconds!r}")
        self.delay = float(seconds)

    def set_drop_rate(self, p: float, seed: int = 0) -> None:
        """Drop each later ``send`` whole with probability ``p`` (an RNG seeded ``seed``)."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop rate must be within [0, 1], got {p!r}")
        self.drop_rate = float(p)
        self._rng = random.Random(seed)

    def statistics(self) -> NetworkStatistics:
        """Counts of live connections, sends and dropped sends."""
        return NetworkStatistics(len(self._links), self._sends, self._dropped)

    def _silently_cut(self, a: str, b: str) -> bool:
        return self._cuts.get(frozenset((a, b))) is True

    def _drops(self, sender: str, receiver: str) -> bool:
        if self._silently_cut(sender, receiver):
            return True
        return self.drop_rate > 0.0 and self._rng.random() < self.drop_rate
