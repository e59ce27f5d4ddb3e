"""The mesh: this node's connections to its peers (the contract is on :class:`Cluster`)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import anyio.abc

from .. import telemetry
from ..actors import NOCONNECTION, NOPROC, Node, Pid, Ref
from ..actors._messages import Caller, CallRequest
from ._connection import Connection, read_one
from ._errors import DecodeError, EncodeError, FrameError
from ._framing import DEFAULT_MAX_FRAME, FrameDecoder, encode_frame
from ._handshake import Acceptor, HandshakeError, Initiator, Peer
from ._wire import Codec, PlainCodec, stand_in

_log = logging.getLogger("beamish.cluster")

NODE_UP = telemetry.CLUSTER_NODE_UP
NODE_DOWN = telemetry.CLUSTER_NODE_DOWN
HANDSHAKE_FAILED = telemetry.CLUSTER_HANDSHAKE_FAILED
MESSAGE_DROPPED = telemetry.CLUSTER_MESSAGE_DROPPED
UNSENDABLE = telemetry.CLUSTER_UNSENDABLE
_UNSENDABLE_ERRORS = (EncodeError, FrameError)
_LOGGED_KINDS_LIMIT = 1024
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


def is_node_name(target: str) -> bool:
    """``name@host`` is a node; ``host:port`` or ``scheme://...`` is an address.

    >>> is_node_name("a@host"), is_node_name("mem://a@host"), is_node_name("10.0.0.1:4369")
    (True, False, False)
    """
    return "@" in target and "://" not in target


def default_directory() -> Path:
    """Where the nodes of this host announce their addresses (per user, no daemon)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"beamish-{os.getuid()}"


class Cluster:
    """The distribution layer of one node (.

    ``Cluster`` is the kernel's ``RemoteHook``: the node hands it every send, link, monitor,
    exit signal and reply whose other end lives on another node. It keeps, per peer, the links
    and monitors that cross that connection, so that when the connection is lost every one of
    them fires with ``"noconnection"`` (Erlang's semantics), and ``monitor_node`` watchers get
    ``NodeDown(node, reason)``.

    Connections are made on demand (the first message to a node connects to it), from a seed
    list, or by discovery through a runtime directory shared by the nodes of one host; once
    two nodes are connected they tell each other about their other peers, so the cluster
    becomes a full mesh. If two nodes connect to each other at once, the connection opened by
    the node with the smaller name wins, on both sides.

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
        self.directory = directory
        self.address: str | None = None
        self.connections: dict[str, Connection] = {}
        self.addresses: dict[str, str] = {}
        self._connecting: dict[str, list[bytes]] = {}
        self._links: dict[str, set[tuple[Pid, Pid]]] = {}
        self._monitors: dict[str, dict[Ref, tuple[Pid, Any]]] = {}
        self._watched: dict[str, dict[Ref, Pid]] = {}
        self._node_watchers: dict[str, set[Pid]] = {}
        self._all_nodes_watchers: set[Pid] = set()
        self._deferred: dict[str, Callable[[Any], None]] = {}
        self.hidden = hidden  # Erlang's hidden node: connects only where it is told to
        self._group: anyio.abc.TaskGroup | None = None
        self.advertise: str | None = None  # the address peers are told (default: .address)
        self._logged_kinds: set[tuple[str, str]] = set()  # drops are logged once per kind

    def __repr__(self) -> str:
        return f"<Cluster {self.name} at {self.address} peers={sorted(self.connections)}>"

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
                listener = await self.transport.listen(listen)
                self.address = listener.address
                group.start_soon(listener.serve, self._accepted)
                self._announce()
            self.node.remote = self
            try:
                for seed in seeds:
                    group.start_soon(self._connect_quietly, seed)
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

    @property
    def public_address(self) -> str | None:
        """The address peers are given: ``advertise`` if set, else the listen address."""
        return self.advertise or self.address

    def _announce(self) -> None:
        if self.directory is None or self.public_address is None:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.directory / self.name).write_text(self.public_address)

    def _withdraw(self) -> None:
        if self.directory is None:
            return
        entry = self.directory / self.name
        with contextlib.suppress(OSError):
            if entry.read_text() == self.public_address:
                entry.unlink()

    def discovered(self) -> dict[str, str]:
        """Nodes announced in the runtime directory (name -> address), this one excluded."""
        if self.directory is None or not self.directory.is_dir():
            return {}
        found = {}
        for entry in self.directory.iterdir():
            if entry.name != self.name:
                with contextlib.suppress(OSError):
                    found[entry.name] = entry.read_text().strip()
        return found

    # -- connecting --

    async def connect(self, target: str) -> str:
        """Connect to a node by address (``host:port``, ``mem://name``) or by name (looked
        up among known and discovered addresses); returns the peer's name."""
        if target in self.connections:
            return target
        address = self.addresses.get(target) or self.discovered().get(target)
        if address is None:
            if is_node_name(target):
                raise ConnectionError(f"cannot connect to {target}: its address is not known")
            address = target
        stream = await self.transport.connect(address, timeout=self.handshake_timeout)
        decoder = FrameDecoder(min(self.max_frame, HANDSHAKE_MAX_FRAME))
        pending: list[bytes] = []
        plain = PlainCodec()  # nothing from the peer is trusted before it proved the cookie
        try:
            with anyio.fail_after(self.handshake_timeout):
                initiator = Initiator(self.name, self.node.creation, self._cookie)
                await self._say(stream, initiator.hello())
                proof = initiator.on_challenge(await read_one(stream, decoder, plain, pending))
                decoder.max_frame = self.max_frame  # the peer proved the cookie
                await self._say(stream, proof)
                peer = initiator.on_welcome(await read_one(stream, decoder, plain, pending))
        except _HANDSHAKE_ERRORS as exc:
            await stream.aclose()
            self._handshake_failed(address, exc)
            raise ConnectionError(f"cannot connect to {target}: {exc}") from exc
        except BaseException:  # cancelled mid-handshake (the node stops): never leak the socket
            await _close_now(stream)
            raise
        if is_node_name(target):
            self.addresses.setdefault(peer.name, address)
        elif address == target:
            self.addresses[peer.name] = address
        await self._established(stream, peer, decoder, pending, outgoing=True)
        return peer.name

    async def _connect_quietly(self, target: str) -> None:
        """Connect in the background: whatever goes wrong is logged, never raised."""
        try:
            await self.connect(target)
        except Exception as exc:
            _log.warning("%s: %s", self.name, exc)
            if is_node_name(target):
                self._lost(target, NOCONNECTION)

    async def _accepted(self, stream: anyio.abc.ByteStream) -> None:
        decoder = FrameDecoder(min(self.max_frame, HANDSHAKE_MAX_FRAME))
        pending: list[bytes] = []
        plain = PlainCodec()  # nothing from the peer is trusted before it proved the cookie
        try:
            with anyio.fail_after(self.handshake_timeout):
                acceptor = Acceptor(self.name, self.node.creation, self._cookie)
                challenge = acceptor.on_hello(await read_one(stream, decoder, plain, pending))
                await self._say(stream, challenge)
                welcome = acceptor.on_proof(await read_one(stream, decoder, plain, pending))
                decoder.max_frame = self.max_frame  # the peer proved the cookie
                await self._say(stream, welcome)
                assert acceptor.peer is not None
                peer = acceptor.peer
        except _HANDSHAKE_ERRORS as exc:
            await stream.aclose()
            self._handshake_failed("an incoming connection", exc)
            return
        except BaseException:
            await _close_now(stream)
            raise
        await self._established(stream, peer, decoder, pending, outgoing=False)

    async def _say(self, stream: anyio.abc.ByteStream, message: Any) -> None:
        await stream.send(encode_frame(PlainCodec().encode(message)))

    def _handshake_failed(self, who: str, exc: BaseException) -> None:
        why = str(exc) or type(exc).__name__
        _log.warning("%s: handshake with %s failed: %s", self.name, who, why)
        telemetry.execute(HANDSHAKE_FAILED, {"count": 1}, {"node": self.name, "why": why})

    async def _established(
        self,
        stream: anyio.abc.ByteStream,
        peer: Peer,
        decoder: FrameDecoder,
        early: list[bytes],
        outgoing: bool,
    ) -> None:
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
        )
        existing = self.connections.get(peer.name)
        if existing is not None:
            winner = min(self.name, peer.name)
            if (self.name if outgoing else peer.name) != winner or (
                (self.name if existing.outgoing else peer.name) == winner
            ):
                await stream.aclose()
                return
            existing.superseded = True
            existing.close("superseded by a simultaneous connection")
        self.connections[peer.name] = conn
        conn.send(("address", self.public_address))
        conn.send(("peers", {n: a for n, a in self.addresses.items() if n in self.connections}))
        for payload in self._connecting.pop(peer.name, ()):
            conn.send_encoded(payload)
        if existing is None:
            _log.info("%s: connected to %s", self.name, peer.name)
            telemetry.execute(NODE_UP, {"count": 1}, {"node": self.name, "peer": peer.name})
            self._notify_all(NodeUp(peer.name))
        if outgoing:
            assert self._group is not None
            self._group.start_soon(self._watch, conn)
        else:  # an accepted stream belongs to its listener handler: run it right here
            await self._watch(conn)

    async def _watch(self, conn: Connection) -> None:
        await conn.run()
        if self.connections.get(conn.peer.name) is conn:
            del self.connections[conn.peer.name]
        if not conn.superseded:
            self._lost(conn.peer.name, conn.reason)

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

    def _lost(self, peer: str, reason: Any, exit_reason: Any = NOCONNECTION) -> None:
        """The connection to ``peer`` is gone: fire everything that crossed it."""
        if peer in self.connections:
            return
        notify = self._deferred.pop(peer, None)
        if notify is not None:
            notify(reason)
            return
        orderly = isinstance(reason, str) and reason == "shutdown"
        _log.log(
            logging.INFO if orderly else logging.WARNING, "%s: lost %s: %s", self.name, peer, reason
        )
        self._connecting.pop(peer, None)
        node = self.node
        for local, remote in self._links.pop(peer, ()):
            proc = node._proc(local)
            if proc is not None and proc.remove_link(remote):
                node._exit_signal(proc, remote, exit_reason, link=True)
        for ref, (watcher, target) in self._monitors.pop(peer, {}).items():
            node._deliver_down(watcher, ref, target, exit_reason)
        for ref, local in self._watched.pop(peer, {}).items():
            proc = node._proc(local)
            if proc is not None and proc._monitored_by:
                proc._monitored_by.pop(ref, None)
        for watcher in self._node_watchers.pop(peer, set()):
            node.send(watcher, NodeDown(peer, reason))
        self._notify_all(NodeDown(peer, reason))
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
            if peer == self.name or self._group is None or self.node.closing:
                return
            self._connecting[peer] = [payload]
            self._group.start_soon(self._connect_quietly, peer)
        else:
            queued.append(payload)

    # RemoteHook: what the kernel hands over

    def send(self, dest: Pid | tuple[str, str], message: Any) -> None:
        if isinstance(dest, Pid):
            self._route(dest.node, ("send", dest, message))
        else:
            name, peer = dest
            self._route(peer, ("send_name", name, message))

    def link(self, local: Pid, remote: Pid) -> None:
        self._links.setdefault(remote[0], set()).add((local, remote))
        self._route(remote[0], ("link", local, remote))

    def unlink(self, local: Pid, remote: Pid) -> None:
        self._links.get(remote[0], set()).discard((local, remote))
        self._route(remote[0], ("unlink", local, remote))

    def monitor(self, watcher: Pid, ref: Ref, remote: Any) -> None:
        peer = remote[0] if type(remote) is Pid else remote[1]
        self._monitors.setdefault(peer, {})[ref] = (watcher, remote)
        self._route(peer, ("monitor", watcher, ref, remote))

    def demonitor(self, ref: Ref, remote: Any) -> None:
        peer = remote[0] if type(remote) is Pid else remote[1]
        if self._monitors.get(peer, {}).pop(ref, None) is not None:
            self._route(peer, ("demonitor", ref, remote))

    # The kernel calls exit, reply and down from its exit fan-out and its servers: they
    # never raise. What cannot cross (EncodeError, FrameError) is replaced and counted.

    def exit(self, sender: Pid, remote: Pid, reason: Any, link: bool) -> None:
        if link:
            self._links.get(remote[0], set()).discard((sender, remote))
        try:
            self._route(remote[0], ("exit", sender, remote, reason, link))
        except _UNSENDABLE_ERRORS as exc:
            self._unsendable(remote[0], "exit", exc)
            self._route_quietly(remote[0], ("exit", sender, remote, stand_in(reason), link))

    def reply(self, pid: Pid, ref: Ref, value: Any) -> None:
        """A reply that cannot cross fails that one call: the caller gets ``Exited(error)``
        at once, and the server, which a client could otherwise kill by asking for
        something too large, lives on."""
        local = self._unwatch(pid[0], ref)  # the reply ends the call: no demonitor follows
        try:
            self._route(pid[0], ("reply", pid, ref, value))
        except _UNSENDABLE_ERRORS as exc:
            self._unsendable(pid[0], "reply", exc)
            self._route_quietly(pid[0], ("down", pid, ref, local, exc))

    def down(self, watcher: Pid, ref: Ref, pid: Pid, reason: Any) -> None:
        self._watched.get(watcher[0], {}).pop(ref, None)
        try:
            self._route(watcher[0], ("down", watcher, ref, pid, reason))
        except _UNSENDABLE_ERRORS as exc:
            self._unsendable(watcher[0], "down", exc)
            self._route_quietly(watcher[0], ("down", watcher, ref, pid, stand_in(reason)))

    def _unwatch(self, peer: str, ref: Ref) -> Pid | None:
        """End the watch a remote caller's call put on a local process; returns it."""
        local = self._watched.get(peer, {}).pop(ref, None)
        proc = self.node._proc(local) if local is not None else None
        if proc is not None and proc._monitored_by:
            proc._monitored_by.pop(ref, None)
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
        self._route(peer, ("spawn", watcher, ref, target, args, link))

    # -- what arrives --

    def _dispatch(self, conn: Connection, message: Any) -> None:
        node = self.node
        peer = conn.peer.name
        op = message[0]
        if op == "send":
            if node.is_local(message[1]):  # a peer cannot relay through us to a third node
                node.send(message[1], message[2])
        elif op == "send_name":
            named = node.whereis(message[1]) if type(message[1]) is str else None
            if named is None:
                self._dropped(
                    peer, "unknown_name", f"no process is registered as {message[1]!r:.100}"
                )
            else:
                node.send(named, message[2])
        elif op == "reply":
            _, pid, ref, value = message
            self._monitors.get(peer, {}).pop(ref, None)
            node._deliver_reply(pid, ref, value)
        elif op == "spawned":
            _, owner, ref, pid, link = message
            self._monitors.get(peer, {}).pop(ref, None)
            proc = node._proc(owner)
            if link and proc is not None:  # the caller's half of the link, before any exit
                proc.add_link(pid)
                self._links.setdefault(peer, set()).add((owner, pid))
            node._deliver_reply(owner, ref, ("ok", pid))
        elif op == "down":
            _, watcher, ref, pid, reason = message
            if self._monitors.get(peer, {}).pop(ref, None) is not None:
                node._deliver_down(watcher, ref, pid, reason)
        elif op == "link":
            _, remote, local = message
            proc = node._proc(local)
            if proc is not None and proc.alive:
                proc.add_link(remote)
                self._links.setdefault(peer, set()).add((local, remote))
            else:
                conn.send(("exit", local, remote, NOPROC, True))
        elif op == "unlink":
            _, remote, local = message
            proc = node._proc(local)
            if proc is not None:
                proc.remove_link(remote)
            self._links.get(peer, set()).discard((local, remote))
        elif op == "exit":
            _, sender, target, reason, link = message
            proc = node._proc(target)
            if proc is None:
                return
            if link:
                self._links.get(peer, set()).discard((target, sender))
                if not proc.remove_link(sender):
                    return
            node._exit_signal(proc, sender, reason, link)
        elif op == "monitor":
            _, watcher, ref, target = message
            local = node.resolve(target if type(target) is Pid else target[0])
            proc = node._proc(local) if type(local) is Pid else None
            if proc is None:
                conn.send(("down", watcher, ref, target, NOPROC))
            else:
                proc.add_watcher(ref, watcher)
                self._watched.setdefault(peer, {})[ref] = proc.pid
        elif op == "demonitor":
            _, ref, _target = message
            local = self._watched.get(peer, {}).pop(ref, None)
            proc = node._proc(local) if local is not None else None
            if proc is not None and proc._monitored_by:
                proc._monitored_by.pop(ref, None)
        elif op == "spawn":
            self._spawn_for(conn, *message[1:])
        elif op == "address":
            if message[1]:
                self.addresses[peer] = message[1]
        elif op == "peers":
            if self.hidden:
                return
            for name, address in message[1].items():
                if name != self.name and name not in self.connections:
                    self.addresses.setdefault(name, address)
                    if name not in self._connecting and self._group is not None:
                        self._connecting[name] = []
                        self._group.start_soon(self._connect_quietly, name)
        else:
            raise ValueError(f"unknown operation {op!r}")

    def _undecodable(self, conn: Connection, error: DecodeError) -> None:
        """A message from ``conn``'s peer holds a value this node cannot rebuild (a class
        only the sender can import, as during a rolling deploy; a pickle this node refuses).
        Only that message is dropped, and counted: a call it carried is answered with the
        error, an exit signal or a down is delivered with a stand-in reason."""
        peer = conn.peer.name
        message: Any = error.partial
        self._dropped(peer, "undecodable", str(error))
        op = message[0] if type(message) is tuple and message else None
        if op in ("send", "send_name") and len(message) == 3:
            request = message[2]
            if type(request) is CallRequest and type(request.caller) is Caller:
                caller = request.caller
                target = message[1] if type(message[1]) is Pid else (message[1], self.name)
                self._unwatch(peer, caller.ref)
                conn.send(("down", caller.pid, caller.ref, target, error))
        elif op == "reply" and len(message) == 4:
            _, pid, ref, _value = message
            watch = self._monitors.get(peer, {}).pop(ref, None)
            if watch is not None:
                self.node._deliver_down(pid, ref, watch[1], error)
        elif op == "spawn" and len(message) == 6:
            conn.send(("reply", message[1], message[2], ("error", error)))
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
        try:
            fn = resolve_function(target)
            pid = self.node.spawn(fn, tuple(args))
        except Exception as exc:
            conn.send(("reply", reply_to, ref, ("error", exc)))
            return
        if link:
            proc = self.node._proc(pid)
            assert proc is not None
            proc.add_link(reply_to)
            self._links.setdefault(conn.peer.name, set()).add((pid, reply_to))
        # "spawned" goes out before the new process can run, so before any exit of it
        conn.send(("spawned", reply_to, ref, pid, link))


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
