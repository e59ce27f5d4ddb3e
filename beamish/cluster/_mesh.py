"""The mesh: this node's connections to its peers (the contract is on :class:`Cluster`)."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import anyio.abc
import anyio.lowlevel

from .. import telemetry
from ..actors import NOCONNECTION, NOPROC, Caller, Node, Pid, Ref
from ..actors import lowlevel as kernel
from ..actors.lowlevel import CallRequest
from . import _frames as frames
from ._admission import DUPLICATE_NAME, SIMULTANEOUS, THIS_NODE, admit
from ._connection import DEFAULT_SEND_BUFFER_LIMIT, SEND_OVERFLOW, Connection, read_one
from ._directory import Entry, discover
from ._errors import DecodeError, EncodeError, FrameError
from ._framing import DEFAULT_MAX_FRAME, FrameDecoder, encode_frame
from ._handshake import Acceptor, HandshakeError, Initiator, Peer
from ._wire import Codec, PlainCodec, stand_in

_log = logging.getLogger("beamish.cluster")

NODE_UP = telemetry.CLUSTER_NODE_UP
NODE_DOWN = telemetry.CLUSTER_NODE_DOWN
HANDSHAKE_FAILED = telemetry.CLUSTER_HANDSHAKE_FAILED
DUPLICATE_NAME_REFUSED = telemetry.CLUSTER_DUPLICATE_NAME
# Why a handshake stops by decision of either side (sent as {"refused": why} in place of
# the welcome, or {"withdrawn": why} in place of the proof):
ALREADY_CONNECTING = "already connecting"
MESSAGE_DROPPED = telemetry.CLUSTER_MESSAGE_DROPPED
UNSENDABLE = telemetry.CLUSTER_UNSENDABLE
SPAWN_REFUSED = telemetry.CLUSTER_SPAWN_REFUSED
_UNSENDABLE_ERRORS = (EncodeError, FrameError)
_LOGGED_KINDS_LIMIT = 1024
MAX_PEERS_FRAME = 1024  # peers one frame may name: a node is told of a mesh, not a flood
HANDSHAKE_MAX_FRAME = 16 * 1024
"""The largest frame a peer may send before it proved the cookie (handshake messages are
small), so a stranger cannot make the node buffer ``max_frame`` bytes per connection."""
_HANDSHAKE_ERRORS = (
    HandshakeError,
    DecodeError,
    FrameError,
    TimeoutError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    OSError,
)


class NodeDown(NamedTuple):
    """Delivered to ``monitor_node`` watchers when the connection to ``node`` is lost."""

    node: str
    reason: Any


class NodeUp(NamedTuple):
    """Delivered to ``monitor_nodes`` watchers when a connection to ``node`` is made."""

    node: str


class _Handshake:
    """A handshake under way with a peer whose name is known."""

    __slots__ = ("creation", "dialer", "done", "lost")

    def __init__(self, dialer: str) -> None:
        self.dialer = dialer  # the name of the node that opened the connection
        self.creation: int | None = None  # the peer's, once it proved who it is
        self.lost = False  # another handshake with the same peer won
        self.done = anyio.Event()


class _Refused(Exception):
    """A handshake stopped because another connection to the same peer wins."""

    def __init__(self, why: str, *, by_peer: bool = True) -> None:
        super().__init__(why)
        self.why = why
        self.by_peer = by_peer


def _own(peer: str, kind: str, watcher: Pid, ref: Ref) -> None:
    """A peer's call or monitor names a process and a ref of the peer itself: a ref made
    here or on a third node would overwrite a watch that is not the peer's to take."""
    if watcher[0] != peer or ref[0] != peer:
        raise frames.BadFrame(f"{kind}: {watcher} and {ref} are not the peer's ({peer})")


def _sent_by(peer: str, kind: str, pid: Pid) -> None:
    """A link, unlink or exit a peer sends comes from a process of the peer: one that
    names another node's pid would speak for a process that never said it."""
    if pid[0] != peer:
        raise frames.BadFrame(f"{kind}: {pid} is not a process of the peer ({peer})")


def _local_target(node: Node, kind: str, target: Any) -> Any:
    """What a call, monitor or exit from a peer names here: a pid, or the pid registered
    under ``name`` for ``(name, this node)``. ``(name, another node)`` resolves on that
    node (Erlang's ``{Name, Node}``), never here: a peer never sends one, so it is refused.
    """
    if type(target) is Pid:
        return target
    name, where = target
    if where != node.name:
        raise frames.BadFrame(f"{kind}: {target} names a process of another node")
    return node.whereis(name)


def _unless_refused(message: Any) -> Any:
    """``message``, unless it is the peer's ``{"refused": why}`` (raised as ``_Refused``)."""
    if isinstance(message, dict) and "refused" in message:
        raise _Refused(str(message["refused"])[:200])
    return message


def is_node_name(target: str) -> bool:
    """``name@host`` is a node; ``host:port`` or ``scheme://...`` is an address.

    >>> is_node_name("a@host"), is_node_name("mem://a@host"), is_node_name("10.0.0.1:4369")
    (True, False, False)
    """
    return "@" in target and "://" not in target


class Cluster:
    """The distribution layer of one node.

    ``Cluster`` is the kernel's ``RemoteHook``: the node hands it every send, link, monitor,
    exit signal and reply whose other end lives on another node. It keeps, per peer, the links
    and monitors that cross that connection, so that when the connection is lost every one of
    them fires with ``"noconnection"`` (Erlang's semantics), and ``monitor_node`` watchers get
    ``NodeDown(node, reason)``.

    Connections are made on demand (the first message to a node connects to it), from a seed
    list, or by discovery through a runtime directory shared by the nodes of one host.

    Membership converges to a full mesh: a node sends a new peer its peer list and tells its
    other peers about the new one, and every ``gossip_interval`` it sends every peer its
    whole list and redials unconnected seeds (anti-entropy), so a lost list or a failed
    connect is repaired in the next round.

    A node holds at most one connection per peer, decided inside the handshake before any
    message crosses (``_admit``): the initiator decides when the challenge names the peer,
    the acceptor when the proof arrives, both by the same rule. A live connection wins over a
    new one; of two handshakes between the same nodes, the one opened by the node with the
    smaller name wins (the same node twice: the older); a node with the name of a connected
    node but another creation is refused (``DUPLICATE_NAME``, logged and counted). The loser
    answers ``{"refused": why}`` in place of the welcome or ``{"withdrawn": why}`` in place
    of the proof, and its ``connect`` returns the winner's peer.

    Example:
        >>> Cluster.__name__
        'Cluster'
    """

    def __init__(
        self,
        node: Node,
        transport: Any,
        *,
        cookie: str | bytes,
        heartbeat: float = 15.0,
        handshake_timeout: float = 5.0,
        allow_pickle: bool = False,
        max_frame: int = DEFAULT_MAX_FRAME,
        directory: Path | None = None,
        hidden: bool = False,
        gossip_interval: float = 2.0,
        send_buffer_limit: int = DEFAULT_SEND_BUFFER_LIMIT,
        spawn_modules: Iterable[str] | None = None,
    ) -> None:
        if "@" not in node.name:
            raise ValueError(f"a distributed node needs a name@host name, not {node.name!r}")
        self.node = node
        self.name = node.name
        self.transport = transport
        self._cookie = cookie.encode() if isinstance(cookie, str) else cookie
        self.heartbeat = heartbeat
        self.handshake_timeout = handshake_timeout
        self.codec = Codec(allow_pickle=allow_pickle)
        self.max_frame = max_frame
        self.send_buffer_limit = send_buffer_limit
        if isinstance(spawn_modules, str):
            raise TypeError("spawn_modules is a collection of module names, not one str")
        self.spawn_modules = None if spawn_modules is None else frozenset(spawn_modules)
        self.directory = directory
        self.address: str | None = None
        self.connections: dict[str, Connection] = {}
        self.addresses: dict[str, str] = {}
        self._connecting: dict[str, list[bytes]] = {}  # what waits for a connection
        self._connecting_bytes: dict[str, int] = {}
        self._links: dict[str, set[tuple[Pid, Pid]]] = {}
        self._monitors: dict[str, dict[Ref, tuple[Pid, Any]]] = {}
        self._watched: dict[str, dict[Ref, Pid]] = {}
        self._node_watchers: dict[str, set[Pid]] = {}
        self._all_nodes_watchers: set[Pid] = set()
        self._deferred: dict[str, Callable[[Any], None]] = {}
        self.hidden = hidden  # Erlang's hidden node: connects only where it is told to
        self.gossip_interval = gossip_interval
        self._handshakes: dict[str, _Handshake] = {}  # peer name -> the handshake under way
        self._unreachable: set[str] = set()  # failed once: later failures log at debug
        self._seed_names: dict[str, str] = {}
        self._changed = anyio.Event()  # set (and replaced) whenever a peer comes or goes
        self._handlers: dict[str, Callable[..., None]] = {  # frame kind -> its handler
            "send": self._on_send,
            "send_name": self._on_send_name,
            "call": self._on_call,
            "reply": self._on_reply,
            "spawned": self._on_spawned,
            "down": self._on_down,
            "link": self._on_link,
            "unlink": self._on_unlink,
            "exit": self._on_exit,
            "monitor": self._on_monitor,
            "demonitor": self._on_demonitor,
            "spawn": self._spawn_for,
            "address": self._on_address,
            "peers": self._on_peers,
        }
        self._group: anyio.abc.TaskGroup | None = None
        self.advertise: str | None = None  # the address peers are told (default: .address)
        self._logged_kinds: set[tuple[str, str]] = set()  # drops are logged once per kind
        self._entry: Entry | None = None  # our entry in the runtime directory, claimed

    def __repr__(self) -> str:
        return f"<Cluster {self.name} at {self.address} peers={sorted(self.connections)}>"

    @property
    def cookie(self) -> bytes:
        """The shared secret, for this node's own child processes (pool workers)."""
        return self._cookie

    def nodes(self) -> list[str]:
        """The peers this node is connected to."""
        return sorted(self.connections)

    # -- lifecycle --

    @contextlib.asynccontextmanager
    async def running(
        self, listen: str | None, seeds: tuple[str, ...] = ()
    ) -> AsyncIterator[Cluster]:
        async with anyio.create_task_group() as group:
            self._group = group
            listener = None
            if listen is not None:
                if self.directory is not None:  # NameInUse: a live node has this name here
                    self._entry = Entry(self.directory, self.name)
                try:
                    listener = await self.transport.listen(listen)
                except BaseException:
                    self._withdraw()
                    raise
                self.address = listener.address
                group.start_soon(listener.serve, self._accepted)
                if self._entry is not None and self.public_address is not None:
                    self._entry.announce(self.public_address)
            self.node.remote = self
            try:
                async with anyio.create_task_group() as seeding:  # seeds first: then main runs
                    for seed in seeds:
                        seeding.start_soon(self._dial_seed, seed)
                group.start_soon(self._anti_entropy, seeds)
                yield self
            finally:
                self.node.remote = None
                self._withdraw()
                for conn in list(self.connections.values()):
                    conn.superseded = True
                    conn.close("node stopping")
                    await _close_now(conn.stream)  # also if its task never got to run
                if listener is not None:
                    await listener.aclose()
                group.cancel_scope.cancel()

    def _withdraw(self) -> None:
        if self._entry is not None:
            self._entry.withdraw()
            self._entry = None

    @property
    def public_address(self) -> str | None:
        """The address peers are given: ``advertise`` if set, else the listen address."""
        return self.advertise or self.address

    def discovered(self) -> dict[str, str]:
        """Nodes announced in the runtime directory (name -> address), this one excluded."""
        return discover(self.directory, self.name)

    # -- connecting --

    async def connect(self, target: str) -> str:
        """Connect to a node by address (``host:port``, ``mem://name``) or by name (looked
        up among known and discovered addresses); returns the peer's name.

        An address or name that is already connected (or connecting) gives that
        connection: a node never holds two connections to one peer.
        """
        if target in self.connections:
            await anyio.lowlevel.checkpoint()
            return target
        for name, known in self.addresses.items():
            if known == target and name in self.connections:
                await anyio.lowlevel.checkpoint()
                return name
        if is_node_name(target) and target in self._handshakes:
            return await self._outcome_of(target, ALREADY_CONNECTING)
        address = self.addresses.get(target) or self.discovered().get(target)
        if address is None:
            if is_node_name(target):
                raise ConnectionError(f"cannot connect to {target}: its address is not known")
            address = target
        mine = _Handshake(self.name)
        if is_node_name(target):
            self._handshakes[target] = mine
        try:
            return await self._dial(target, address, mine)
        finally:
            for name, entry in list(self._handshakes.items()):
                if entry is mine:
                    del self._handshakes[name]
            mine.done.set()

    async def _dial(self, target: str, address: str, mine: _Handshake) -> str:
        stream = await self.transport.connect(address, timeout=self.handshake_timeout)
        decoder = FrameDecoder(min(self.max_frame, HANDSHAKE_MAX_FRAME))
        pending: list[bytes] = []
        peer: Peer | None = None
        plain = PlainCodec()  # nothing from the peer is trusted before it proved the cookie
        try:
            with anyio.fail_after(self.handshake_timeout):
                initiator = Initiator(self.name, self.node.creation, self._cookie)
                await self._say(stream, initiator.hello())
                # no _unless_refused here: a refusal before any proof is a stranger's word
                proof = initiator.on_challenge(await read_one(stream, decoder, plain, pending))
                decoder.max_frame = self.max_frame  # the peer proved the cookie
                peer = initiator.peer
                assert peer is not None
                if is_node_name(target) and peer.name != target:
                    raise HandshakeError(f"{address} is {peer.name}, not {target}")
                verdict = self._admit(peer, self.name, mine)
                if verdict is not None:
                    await self._say(stream, {"withdrawn": verdict})
                    if verdict == DUPLICATE_NAME:
                        self._duplicate(peer)
                    raise _Refused(verdict, by_peer=False)
                await self._say(stream, proof)
                peer = initiator.on_welcome(
                    _unless_refused(await read_one(stream, decoder, plain, pending))
                )
                if mine.lost:
                    raise _Refused(SIMULTANEOUS)
        except _Refused as refused:
            await stream.aclose()
            assert peer is not None
            return await self._refused(peer, refused, address)
        except _HANDSHAKE_ERRORS as exc:
            await stream.aclose()
            self._handshake_failed(address, exc)
            why = str(exc) or type(exc).__name__
            raise ConnectionError(f"cannot connect to {target}: {why}") from exc
        except BaseException:  # cancelled mid-handshake (the node stops): never leak the socket
            await _close_now(stream)
            raise
        if is_node_name(target):
            self.addresses.setdefault(peer.name, address)
        elif address == target:
            self.addresses[peer.name] = address
        conn = self._register(stream, peer, decoder, pending, outgoing=True)
        conn.flat = "flat" in initiator.peer_flags
        assert self._group is not None
        self._group.start_soon(self._watch, conn)
        return peer.name

    async def _refused(self, peer: Peer, refused: _Refused, address: str) -> str:
        """The handshake with ``peer`` stopped by mutual decision: another connection to
        it exists or wins; wait for that one. A duplicate name is an error."""
        if refused.why == THIS_NODE:
            raise ConnectionError(f"cannot connect to {address}: that is this node")
        if refused.why == DUPLICATE_NAME and refused.by_peer:
            _log.error(
                "%s: %s refused this node: a node named %s is already connected to it",
                self.name,
                peer.name,
                self.name,
            )
            raise ConnectionError(f"{peer.name} refused this node: its name is taken there")
        if refused.why == DUPLICATE_NAME:
            raise ConnectionError(
                f"cannot connect to {address}: it is {peer.name}, a name already taken by "
                "another node connected to this one"
            )
        return await self._outcome_of(peer.name, refused.why)

    async def _outcome_of(self, name: str, why: str) -> str:
        """Wait for the connection to ``name`` that another handshake is making."""
        with anyio.move_on_after(self.handshake_timeout):
            while name not in self.connections:
                other = self._handshakes.get(name)
                if other is None:
                    break
                await other.done.wait()
        if name in self.connections:
            return name
        raise ConnectionError(f"cannot connect to {name}: {why}, and no connection came of it")

    def _admit(self, peer: Peer, dialer: str, mine: _Handshake) -> str | None:
        """Whether the handshake ``mine`` with ``peer`` (dialed by ``dialer``) goes on:
        ``None``, or why not, by the rule both nodes apply (``_admission.admit``); a
        handshake that goes on is recorded as the one under way with ``peer``."""
        existing = self.connections.get(peer.name)
        other = self._handshakes.get(peer.name)
        if other is mine:
            other = None
        verdict = admit(
            (self.name, self.node.creation),
            (peer.name, peer.creation),
            dialer=dialer,
            connected=existing.peer.creation if existing is not None else None,
            pending=(other.dialer, other.creation) if other is not None else None,
        )
        if verdict.refused is not None:
            return verdict.refused
        if other is not None and verdict.supersedes:
            other.lost = True
            other.done.set()
        mine.creation = peer.creation
        self._handshakes[peer.name] = mine
        return None

    def _duplicate(self, peer: Peer) -> None:
        _log.error(
            "%s: refused a connection from a second node named %s (creation %s): "
            "that name is taken by a node already connected",
            self.name,
            peer.name,
            peer.creation,
        )
        telemetry.execute(
            DUPLICATE_NAME_REFUSED,
            {"count": 1},
            {"node": self.name, "peer": peer.name, "creation": peer.creation},
        )

    async def _connect_quietly(self, target: str) -> None:
        """Connect in the background: whatever goes wrong is logged, never raised."""
        try:
            await self.connect(target)
        except Exception as exc:
            level = logging.DEBUG if target in self._unreachable else logging.WARNING
            self._unreachable.add(target)
            _log.log(level, "%s: %s", self.name, exc)
            if is_node_name(target):
                self._lost(target, NOCONNECTION, was_up=False)
        else:
            self._unreachable.discard(target)

    async def _accepted(self, stream: anyio.abc.ByteStream) -> None:
        decoder = FrameDecoder(min(self.max_frame, HANDSHAKE_MAX_FRAME))
        pending: list[bytes] = []
        mine: _Handshake | None = None
        plain = PlainCodec()  # nothing from the peer is trusted before it proved the cookie
        try:
            with anyio.fail_after(self.handshake_timeout):
                acceptor = Acceptor(self.name, self.node.creation, self._cookie)
                challenge = acceptor.on_hello(await read_one(stream, decoder, plain, pending))
                await self._say(stream, challenge)
                answer = await read_one(stream, decoder, plain, pending)
                if isinstance(answer, dict) and "withdrawn" in answer:
                    _log.debug("%s: a peer withdrew its connection: %s", self.name, answer)
                    await stream.aclose()
                    return
                welcome = acceptor.on_proof(answer)
                decoder.max_frame = self.max_frame  # the peer proved the cookie
                peer = acceptor.peer
                assert peer is not None
                mine = _Handshake(peer.name)
                verdict = self._admit(peer, peer.name, mine)
                if verdict is not None:
                    mine = None
                    if verdict == DUPLICATE_NAME:
                        self._duplicate(peer)
                    await self._say(stream, {"refused": verdict})
                    await stream.aclose()
                    return
                # the welcome is the connection's first frame: no await between the
                # decision and the registration, so no other handshake slips in between
                conn = self._register(stream, peer, decoder, pending, False, first=welcome)
                conn.flat = "flat" in acceptor.peer_flags
        except _HANDSHAKE_ERRORS as exc:
            await stream.aclose()
            self._handshake_failed("an incoming connection", exc)
            return
        except BaseException:
            await _close_now(stream)
            raise
        finally:
            if mine is not None:
                if self._handshakes.get(mine.dialer) is mine:
                    del self._handshakes[mine.dialer]
                mine.done.set()
        await self._watch(conn)  # an accepted stream belongs to its listener handler

    async def _say(self, stream: anyio.abc.ByteStream, message: Any) -> None:
        await stream.send(encode_frame(PlainCodec().encode(message)))

    def _handshake_failed(self, who: str, exc: BaseException) -> None:
        why = str(exc) or type(exc).__name__
        _log.warning("%s: handshake with %s failed: %s", self.name, who, why)
        telemetry.execute(HANDSHAKE_FAILED, {"count": 1}, {"node": self.name, "why": why})

    def _register(
        self,
        stream: anyio.abc.ByteStream,
        peer: Peer,
        decoder: FrameDecoder,
        early: list[bytes],
        outgoing: bool,
        first: Any = None,
    ) -> Connection:
        """Make ``peer``'s handshake its connection (``_admit`` ruled out any other)."""
        conn = Connection(
            stream,
            peer,
            self.codec,
            decoder,
            self._dispatch,
            on_undecodable=self._undecodable,
            outgoing=outgoing,
            heartbeat=self.heartbeat,
            early=early,
            send_buffer_limit=self.send_buffer_limit,
            node=self.name,
        )
        self.connections[peer.name] = conn
        self._unreachable.discard(peer.name)
        if first is not None:
            conn.send(first)
        conn.send(frames.wire(frames.Address(None if self.hidden else self.public_address)))
        if not self.hidden:
            conn.send(frames.wire(frames.Peers(self._peer_list())))
        self._connecting_bytes.pop(peer.name, None)
        for payload in self._connecting.pop(peer.name, ()):
            conn.send_encoded(payload)
        _log.info("%s: connected to %s", self.name, peer.name)
        telemetry.execute(NODE_UP, {"count": 1}, {"node": self.name, "peer": peer.name})
        self._notify_all(NodeUp(peer.name))
        self._membership_changed()
        return conn

    async def _watch(self, conn: Connection) -> None:
        await conn.run()
        if self.connections.get(conn.peer.name) is conn:
            del self.connections[conn.peer.name]
        if not conn.superseded:
            self._lost(conn.peer.name, conn.reason)

    # -- membership: gossip and anti-entropy --

    def _peer_list(self) -> dict[str, str]:
        """The connected peers whose address is known (hidden nodes announce none)."""
        return {n: a for n, a in self.addresses.items() if n in self.connections}

    def _gossip(self, peers: dict[str, str], *, but: str | None = None) -> None:
        if self.hidden or not peers:
            return
        for name, conn in list(self.connections.items()):
            if name != but:
                conn.send(frames.wire(frames.Peers({n: a for n, a in peers.items() if n != name})))

    def _learn(self, peers: Any) -> None:
        """A peer told us of its peers: connect to those we are not connected to."""
        if len(peers) > MAX_PEERS_FRAME:
            raise frames.BadFrame(f"peers: {len(peers)} entries, over {MAX_PEERS_FRAME}")
        if self.hidden or self._group is None or self.node.closing:
            return
        for name, address in peers.items():
            if not (isinstance(name, str) and isinstance(address, str) and is_node_name(name)):
                raise ValueError(f"not a peer entry: {name!r}: {address!r}")
            if name == self.name or name in self.connections:
                continue
            self.addresses[name] = address  # the freshest word: a peer is connected to it
            if name not in self._connecting and name not in self._handshakes:
                self._connecting[name] = []
                self._group.start_soon(self._connect_quietly, name)

    async def _anti_entropy(self, seeds: tuple[str, ...]) -> None:
        """Every ``gossip_interval``: tell every peer all our peers, and dial the seeds we
        are not connected to; whatever a lost message or a failed connect missed is
        repaired within a round or two."""
        while True:
            await anyio.sleep(self.gossip_interval)
            self._gossip(self._peer_list())
            assert self._group is not None
            for seed in seeds:
                name = self._seed_names.get(seed)
                if name is None or (name not in self.connections and name not in self._handshakes):
                    self._group.start_soon(self._dial_seed, seed)

    async def _dial_seed(self, seed: str) -> None:
        try:
            self._seed_names[seed] = await self.connect(seed)
        except Exception as exc:
            level = logging.DEBUG if seed in self._unreachable else logging.WARNING
            self._unreachable.add(seed)
            _log.log(level, "%s: seed %s: %s", self.name, seed, exc)
        else:
            self._unreachable.discard(seed)

    def _membership_changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for_nodes(self, nodes: int | Iterable[str], timeout: float = 10.0) -> list[str]:
        """Wait until this node is connected to ``nodes`` peers (a count) or to each of the
        nodes named; returns :meth:`nodes`. ``TimeoutError`` after ``timeout`` seconds."""
        wanted = nodes if isinstance(nodes, int) else frozenset(nodes)

        def reached() -> bool:
            if isinstance(wanted, int):
                return len(self.connections) >= wanted
            return wanted <= self.connections.keys()

        await anyio.lowlevel.checkpoint()
        with anyio.fail_after(timeout):
            while not reached():
                await self._changed.wait()
        return self.nodes()

    def defer_loss(self, peer: str, notify: Callable[[Any], None]) -> None:
        """Let the owner of ``peer`` name the exit reason when its connection ends.

        Instead of firing links and monitors with ``"noconnection"``, the loss calls
        ``notify(reason)`` and waits for :meth:`fire_loss`. A worker pool uses it: it
        knows how its worker process died (exit code, signal) once the OS has told it.
        """
        self._deferred[peer] = notify

    def fire_loss(self, peer: str, reason: Any) -> None:
        """Fire everything that crossed the connection to ``peer`` with ``reason``, and
        forget ``peer``'s address (its name is never reused)."""
        self._deferred.pop(peer, None)
        self.addresses.pop(peer, None)
        conn = self.connections.pop(peer, None)
        if conn is not None:
            conn.superseded = True  # its watcher must not fire a second time
            conn.close("node gone")
        self._lost(peer, reason, reason)

    def _lost(
        self, peer: str, reason: Any, exit_reason: Any = NOCONNECTION, *, was_up: bool = True
    ) -> None:
        """The connection to ``peer`` is gone (or, ``was_up=False``, could not be made):
        fire everything that crossed it, or waited for it."""
        if peer in self.connections:
            return
        notify = self._deferred.pop(peer, None)
        if notify is not None:
            notify(reason)
            return
        orderly = isinstance(reason, str) and reason == "shutdown"
        if was_up:
            _log.log(
                logging.INFO if orderly else logging.WARNING,
                "%s: lost %s: %s",
                self.name,
                peer,
                reason,
            )
        self._connecting.pop(peer, None)
        self._connecting_bytes.pop(peer, None)
        node = self.node
        for local, remote in self._links.pop(peer, ()):
            kernel.deliver_exit(node, local, remote, exit_reason, link=True)
        for ref, (watcher, target) in self._monitors.pop(peer, {}).items():
            kernel.deliver_down(node, watcher, ref, target, exit_reason)
        for ref, local in self._watched.pop(peer, {}).items():
            kernel.unwatch(node, local, ref)
        for watcher in self._node_watchers.pop(peer, set()):
            node.send(watcher, NodeDown(peer, reason))
        if not was_up:
            return
        self._notify_all(NodeDown(peer, reason))
        self._membership_changed()
        telemetry.execute(
            NODE_DOWN, {"count": 1}, {"node": self.name, "peer": peer, "reason": reason}
        )

    # -- routing --

    def _route(self, peer: str, message: Any) -> None:
        conn = self.connections.get(peer)
        if conn is not None:
            conn.send(message)
            return
        payload = self.codec.encode(message)  # EncodeError reaches the sender now
        if len(payload) > self.max_frame:
            raise FrameError(f"message of {len(payload)} bytes is over the frame limit")
        queued = self._connecting.get(peer)
        if queued is None:
            if peer == self.name:  # a pid of this node's previous incarnation
                self._dropped(peer, "not_here", "to a pid of this node's previous incarnation")
                return
            if self._group is None or self.node.closing:
                return
            self._connecting[peer] = [payload]
            self._connecting_bytes[peer] = len(payload)
            self._group.start_soon(self._connect_quietly, peer)
            return
        waiting = self._connecting_bytes.get(peer, 0) + len(payload)
        if waiting > self.send_buffer_limit:  # a peer slow to answer its handshake
            self._connecting_overflow(peer, waiting)
            return
        self._connecting_bytes[peer] = waiting
        queued.append(payload)

    def _connecting_overflow(self, peer: str, waiting: int) -> None:
        """More than ``send_buffer_limit`` bytes wait for a connection still being made:
        drop them and fire what waited on it, as for a connection that overflows."""
        _log.error(
            "%s: over %s bytes wait for a connection to %s: dropped, links and monitors fire",
            self.name,
            self.send_buffer_limit,
            peer,
        )
        telemetry.execute(
            SEND_OVERFLOW,
            {"count": 1, "bytes": waiting},
            {"node": self.name, "peer": peer, "limit": self.send_buffer_limit},
        )
        self._lost(peer, f"send buffer over {self.send_buffer_limit} bytes", was_up=False)

    # RemoteHook: what the kernel hands over

    def send(self, dest: Pid | tuple[str, str], message: Any) -> None:
        if isinstance(dest, Pid):
            conn = self.connections.get(dest[0])
            if conn is None:
                self._route(dest[0], ("send", dest, message))
            elif conn.flat:  # the hot path: connected (frames.Send, flat)
                conn.send_encoded(self.codec.encode_send(dest, message))
            else:
                conn.send(("send", dest, message))  # frames.Send, built inline
        else:
            name, peer = dest
            self._route(peer, ("send_name", name, message))  # frames.SendName, inline

    def link(self, local: Pid, remote: Pid) -> None:
        if remote[0] == self.name:  # this node's previous incarnation: gone for good
            kernel.deliver_exit(self.node, local, remote, NOPROC, link=True)
            return
        self._links.setdefault(remote[0], set()).add((local, remote))
        self._route(remote[0], frames.wire(frames.Link(local, remote)))

    def unlink(self, local: Pid, remote: Pid) -> None:
        self._links.get(remote[0], set()).discard((local, remote))
        self._route(remote[0], frames.wire(frames.Unlink(local, remote)))

    def monitor(self, watcher: Pid, ref: Ref, remote: Any) -> None:
        peer = remote[0] if type(remote) is Pid else remote[1]
        if peer == self.name:  # a pid of this node's previous incarnation: gone for good
            kernel.deliver_down(self.node, watcher, ref, remote, NOPROC)
            return
        self._monitors.setdefault(peer, {})[ref] = (watcher, remote)
        self._route(peer, frames.wire(frames.Monitor(watcher, ref, remote)))

    def call(self, watcher: Pid, ref: Ref, remote: Any, message: Any) -> None:
        # The callee's node monitors the callee for ``watcher`` when the request arrives:
        # no monitor message ahead of it (the request carries the caller's pid and ref).
        peer = remote[0] if type(remote) is Pid else remote[1]
        if peer == self.name:  # a pid of this node's previous incarnation: gone for good
            kernel.deliver_down(self.node, watcher, ref, remote, NOPROC)
            return
        # frames.Call, built inline (hot path); EncodeError, FrameError: raised here
        # The caller waits for the answer: the request is written now (send_encoded's now).
        conn = self.connections.get(peer)
        if conn is None:
            self._route(peer, ("call", remote, message))
        elif conn.flat and type(message) is CallRequest:
            conn.send_encoded(self.codec.encode_call(remote, message), now=True)
        else:
            conn.send_encoded(self.codec.encode(("call", remote, message)), now=True)
        self._monitors.setdefault(peer, {})[ref] = (watcher, remote)

    def demonitor(self, ref: Ref, remote: Any) -> None:
        peer = remote[0] if type(remote) is Pid else remote[1]
        if self._monitors.get(peer, {}).pop(ref, None) is not None:
            self._route(peer, frames.wire(frames.Demonitor(ref, remote)))

    # The kernel calls exit, reply and down from its exit fan-out and its servers: they
    # never raise. What cannot cross (EncodeError, FrameError) is replaced and counted.

    def exit(self, sender: Pid, remote: Pid | tuple[str, str], reason: Any, link: bool) -> None:
        """An exit signal to a remote pid, or (from ``stop``) to a remote ``(name, node)``."""
        peer = remote[0] if isinstance(remote, Pid) else remote[1]
        if link:
            self._links.get(peer, set()).discard((sender, remote))  # type: ignore[arg-type]
        try:
            self._route(peer, frames.wire(frames.Exit(sender, remote, reason, link)))
        except _UNSENDABLE_ERRORS as exc:
            self._unsendable(peer, "exit", exc)
            stand_in_exit = frames.Exit(sender, remote, stand_in(reason), link)
            self._route_quietly(peer, frames.wire(stand_in_exit))

    def reply(self, pid: Pid, ref: Ref, value: Any) -> None:
        """A reply that cannot cross fails that one call: the caller gets ``Exited(error)``
        at once, and the server, which a client could otherwise kill by asking for
        something too large, lives on."""
        local = self._unwatch(pid[0], ref)  # the reply ends the call: no demonitor follows
        try:
            conn = self.connections.get(pid[0])
            if conn is None:
                self._route(pid[0], ("reply", pid, ref, value))  # frames.Reply, inline
            else:
                # the hot path; the caller waits for it: written now
                if conn.flat:
                    payload = self.codec.encode_reply(pid, ref, value)
                else:
                    payload = self.codec.encode(("reply", pid, ref, value))
                conn.send_encoded(payload, now=True)
        except _UNSENDABLE_ERRORS as exc:
            self._unsendable(pid[0], "reply", exc)
            self._route_quietly(pid[0], frames.wire(frames.Down(pid, ref, local, exc)))

    def down(self, watcher: Pid, ref: Ref, pid: Pid, reason: Any) -> None:
        self._watched.get(watcher[0], {}).pop(ref, None)
        try:
            self._route(watcher[0], frames.wire(frames.Down(watcher, ref, pid, reason)))
        except _UNSENDABLE_ERRORS as exc:
            self._unsendable(watcher[0], "down", exc)
            stand_in_down = frames.Down(watcher, ref, pid, stand_in(reason))
            self._route_quietly(watcher[0], frames.wire(stand_in_down))

    def _unwatch(self, peer: str, ref: Ref) -> Pid | None:
        """End the watch a remote caller's call put on a local process; returns it."""
        local = self._watched.get(peer, {}).pop(ref, None)
        if local is not None:
            kernel.unwatch(self.node, local, ref)
        return local

    def _route_quietly(self, peer: str, message: Any) -> None:
        try:
            self._route(peer, message)
        except _UNSENDABLE_ERRORS as exc:  # a max_frame too small for even the stand-in
            _log.error("%s: cannot send %.40r to %s: %s", self.name, message, peer, exc)

    def _unsendable(self, peer: str, what: str, exc: Exception) -> None:
        self._log_once(
            (what, type(exc).__name__),
            "%s: a %s to %s cannot cross (%s); sent in its place: %s",
            self.name,
            what,
            peer,
            exc,
            "the error, to the caller" if what == "reply" else "a stand-in reason",
        )
        telemetry.execute(
            UNSENDABLE,
            {"count": 1},
            {"node": self.name, "peer": peer, "what": what, "why": str(exc)},
        )

    def _dropped(self, peer: str, kind: str, why: str) -> None:
        self._log_once((kind, why[:200]), "%s: dropped a message from %s: %s", self.name, peer, why)
        telemetry.execute(
            MESSAGE_DROPPED,
            {"count": 1},
            {"node": self.name, "peer": peer, "kind": kind, "why": why},
        )

    def _log_once(self, kind: tuple[str, str], text: str, *args: Any) -> None:
        if kind not in self._logged_kinds:
            if len(self._logged_kinds) >= _LOGGED_KINDS_LIMIT:
                self._logged_kinds.clear()
            self._logged_kinds.add(kind)
            _log.warning(text, *args)

    def monitor_node(self, watcher: Pid, peer: str) -> None:
        """``watcher`` gets ``NodeDown(peer, reason)`` when the connection to ``peer`` ends
        (at once if it cannot be made)."""
        self._node_watchers.setdefault(peer, set()).add(watcher)
        if peer not in self.connections and peer not in self._connecting:
            self._route(peer, ("tick",))

    def demonitor_node(self, watcher: Pid, peer: str) -> None:
        self._node_watchers.get(peer, set()).discard(watcher)

    def _notify_all(self, event: NodeUp | NodeDown) -> None:
        for watcher in list(self._all_nodes_watchers):
            if self.node.is_alive(watcher):
                self.node.send(watcher, event)
            else:
                self._all_nodes_watchers.discard(watcher)

    def monitor_nodes(self, watcher: Pid, flag: bool = True) -> None:
        """``watcher`` gets ``NodeUp``/``NodeDown`` for every peer from now on (Erlang's
        ``net_kernel:monitor_nodes``); a dead watcher is dropped on the next event."""
        if flag:
            self._all_nodes_watchers.add(watcher)
        else:
            self._all_nodes_watchers.discard(watcher)

    def request_spawn(
        self, watcher: Pid, ref: Ref, peer: str, target: Any, args: tuple[Any, ...], link: bool
    ) -> None:
        self._monitors.setdefault(peer, {})[ref] = (watcher, (None, peer))
        self._route(peer, frames.wire(frames.Spawn(watcher, ref, target, args, link)))

    # -- what arrives --

    def _dispatch(self, conn: Connection, message: Any) -> None:
        """Hand a frame from ``conn``'s peer to the handler of its kind, which takes the
        frame's fields (see ``_frames``). A malformed frame raises (``BadFrame``,
        ``UnknownFrame``), and the connection closes."""
        if type(message) is tuple and len(message) == 3 and message[0] == "send":
            to, node = message[1], self.node  # the hot path (casts, sends): a frames.Send to
            if type(to) is Pid and to[0] == node.name and to[2] == node.creation:  # a pid here
                node.send(to, message[2])
                return
        self._handlers[frames.check(message)](conn, *message[1:])

    def _on_send(self, conn: Connection, to: Pid, message: Any) -> None:
        # a send to a pid of this node never gets here (_dispatch delivers it first): this
        # is one to a pid elsewhere, which a peer cannot relay through us
        self._dropped(conn.peer.name, "not_here", f"{to} is not a pid of this node")

    def _on_send_name(self, conn: Connection, name: str, message: Any) -> None:
        pid = self.node.whereis(name)
        if pid is None:
            self._dropped(
                conn.peer.name, "unknown_name", f"no process is registered as {name!r:.100}"
            )
        else:
            self.node.send(pid, message)

    def _on_call(self, conn: Connection, target: Any, request: Any) -> None:
        """A call: monitor the callee for the caller (the request carries its pid and
        ref), then deliver the request; a callee that is not there answers ``noproc``."""
        caller = request.caller if type(request) is CallRequest else None
        peer = conn.peer.name
        if type(caller) is not Caller or type(caller.pid) is not Pid or type(caller.ref) is not Ref:
            raise frames.BadFrame("call.request: not a CallRequest")
        watcher, ref = caller
        _own(peer, "call", watcher, ref)
        node = self.node
        callee = _local_target(node, "call", target)
        if callee is None or not kernel.watch(node, callee, ref, watcher):
            conn.send(frames.wire(frames.Down(watcher, ref, target, NOPROC)))
            return
        self._watched.setdefault(peer, {})[ref] = callee
        node.send(callee, request)  # (dropped if the callee is exiting: its Down follows)

    def _awaited(self, conn: Connection, kind: str, to: Pid, ref: Ref) -> Any:
        """End the watch this node recorded for ``ref`` (a call or spawn sent to the peer)
        if ``to`` made it, and return what it watched (None: not awaited). An answer for
        anything else (a late reply after a timeout, a guessed ref, a pid elsewhere to
        relay to) is dropped and counted: a peer never steers a reply, spawned or down to a
        process of its choosing."""
        watches = self._monitors.get(conn.peer.name)
        watch = watches.get(ref) if watches is not None else None
        if watches is None or watch is None or watch[0] != to:
            if kind == "reply" and self.node.is_local(to):  # most often a call that timed out
                metadata = {"node": self.name, "pid": to, "ref": ref}
                telemetry.execute(telemetry.REPLY_DROP, {"count": 1}, metadata)
            else:
                why = f"a {kind} for {ref} that {to} does not await"
                self._dropped(conn.peer.name, "unawaited", why)
            return None
        del watches[ref]
        return watch[1]

    def _on_reply(self, conn: Connection, to: Pid, ref: Ref, value: Any) -> None:
        if self._awaited(conn, "reply", to, ref) is not None:
            kernel.deliver_reply(self.node, to, ref, value)

    def _on_spawned(self, conn: Connection, owner: Pid, ref: Ref, pid: Pid, link: bool) -> None:
        if pid[0] != conn.peer.name:
            raise frames.BadFrame(f"spawned.pid: {pid} is not a process of the peer")
        if self._awaited(conn, "spawned", owner, ref) is None:
            return
        # the caller's half of the link, before any exit
        if link and kernel.add_link(self.node, owner, pid):
            self._links.setdefault(conn.peer.name, set()).add((owner, pid))
        kernel.deliver_reply(self.node, owner, ref, ("ok", pid))

    def _on_down(self, conn: Connection, watcher: Pid, ref: Ref, target: Any, reason: Any) -> None:
        if self._awaited(conn, "down", watcher, ref) is not None:
            kernel.deliver_down(self.node, watcher, ref, target, reason)

    def _on_link(self, conn: Connection, remote: Pid, local: Pid) -> None:
        _sent_by(conn.peer.name, "link", remote)
        if self.node.is_alive(local) and kernel.add_link(self.node, local, remote):
            self._links.setdefault(conn.peer.name, set()).add((local, remote))
        else:
            conn.send(frames.wire(frames.Exit(local, remote, NOPROC, True)))

    def _on_unlink(self, conn: Connection, remote: Pid, local: Pid) -> None:
        _sent_by(conn.peer.name, "unlink", remote)
        kernel.remove_link(self.node, local, remote)
        self._links.get(conn.peer.name, set()).discard((local, remote))

    def _on_exit(self, conn: Connection, sender: Pid, target: Any, reason: Any, link: bool) -> None:
        _sent_by(conn.peer.name, "exit", sender)
        node = self.node
        target = _local_target(node, "exit", target)  # (name, this node): stop() kills a server
        if target is None:
            return
        if link:
            self._links.get(conn.peer.name, set()).discard((target, sender))
        kernel.deliver_exit(node, target, sender, reason, link=link)

    def _on_monitor(self, conn: Connection, watcher: Pid, ref: Ref, target: Any) -> None:
        _own(conn.peer.name, "monitor", watcher, ref)
        node = self.node
        local = _local_target(node, "monitor", target)
        if local is None or not kernel.watch(node, local, ref, watcher):
            conn.send(frames.wire(frames.Down(watcher, ref, target, NOPROC)))
        else:
            self._watched.setdefault(conn.peer.name, {})[ref] = local

    def _on_demonitor(self, conn: Connection, ref: Ref, target: Any) -> None:
        local = self._watched.get(conn.peer.name, {}).pop(ref, None)
        if local is not None:
            kernel.unwatch(self.node, local, ref)

    def _on_address(self, conn: Connection, address: str | None) -> None:
        if address:
            peer = conn.peer.name
            self.addresses[peer] = address
            self._gossip({peer: address}, but=peer)  # its peers learn too

    def _on_peers(self, conn: Connection, peers: dict[str, str]) -> None:
        self._learn(peers)

    def _undecodable(self, conn: Connection, error: DecodeError) -> None:
        """A message from ``conn``'s peer holds a value this node cannot rebuild (a class
        only the sender can import, as during a rolling deploy; a pickle this node refuses).
        Only that message is dropped, and counted: a call it carried is answered with the
        error, an exit signal or a down is delivered with a stand-in reason."""
        peer = conn.peer.name
        message: Any = error.partial
        self._dropped(peer, "undecodable", str(error))
        op = message[0] if type(message) is tuple and message else None
        if op in ("send", "send_name", "call") and len(message) == 3:
            request = message[2]
            if type(request) is CallRequest and type(request.caller) is Caller:
                caller = request.caller
                target = message[1]
                if op == "send_name":
                    target = (target, self.name)
                self._unwatch(peer, caller.ref)  # none for a "call": it never arrived
                conn.send(frames.wire(frames.Down(caller.pid, caller.ref, target, error)))
        elif op == "reply" and len(message) == 4:
            _, pid, ref, _value = message
            if type(pid) is Pid and type(ref) is Ref:
                watched = self._awaited(conn, "reply", pid, ref)
                if watched is not None:
                    kernel.deliver_down(self.node, pid, ref, watched, error)
        elif op == "spawn" and len(message) == 6:
            conn.send(frames.wire(frames.Reply(message[1], message[2], ("error", error))))
        elif op == "exit" and len(message) == 5:
            self._dispatch(conn, (*message[:3], ("undecodable", str(error)), message[4]))
        elif op == "down" and len(message) == 5:
            self._dispatch(conn, (*message[:4], ("undecodable", str(error))))

    def _spawn_for(
        self,
        conn: Connection,
        reply_to: Pid,
        ref: Ref,
        target: Any,
        args: tuple[Any, ...],
        link: bool,
    ) -> None:
        if self.spawn_modules is not None:
            module = _module_of(target)
            if module is None or not module_allowed(module, self.spawn_modules):
                self._spawn_refused(conn, target)
                refusal = PermissionError(
                    f"{self.name} does not allow spawning {_describe(target)}: "
                    f"its module is not in spawn_modules"
                )
                conn.send(frames.wire(frames.Reply(reply_to, ref, ("error", refusal))))
                return
        try:
            fn = resolve_function(target)
            pid = self.node.spawn(fn, tuple(args))
        except Exception as exc:
            conn.send(frames.wire(frames.Reply(reply_to, ref, ("error", exc))))
            return
        if link:
            kernel.add_link(self.node, pid, reply_to)
            self._links.setdefault(conn.peer.name, set()).add((pid, reply_to))
        # "spawned" goes out before the new process can run, so before any exit of it
        conn.send(frames.wire(frames.Spawned(reply_to, ref, pid, link)))

    def _spawn_refused(self, conn: Connection, target: Any) -> None:
        what = _describe(target)
        self._log_once(
            ("spawn_refused", what[:200]),
            "%s: refused %s a spawn of %s (not in spawn_modules)",
            self.name,
            conn.peer.name,
            what,
        )
        telemetry.execute(
            SPAWN_REFUSED,
            {"count": 1},
            {"node": self.name, "peer": conn.peer.name, "target": what},
        )


def module_allowed(module: str, allowed: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``allowed`` or a submodule of one.

    >>> allowed = {"myapp.jobs"}
    >>> module_allowed("myapp.jobs.nightly", allowed), module_allowed("myapp", allowed)
    (True, False)
    >>> module_allowed("myapp.jobsx", allowed)
    False
    """
    return any(module == prefix or module.startswith(prefix + ".") for prefix in allowed)


def _module_of(target: Any) -> str | None:
    """The module a spawn request's target lives in, read without importing anything:
    ``"module"`` of ``"module:qualname"``, or a (pickled) function's ``__module__``."""
    if type(target) is str:
        return target.partition(":")[0]
    module = getattr(target, "__module__", None)
    return module if type(module) is str else None


def _describe(target: Any) -> str:
    if type(target) is str:
        return repr(target[:200])
    return f"{_module_of(target)}:{getattr(target, '__qualname__', '?')}"


async def _close_now(stream: anyio.abc.ByteStream) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.aclose_forcefully(stream)


def function_reference(fn: Callable[..., Any]) -> str | Callable[..., Any]:
    """``"module:qualname"`` for an importable function, else the function itself (which
    then travels with cloudpickle, where the nodes allow it)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):  # a classmethod, bound to its class: Actor.start_link
        module, qualname = owner.__module__, f"{owner.__qualname__}.{fn.__name__}"
    if module and "<" not in qualname and module != "__main__":
        try:
            if resolve_function(f"{module}:{qualname}") == fn:
                return f"{module}:{qualname}"
        except Exception:
            pass
    return fn


def resolve_function(target: Any) -> Callable[..., Any]:
    if callable(target):
        return target  # type: ignore[no-any-return]
    module_name, _, qualname = str(target).partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]
