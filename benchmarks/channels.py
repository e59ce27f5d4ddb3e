"""beamish.channels beside python-socketio and Django Channels, at 10,000 clients, in one run.

    .venv/bin/pip install -r benchmarks/requirements-channels.txt
    .venv/bin/python benchmarks/channels.py            # full: 10,000 clients, 3 peers
    .venv/bin/python benchmarks/channels.py --quick    # 200 clients, 1 pair: a sanity run

Each round starts a fresh server under uvicorn in its own OS process (so its memory starts
clean) and ``--loaders`` client processes; the rounds of the peers interleave (beamish,
socketio, django, then reversed, ...) and every row is reported as the median of the
per-round ratios beamish/peer with their spread. One round, the same for every peer:

1. **warm**: one client connects, joins ``room:bench``, echoes once and gets one broadcast
   (lazy imports and first-use caches are neither per-client memory nor in a timed figure);
   a ``gc.collect()`` in the server, then its RSS and USS: the baseline;
2. **connect**: the other N-1 clients connect, at most ``--concurrency`` handshakes in flight
   per loader: *connections accepted/s*; then **join**: each joins the room (beamish:
   ``phx_join`` of a channel; socket.io: an event whose handler calls ``enter_room``;
   Django: a message whose consumer calls ``group_add`` on the in-memory layer): *joins/s*;
3. **memory**: ``gc.collect()`` in the server, then (RSS - baseline) / (N - 1), and the same
   for USS (psutil, no tracemalloc);
4. **round trips**: ``--rtt-clients`` clients spread over the loaders push and await the
   reply in a loop (a 1 s warm-up, then ``--rtt-seconds``): round trips/s, p50, p99;
5. **fan-out**: ``--broadcasts`` times, one client asks the server to broadcast one message
   to the room and every loader counts its deliveries; the next broadcast starts once all N
   have arrived. deliveries/s = deliveries / time from each request to its last delivery.
   The phase is bounded by ``--fanout-timeout``: a peer that has not delivered by then is
   reported as "D of M in T s" (the rate over that window) and the round goes on.

Every client, whatever the peer, is the same minimal RFC 6455 client below (one asyncio
Protocol per connection, no extensions, no compression) speaking the peer's own framing:
Phoenix V2 JSON (heartbeat every 30 s as phoenix.js), engine.io 4 / socket.io 5 (answers the
server's pings as the official client), plain JSON for Django (no keepalive, as the
consumer has none). So client cost is alike for the three, and small: the script prints the
CPU of every loader per phase and flags a phase where one is near 100% (client-bound).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import itertools
import json
import os
import queue
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve()
HOST = "127.0.0.1"
ROOM = "room:bench"
PEERS = ("beamish", "socketio", "django")
ALIASES = {"beamish_raw": "beamish"}  # before the one raw client, the raw-client beamish row
BACKLOG = 4096  # uvicorn's listen backlog; Linux caps it at net.core.somaxconn (4096 here)
HEARTBEAT = 30.0  # phoenix.js's heartbeat interval


def raise_fd_limit() -> int:
    """The soft RLIMIT_NOFILE up to the hard one (10,000 sockets need more than 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def kernel_limits(clients: int) -> str:
    """The kernel's limits that 10,000 loopback connections meet: ephemeral ports (one per
    client, all to one server port) and the listen backlog's cap; an error if too few ports."""

    def read(name: str) -> list[int]:
        try:
            return [int(x) for x in Path(f"/proc/sys/net/{name}").read_text().split()]
        except OSError:
            return []

    ports = read("ipv4/ip_local_port_range")
    somaxconn = read("core/somaxconn")
    if ports and ports[1] - ports[0] + 1 < clients + 100:
        raise SystemExit(f"{clients} clients need more ephemeral ports than {ports} gives")
    return f"ephemeral ports {ports}, somaxconn {somaxconn} (backlog {BACKLOG} asked)"


# -- the servers: the same room, echo and broadcast in each ----------------------------------

SETTINGS = {
    "all": "uvicorn {uvicorn}: loop auto ({loop}), http auto ({http}), ws auto "
    f"(websockets-sansio), backlog {BACKLOG}, ws_ping_interval None (each protocol keeps its "
    "own keepalive), access log off; no permessage-deflate (the client offers none); "
    "clients: the raw client below, on {loop}, 1 s warm-up before timed round trips",
    "beamish": "channels.Endpoint defaults (outbox_limit 1000, heartbeat_timeout 60 s), "
    "check_origin off, its own node (start_node=beamish.runtime.start) in uvicorn's lifespan",
    "socketio": "AsyncServer(async_mode='asgi') defaults: ping_interval 25 s, ping_timeout 20 s "
    "(the engine.io keepalive), async_handlers on; cors '*'; clients go straight to the "
    "websocket transport (no polling upgrade)",
    "django": "InMemoryChannelLayer at its defaults, written out: capacity 100 (one broadcast "
    "in flight per consumer: never full here), expiry 60 s (the fan-out window is shorter), "
    "group_expiry 86400 s; AsyncJsonWebsocketConsumer, DEBUG off",
}


def beamish_app() -> Any:
    import beamish
    from beamish import channels

    class Room(channels.Channel):
        def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
            return None

        def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
            if event == "shout":
                socket.broadcast("shout", {"k": payload["k"]})
                return channels.ok()
            return channels.ok(payload)

    class BenchSocket(channels.Socket):
        routes = [("room:*", Room)]  # noqa: RUF012

        def connect(self, params: dict[str, Any], info: channels.ConnectInfo) -> Any:
            return {}

    return channels.Endpoint(
        BenchSocket, path="/socket", check_origin=False, start_node=beamish.runtime.start
    )


def socketio_app() -> Any:
    import socketio

    sio = socketio.AsyncServer(
        async_mode="asgi", cors_allowed_origins="*", ping_interval=25, ping_timeout=20
    )

    @sio.on("join")
    async def join(sid: str, data: Any) -> str:
        await sio.enter_room(sid, data["room"])
        return "ok"

    @sio.on("echo")
    async def echo(sid: str, data: Any) -> Any:
        return data

    @sio.on("shout")
    async def shout(sid: str, data: Any) -> str:
        await sio.emit("shout", {"k": data["k"]}, room=data["room"])
        return "ok"

    return socketio.ASGIApp(sio)


def django_app() -> Any:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels.layers.InMemoryChannelLayer",
                "CONFIG": {"capacity": 100, "expiry": 60, "group_expiry": 86400},
            }
        },
    )
    django.setup()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    class Consumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def receive_json(self, message: Any, **kwargs: Any) -> None:
            kind = message["t"]
            if kind == "echo":
                await self.send_json({"t": "echo", "p": message["p"]})
            elif kind == "join":
                self.room = message["room"].replace(":", "_")  # group names: no colons
                await self.channel_layer.group_add(self.room, self.channel_name)
                await self.send_json({"t": "joined"})
            elif kind == "shout":
                await self.channel_layer.group_send(
                    self.room, {"type": "room.shout", "k": message["k"]}
                )
                await self.send_json({"t": "shouted"})

        async def room_shout(self, event: Any) -> None:
            await self.send_json({"t": "shout", "k": event["k"]})

    return ProtocolTypeRouter({"websocket": URLRouter([path("ws/", Consumer.as_asgi())])})


def memory_report() -> None:
    """In the server: one JSON line with RSS and USS after a full collection, per request
    on stdin (a thread, so the server's loop runs on)."""
    me = psutil.Process()
    for _ in sys.stdin:
        gc.collect()
        info = me.memory_full_info()
        print(json.dumps({"rss": info.rss, "uss": info.uss}), flush=True)


def serve(peer: str, port: int) -> None:
    import uvicorn

    raise_fd_limit()
    app = {"beamish": beamish_app, "socketio": socketio_app, "django": django_app}[peer]()
    threading.Thread(target=memory_report, daemon=True).start()
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on" if peer == "beamish" else "off",
        backlog=BACKLOG,
        ws_ping_interval=None,
    )


# -- the client: a minimal WebSocket connection, and each peer's framing on top --------------


class Connection(asyncio.Protocol):
    """One RFC 6455 client connection: the upgrade, then text frames (masked out, unmasked
    in, continuation frames joined), pings answered; no extensions."""

    def __init__(self, client: Client, path: str, port: int) -> None:
        self.client = client
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: list[bytes] = []
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(exc or ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            accept = base64.b64encode(
                hashlib.sha1((self.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
            )
            if not head.startswith(b"HTTP/1.1 101") or accept not in head:
                self.client.lost(ConnectionError(f"upgrade refused: {head[:60]!r}"))
                self.close()
                return
            self.upgraded = True
            self.client.opened_websocket()
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length, head_size = second & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head_size = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head_size = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), 10
            end = pos + head_size + length
            if end > size:
                break
            payload = bytes(buffer[pos + head_size : end])
            pos = end
            opcode = first & 0x0F
            if opcode in (0, 1, 2):
                if not first & 0x80:  # a fragment: more follow
                    self.fragments.append(payload)
                    continue
                if self.fragments:
                    payload = b"".join([*self.fragments, payload])
                    self.fragments.clear()
                self.client.frame(payload)
            elif opcode == 9:
                self.write(payload, 0x8A)
            elif opcode == 8:
                self.close()
                return
        del buffer[:pos]

    def write(self, data: bytes, first: int = 0x81) -> None:
        size = len(data)
        if size < 126:
            head = bytes((first, 0x80 | size))
        elif size < 65536:
            head = bytes((first, 0xFE)) + size.to_bytes(2, "big")
        else:
            head = bytes((first, 0xFF)) + size.to_bytes(8, "big")
        mask = random.getrandbits(32).to_bytes(4, "big")
        key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
        masked = (int.from_bytes(data, "big") ^ key).to_bytes(size, "big")
        assert self.transport is not None
        self.transport.write(head + mask + masked)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Client:
    """One client of a loader: connect, join, echo, shout; broadcasts counted by the loader."""

    path = "/"

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.connection: Connection | None = None
        self.opened: asyncio.Future[None] = loader.loop.create_future()
        self.waiter: asyncio.Future[Any] | None = None
        self.waiting_for: Any = None
        self.closed = False

    async def connect(self) -> None:
        def protocol() -> Connection:
            self.connection = Connection(self, self.path, self.loader.port)
            return self.connection

        await self.loader.loop.create_connection(protocol, HOST, self.loader.port)
        await self.opened

    def opened_websocket(self) -> None:  # the upgrade is done: most protocols are open now
        if not self.opened.done():
            self.opened.set_result(None)

    def lost(self, exc: BaseException) -> None:
        self.closed = True
        for future in (self.opened, self.waiter):
            if future is not None and not future.done():
                future.set_exception(exc)

    def send(self, text: str) -> None:
        assert self.connection is not None
        self.connection.write(text.encode())

    def request(self, text: str, key: Any) -> asyncio.Future[Any]:
        self.waiter = self.loader.loop.create_future()
        self.waiting_for = key
        self.send(text)
        return self.waiter

    def answer(self, key: Any, value: Any) -> None:
        waiter = self.waiter
        if waiter is not None and key == self.waiting_for and not waiter.done():
            self.waiter = None
            waiter.set_result(value)

    def frame(self, data: bytes) -> None:
        raise NotImplementedError

    async def join(self) -> None:
        raise NotImplementedError

    async def echo(self, i: int) -> None:
        raise NotImplementedError

    def shout(self, k: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


class PhoenixClient(Client):
    """Phoenix V2 JSON, as phoenix.js sends it (a heartbeat every 30 s)."""

    path = "/socket/websocket?vsn=2.0.0"

    def __init__(self, loader: Loader) -> None:
        super().__init__(loader)
        self.refs = itertools.count(1)

    def opened_websocket(self) -> None:
        super().opened_websocket()
        self.loader.loop.call_later(HEARTBEAT, self.heartbeat)

    def heartbeat(self) -> None:
        if not self.closed:
            self.send(f'[null,"{next(self.refs)}","phoenix","heartbeat",{{}}]')
            self.loader.loop.call_later(HEARTBEAT, self.heartbeat)

    def frame(self, data: bytes) -> None:
        message = json.loads(data)
        event = message[3]
        if event == "shout":
            self.loader.delivered(message[4]["k"])
        elif event == "phx_reply":
            reply = message[4]
            if reply["status"] == "ok":
                self.answer(message[1], reply["response"])
            else:
                self.answer(message[1], RuntimeError(f"error reply {reply}"))
        elif event in ("phx_error", "phx_close"):
            self.lost(RuntimeError(f"{event} {message}"))

    async def push(self, event: str, payload: str) -> Any:
        ref = str(next(self.refs))
        result = await self.request(f'["1","{ref}","{ROOM}","{event}",{payload}]', ref)
        if isinstance(result, Exception):
            raise result
        return result

    async def join(self) -> None:
        await self.push("phx_join", "{}")

    async def echo(self, i: int) -> None:
        reply = await self.push("echo", f'{{"i":{i}}}')
        assert reply["i"] == i, reply

    def shout(self, k: int) -> None:
        self.send(f'["1","{next(self.refs)}","{ROOM}","shout",{{"k":{k}}}]')


class SocketIOClient(Client):
    """engine.io 4 / socket.io 5 over the websocket transport, as socket.io-client does."""

    path = "/socket.io/?EIO=4&transport=websocket"

    def __init__(self, loader: Loader) -> None:
        super().__init__(loader)
        self.ids = itertools.count(1)

    def opened_websocket(self) -> None:  # open once socket.io's "40" connect is answered
        pass

    def frame(self, data: bytes) -> None:
        text = data.decode()
        kind = text[0]
        if kind == "4":  # an engine.io message: a socket.io packet
            packet = text[1]
            if packet == "2":  # an event, maybe with an id (the server wants an ack)
                body = text[2:].lstrip("0123456789")
                event, payload = json.loads(body)
                if event == "shout":
                    self.loader.delivered(payload["k"])
            elif packet == "3":  # an ack: its id, then the arguments
                body = text[2:]
                digits = len(body) - len(body.lstrip("0123456789"))
                self.answer(int(body[:digits]), json.loads(body[digits:]))
            elif packet == "0":
                self.opened_websocket_done()
            elif packet in "14":
                self.lost(RuntimeError(f"socket.io closed: {text[:80]}"))
        elif kind == "2":  # the server's ping: pong
            self.send("3")
        elif kind == "0":  # engine.io open: connect to the default namespace
            self.send("40")
        elif kind == "1":
            self.lost(RuntimeError("engine.io close"))

    def opened_websocket_done(self) -> None:
        if not self.opened.done():
            self.opened.set_result(None)

    async def call(self, event: str, payload: str) -> Any:
        ack = next(self.ids)
        result = await self.request(f'42{ack}["{event}",{payload}]', ack)
        return result[0]

    async def join(self) -> None:
        await self.call("join", f'{{"room":"{ROOM}"}}')

    async def echo(self, i: int) -> None:
        reply = await self.call("echo", f'{{"i":{i}}}')
        assert reply["i"] == i, reply

    def shout(self, k: int) -> None:
        self.send(f'42{next(self.ids)}["shout",{{"room":"{ROOM}","k":{k}}}]')


class DjangoClient(Client):
    """Plain JSON messages to an AsyncJsonWebsocketConsumer (one request at a time)."""

    path = "/ws/"

    def frame(self, data: bytes) -> None:
        message = json.loads(data)
        kind = message["t"]
        if kind == "shout":
            self.loader.delivered(message["k"])
        else:
            self.answer(kind, message)

    async def join(self) -> None:
        await self.request(f'{{"t":"join","room":"{ROOM}"}}', "joined")

    async def echo(self, i: int) -> None:
        reply = await self.request(f'{{"t":"echo","p":{{"i":{i}}}}}', "echo")
        assert reply["p"]["i"] == i, reply

    def shout(self, k: int) -> None:
        self.send(f'{{"t":"shout","k":{k}}}')


CLIENTS: dict[str, type[Client]] = {
    "beamish": PhoenixClient,
    "socketio": SocketIOClient,
    "django": DjangoClient,
}


# -- a loader: one OS process holding its share of the clients, obeying the orchestrator ---


class Loader:
    def __init__(self, peer: str, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.kind = CLIENTS[peer]
        self.port = port
        self.loop = loop
        self.clients: list[Client] = []
        self.current = -1
        self.count = 0
        self.stray = 0
        self.target = 0
        self.last: float | None = None
        self.done = asyncio.Event()

    def delivered(self, k: int) -> None:
        if k != self.current:
            self.stray += 1
            return
        self.count += 1
        self.last = time.monotonic()
        if self.count >= self.target:
            self.done.set()

    async def bounded(
        self, work: Any, items: list[Any], concurrency: int, timeout: float, deadline: float
    ) -> tuple[list[Any], list[str], float, float]:
        """``await work(item)`` for every item, at most ``concurrency`` at once, each within
        ``timeout`` and all by ``deadline`` (monotonic): the items that succeeded, errors."""
        gate = asyncio.Semaphore(concurrency)
        good: list[Any] = []
        errors: list[str] = []

        async def one(item: Any) -> None:
            async with gate:
                try:
                    await asyncio.wait_for(work(item), timeout)
                    good.append(item)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

        start = time.monotonic()
        tasks = [asyncio.create_task(one(item)) for item in items]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
            for task in pending:
                task.cancel()
            if pending:
                errors.append(f"{len(pending)} not done by the phase deadline")
        end = time.monotonic()
        return good, errors, start, end

    async def connect(self, n: int, concurrency: int, timeout: float, deadline: float) -> Any:
        async def connect_one(client: Client) -> None:
            try:
                await client.connect()
            except BaseException:
                client.close()
                raise

        fresh = [self.kind(self) for _ in range(n)]
        good, errors, start, end = await self.bounded(
            connect_one, fresh, concurrency, timeout, deadline
        )
        self.clients.extend(good)
        return {
            "ok": len(good),
            "failed": n - len(good),
            "start": start,
            "end": end,
            "errors": errors[:3],
        }

    async def join(self, concurrency: int, timeout: float, deadline: float, skip: int) -> Any:
        todo = self.clients[skip:]

        async def join_one(client: Client) -> None:
            await client.join()

        good, errors, start, end = await self.bounded(
            join_one, todo, concurrency, timeout, deadline
        )
        joined = set(good)
        self.clients = self.clients[:skip] + [c for c in todo if c in joined]
        return {
            "ok": len(good),
            "failed": len(todo) - len(good),
            "start": start,
            "end": end,
            "errors": errors[:3],
        }

    async def rtt(self, clients: int, start: float, warmup: float, until: float) -> Any:
        latencies: list[float] = []
        failures: list[str] = []

        async def pinger(client: Client) -> None:
            for i in itertools.count():
                t = time.monotonic()
                if t >= until:
                    return
                try:
                    async with asyncio.timeout(until - t + 10):
                        await client.echo(i)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    return
                if t >= start + warmup:
                    latencies.append(time.monotonic() - t)

        await asyncio.sleep(max(0.0, start - time.monotonic()))
        await asyncio.gather(*(pinger(c) for c in self.clients[:clients]))
        end = time.monotonic()
        return {
            "latencies": [round(x * 1000, 3) for x in latencies],
            "begin": start + warmup,
            "end": end,
            "failures": failures[:3],
            "failed": len(failures),
        }

    def arm(self, k: int) -> Any:
        self.current, self.count, self.last = k, 0, None
        self.target = sum(not c.closed for c in self.clients)
        self.done = asyncio.Event()
        if self.target <= 0:
            self.done.set()
        return {"target": self.target}

    async def wait(self, deadline: float) -> Any:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), max(0.0, deadline - time.monotonic()))
        return {
            "received": self.count,
            "target": self.target,
            "stray": self.stray,
            "last": self.last,
        }


def say(**what: Any) -> None:
    sys.stdout.write(json.dumps(what) + "\n")
    sys.stdout.flush()


async def load(peer: str, port: int) -> None:
    """A loader: obey one JSON command per line on stdin, answer one JSON line each."""
    raise_fd_limit()
    gc.disable()  # a loader lives one round: no collector passes over thousands of clients
    loop = asyncio.get_running_loop()
    loader = Loader(peer, port, loop)
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    say(ready=os.getpid())
    while line := await reader.readline():
        command = json.loads(line)
        cmd = command.pop("cmd")
        try:
            if cmd == "connect":
                say(**await loader.connect(**command))
            elif cmd == "join":
                say(**await loader.join(**command))
            elif cmd == "echo":
                await asyncio.wait_for(loader.clients[0].echo(0), 30)
                say(ok=True)
            elif cmd == "rtt":
                say(**await loader.rtt(**command))
            elif cmd == "arm":
                say(**loader.arm(command["k"]))
            elif cmd == "shout":
                t0 = time.monotonic()
                loader.clients[0].shout(command["k"])
                say(t0=t0)
            elif cmd == "wait":
                say(**await loader.wait(command["deadline"]))
            else:
                break
        except Exception as exc:
            say(error=f"{type(exc).__name__}: {exc}")
    sys.stdout.flush()
    os._exit(0)  # no orderly close of thousands of sockets: the round is over


def run_loader(peer: str, port: int) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(load(peer, port))
    else:
        uvloop.run(load(peer, port))


# -- the orchestrator ------------------------------------------------------------------------


class Child:
    """A child process answering one JSON line per command; every read is bounded."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ps = psutil.Process(self.proc.pid)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(line)
        self.lines.put(None)

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=max(0.1, timeout))
        except queue.Empty:
            raise TimeoutError(f"{self.proc.args[2:]}: no answer in {timeout:.0f} s") from None
        if line is None:
            self.lines.put(None)
            raise RuntimeError(f"{self.proc.args[2:]} ended ({self.proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.proc.args[2:]}: {answer['error']}")
        return answer

    def ask(self, wait: float = 60.0, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.read(wait)

    def cpu(self) -> float:
        try:
            times = self.ps.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def ask_all(children: list[Child], timeout: float, commands: list[dict[str, Any]]) -> list[Any]:
    for child, command in zip(children, commands, strict=True):
        child.send(**command)
    return [child.read(timeout) for child in children]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_serving(port: int, server: Child, timeout: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited ({server.proc.returncode})")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError("the server never listened")


@dataclass
class Options:
    clients: int
    loaders: int
    concurrency: int
    connect_timeout: float
    phase_timeout: float
    rtt_clients: int
    rtt_seconds: float
    broadcasts: int
    fanout_timeout: float


class Meter:
    """CPU of the server and each loader over one phase, as % of one core."""

    def __init__(self, server: Child, loaders: list[Child]) -> None:
        self.children = [server, *loaders]
        self.began = time.monotonic()
        self.start = [c.cpu() for c in self.children]

    def percent(self) -> list[float]:
        wall = max(1e-6, time.monotonic() - self.began)
        return [
            round(100 * (c.cpu() - s) / wall)
            for c, s in zip(self.children, self.start, strict=True)
        ]


def one_round(peer: str, o: Options) -> dict[str, Any]:
    port = free_port()
    server = Child("serve", peer, str(port))
    share = [o.clients // o.loaders + (i < o.clients % o.loaders) for i in range(o.loaders)]
    loaders: list[Child] = []
    out: dict[str, Any] = {"cpu": {}}
    try:
        wait_serving(port, server)
        loaders = [Child("load", peer, str(port)) for _ in share]
        for child in loaders:
            child.read(60)  # ready: imports done
        first = loaders[0]
        warm = first.ask(
            30, cmd="connect", n=1, concurrency=1, timeout=30, deadline=time.monotonic() + 30
        )
        if warm["ok"] != 1:
            raise RuntimeError(f"{peer}: the first client did not connect: {warm['errors']}")
        first.ask(30, cmd="join", concurrency=1, timeout=30, deadline=time.monotonic() + 30, skip=0)
        first.ask(30, cmd="echo")
        first.ask(30, cmd="arm", k=-1)  # and one broadcast, to the one client
        first.ask(30, cmd="shout", k=-1)
        if first.ask(60, cmd="wait", deadline=time.monotonic() + 30)["received"] != 1:
            raise RuntimeError(f"{peer}: the warm-up broadcast did not arrive")
        base = server.ask(60)

        phase_end = time.monotonic() + o.phase_timeout
        meter = Meter(server, loaders)
        rest = [share[0] - 1, *share[1:]]
        done = ask_all(
            loaders,
            o.phase_timeout + 30,
            [
                {
                    "cmd": "connect",
                    "n": k,
                    "concurrency": o.concurrency,
                    "timeout": o.connect_timeout,
                    "deadline": phase_end,
                }
                for k in rest
            ],
        )
        out["cpu"]["connect"] = meter.percent()
        connected = sum(d["ok"] for d in done)
        out["connected"] = connected + 1
        out["connect_errors"] = [e for d in done for e in d["errors"]][:3]
        span = max(d["end"] for d in done) - min(d["start"] for d in done)
        out["connects_per_s"] = connected / span if connected else 0.0

        phase_end = time.monotonic() + o.phase_timeout
        meter = Meter(server, loaders)
        done = ask_all(
            loaders,
            o.phase_timeout + 30,
            [
                {
                    "cmd": "join",
                    "concurrency": o.concurrency,
                    "timeout": o.connect_timeout,
                    "deadline": phase_end,
                    "skip": 1 if i == 0 else 0,
                }
                for i in range(len(loaders))
            ],
        )
        out["cpu"]["join"] = meter.percent()
        joined = sum(d["ok"] for d in done)
        out["joined"] = joined + 1
        out["join_errors"] = [e for d in done for e in d["errors"]][:3]
        span = max(d["end"] for d in done) - min(d["start"] for d in done)
        out["joins_per_s"] = joined / span if joined else 0.0

        after = server.ask(60)
        out["rss_before"], out["rss_after"] = base["rss"], after["rss"]
        out["bytes_per_client"] = (after["rss"] - base["rss"]) / max(1, joined)
        out["uss_per_client"] = (after["uss"] - base["uss"]) / max(1, joined)

        rtt_share = [
            o.rtt_clients // o.loaders + (i < o.rtt_clients % o.loaders) for i in range(o.loaders)
        ]
        start = time.monotonic() + 0.3
        until = start + 1.0 + o.rtt_seconds
        meter = Meter(server, loaders)
        done = ask_all(
            loaders,
            o.rtt_seconds + 60,
            [
                {"cmd": "rtt", "clients": k, "start": start, "warmup": 1.0, "until": until}
                for k in rtt_share
            ],
        )
        out["cpu"]["rtt"] = meter.percent()
        latencies = sorted(x for d in done for x in d["latencies"])
        span = max(d["end"] for d in done) - min(d["begin"] for d in done)
        out["rtt_failed"] = sum(d["failed"] for d in done)
        out["rtt_per_s"] = len(latencies) / span if latencies else 0.0
        out["p50_ms"] = latencies[len(latencies) // 2] if latencies else float("nan")
        out["p99_ms"] = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")

        out.update(fan_out(server, loaders, o))
        return out
    finally:
        stop_all(server, loaders)


def stop_all(server: Child, loaders: list[Child]) -> None:
    """Kill the server; ask each loader to quit, then kill what has not within 10 s."""
    server.kill()
    for child in loaders:
        with contextlib.suppress(Exception):
            child.send(cmd="quit")
    for child in loaders:
        with contextlib.suppress(Exception):
            child.proc.wait(10)
        child.kill()


def fan_out(server: Child, loaders: list[Child], o: Options) -> dict[str, Any]:
    """Up to ``o.broadcasts`` broadcasts one after another, each timed from its request to
    its last delivery at any loader, all within ``o.fanout_timeout``; a broadcast not
    delivered to every client by then ends the phase and is counted as far as it got."""
    phase_end = time.monotonic() + o.fanout_timeout
    meter = Meter(server, loaders)
    delivered = expected = 0
    busy = 0.0
    took: list[float] = []
    partial: tuple[int, int, float] | None = None
    first = 0.0
    for k in range(o.broadcasts):
        if time.monotonic() >= phase_end:
            break
        armed = ask_all(loaders, 30, [{"cmd": "arm", "k": k}] * len(loaders))
        target = sum(a["target"] for a in armed)
        t0 = loaders[0].ask(30, cmd="shout", k=k)["t0"]
        waits = ask_all(
            loaders, o.fanout_timeout + 30, [{"cmd": "wait", "deadline": phase_end}] * len(loaders)
        )
        got = sum(w["received"] for w in waits)
        delivered += got
        expected += target
        if got >= target:
            seconds = max(w["last"] for w in waits if w["last"] is not None) - t0
            took.append(seconds)
        else:
            seconds = phase_end - t0
            partial = (got, target, seconds)
        busy += seconds
        if k == 0:
            first = got / seconds
        if partial:
            break
    return {
        "fanout_first_per_s": first,
        "fanout_per_s": delivered / busy if busy else 0.0,
        "fanout_delivered": delivered,
        "fanout_expected": expected,
        "fanout_seconds": busy,
        "fanout_ms": [round(t * 1000, 1) for t in took],
        "fanout_partial": partial,
        "cpu_fanout": meter.percent(),
    }


ROWS = (
    ("bytes_per_client", "server memory per connected+joined client, RSS growth / N (B)", False),
    ("uss_per_client", "server memory per client, USS growth / N (B)", False),
    ("connects_per_s", "connections accepted /s", True),
    ("joins_per_s", "joins /s", True),
    ("fanout_first_per_s", "fan-out: deliveries/s of the first broadcast to all", True),
    ("fanout_per_s", "fan-out: deliveries/s over the broadcasts in sequence", True),
    ("rtt_per_s", "push-reply round trips/s", True),
    ("p50_ms", "round trip p50 (ms)", False),
    ("p99_ms", "round trip p99 (ms)", False),
)


def describe(peer: str, r: dict[str, Any]) -> str:
    cpu = dict(r["cpu"], fanout=r["cpu_fanout"])
    cpus = " ".join(f"{phase} {c[0]}/{'+'.join(map(str, c[1:]))}%" for phase, c in cpu.items())
    fan = f"first {r['fanout_first_per_s']:,.0f}/s, in sequence {r['fanout_per_s']:,.0f}/s"
    fan += f" (to the last delivery: {', '.join(f'{t:,.0f}' for t in r['fanout_ms'])} ms"
    if r["fanout_partial"]:
        got, target, seconds = r["fanout_partial"]
        fan += f"; then {got:,} of {target:,} in {seconds:.1f} s"
    fan += ")"
    return (
        f"{peer:9} joined {r['joined']:,} of {r['connected']:,} connected "
        f"mem {r['bytes_per_client'] / 1000:.1f} KB (USS {r['uss_per_client'] / 1000:.1f}) "
        f"connect {r['connects_per_s']:,.0f}/s join {r['joins_per_s']:,.0f}/s "
        f"rtt {r['rtt_per_s']:,.0f}/s p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms "
        f"fan-out {fan}\n            cpu server/loaders: {cpus}" + problems(r)
    )


def problems(r: dict[str, Any]) -> str:
    found = [*r["connect_errors"], *r["join_errors"]]
    if r["rtt_failed"]:
        found.append(f"{r['rtt_failed']} round-trip clients failed")
    return ("\n            problems: " + "; ".join(found)) if found else ""


def client_bound(r: dict[str, Any]) -> list[str]:
    cpu = dict(r["cpu"], fanout=r["cpu_fanout"])
    return [phase for phase, c in cpu.items() if max(c[1:]) >= 90]


def partial_note(key: str, rounds: list[dict[str, Any] | None]) -> str:
    """For a fan-out row: in how many rounds it was cut by the window, and how far it got
    (the figure is then the rate over the window: what arrived, per second waited)."""
    cut = [r for r in rounds if r and r["fanout_partial"]]
    if key == "fanout_first_per_s":
        cut = [r for r in cut if not r["fanout_ms"]]
        if not cut:
            return ""
        got, target, seconds = cut[0]["fanout_partial"]
        where = f"{got:,} of {target:,} in {seconds:.0f} s"
        return f" (cut in {len(cut)} of {len(rounds)} rounds: {where})"
    if not cut:
        return ""
    r = cut[0]
    return (
        f" (cut in {len(cut)} of {len(rounds)} rounds: {r['fanout_delivered']:,} of "
        f"{r['fanout_expected']:,} in {r['fanout_seconds']:.0f} s)"
    )


def summary(results: dict[str, list[dict[str, Any] | None]]) -> list[str]:
    peers = list(results)
    others = [p for p in peers if p != "beamish"] if "beamish" in peers else []
    head = ["row", *peers, *[f"beamish/{p}" for p in others]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, title, higher in ROWS:
        cells = [title]
        for p in peers:
            values = [r[key] for r in results[p] if r is not None]
            cells.append(f"{statistics.median(values):,.1f}" if values else "failed")
            if key.startswith("fanout"):
                cells[-1] += partial_note(key, results[p])
        for p in others:
            ratios = [
                b[key] / o[key]
                for b, o in zip(results["beamish"], results[p], strict=True)
                if b is not None and o is not None and o[key]
            ]
            if not ratios:
                cells.append("-")
                continue
            median = statistics.median(ratios)
            better = median >= 1 if higher else median <= 1
            cells.append(
                f"{median:.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] "
                + ("better" if better else "worse")
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def versions() -> dict[str, str]:
    from importlib import metadata, util

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "missing"

    return {
        "uvicorn": version("uvicorn"),
        "loop": "uvloop" if util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if util.find_spec("httptools") else "h11",
        "peers": f"python-socketio {version('python-socketio')}, Django {version('django')}, "
        f"channels {version('channels')}, websockets {version('websockets')}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 clients, 1 pair: sanity")
    parser.add_argument("--clients", type=int, help="connected clients (default 10,000)")
    parser.add_argument("--pairs", type=int, help="interleaved rounds per peer (default 3)")
    parser.add_argument("--loaders", type=int, help="client processes (default 4)")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--concurrency", type=int, default=64, help="connects per loader")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--phase-timeout", type=float, default=300.0)
    parser.add_argument("--rtt-clients", type=int, default=100)
    parser.add_argument("--rtt-seconds", type=float)
    parser.add_argument("--broadcasts", type=int)
    parser.add_argument("--fanout-timeout", type=float, help="seconds for the whole fan-out")
    parser.add_argument("--json", help="write every round's figures to this file")
    args = parser.parse_args()
    quick = args.quick
    o = Options(
        clients=args.clients or (200 if quick else 10_000),
        loaders=args.loaders or (2 if quick else 4),
        concurrency=args.concurrency,
        connect_timeout=args.connect_timeout,
        phase_timeout=args.phase_timeout,
        rtt_clients=args.rtt_clients,
        rtt_seconds=args.rtt_seconds or (2.0 if quick else 5.0),
        broadcasts=args.broadcasts or (3 if quick else 5),
        fanout_timeout=args.fanout_timeout or (10.0 if quick else 30.0),
    )
    pairs = args.pairs or (1 if quick else 3)
    peers = list(dict.fromkeys(ALIASES.get(p, p) for p in args.peers.split(",")))
    if unknown := [p for p in peers if p not in CLIENTS]:
        parser.error(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    limit = raise_fd_limit()
    if o.clients + 200 > limit:
        parser.error(f"{o.clients} clients need more file descriptors than the limit {limit}")
    kernel = f"file descriptors {limit}, {kernel_limits(o.clients)}"
    began = time.monotonic()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {psutil.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, load {os.getloadavg()}"
    )
    print(f"{o}, {pairs} pairs, peers {peers}")
    print(f"  limits: {kernel}")
    print(f"  versions: {versions()['peers']}")
    for peer in ["all", *peers]:
        print(f"  settings {peer}: {SETTINGS[peer]}".format(**versions()))
    results: dict[str, list[dict[str, Any] | None]] = {p: [] for p in peers}
    order = list(peers)
    for r in range(pairs):
        for peer in order:
            load_before = os.getloadavg()[0]
            try:
                figures: dict[str, Any] | None = one_round(peer, o)
            except Exception as exc:
                print(f"round {r + 1} {peer}: FAILED {type(exc).__name__}: {exc}", flush=True)
                figures = None
            results[peer].append(figures)
            if figures is not None:
                figures["load"] = (load_before, os.getloadavg()[0])
                print(
                    f"round {r + 1} {describe(peer, figures)}  (load {load_before:.1f}"
                    f"-{figures['load'][1]:.1f})",
                    flush=True,
                )
                if bound := client_bound(figures):
                    print(f"  CLIENT-BOUND? a loader at >= 90% CPU in {bound}", flush=True)
        order.reverse()
    runtime = time.monotonic() - began
    print(
        f"\n{o.clients:,} clients, {pairs} rounds per peer, {o.loaders} loaders; medians, "
        f"and beamish/peer per round: median [min-max]"
    )
    print("\n".join(summary(results)))
    print(f"runtime {runtime:.0f} s, end load {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"options": o.__dict__, "pairs": pairs, "runtime_s": runtime, "results": results}
            )
        )


if __name__ == "__main__":
    # this file is named channels.py: keep its directory off the path, or Django Channels'
    # `import channels` finds it
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        run_loader(sys.argv[2], int(sys.argv[3]))
    else:
        main()
