"""beamish.channels beside python-socketio and Django Channels, side by side in one run.

    .venv/bin/pip install -r benchmarks/requirements-channels.txt
    .venv/bin/python benchmarks/channels.py [--clients 2000] [--pairs 3] [--loaders 2]

Each server runs under uvicorn in its own OS process (started fresh for every round, so
its memory figure starts from a clean process); the clients run in ``--loaders`` other OS
processes. The same workload for all three:

- a room: every client connects and joins it (beamish: channel ``room:bench``;
  socket.io: ``enter_room``; Django Channels: ``group_add`` on the in-memory layer);
- **memory**: the server's RSS growth per connected, joined client;
- **connections/s**: clients connected and joined per second (all loaders at once, at most
  100 handshakes in flight per loader);
- **fan-out**: one client asks the server to broadcast to the room (20 messages), deliveries
  per second counted at the clients (from the first request to the last delivery);
- **round trips**: 100 clients, each pushing and awaiting the reply in a loop for 5 s;
  round trips/s and p50/p99 latency.

The load generators: beamish.channels.client for beamish (``beamish_raw``: the same server
driven by a raw WebSocket client, as Django's is), socketio.AsyncClient for
python-socketio, a raw WebSocket client (websockets) for Django Channels, which has no
client of its own. Rounds run in the order beamish, socketio, django, then reversed, and
so on; the ratios beamish/peer are per round (median, min-max).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve()
ROOM = "room:bench"
FANOUT = 20
RTT_CLIENTS = 100
RTT_SECONDS = 5.0
PEERS = ("beamish", "socketio", "django")  # also "beamish_raw": a raw WebSocket client


# -- the servers -----------------------------------------------------------------------------


def beamish_app() -> Any:
    import beamish
    from beamish import channels

    class Room(channels.Channel):
        def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
            return None

        def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
            if event == "shout":
                for i in range(payload["n"]):
                    socket.broadcast("shout", {"i": i})
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

    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

    @sio.on("join")
    async def join(sid: str, data: Any) -> str:
        await sio.enter_room(sid, data["room"])
        return "ok"

    @sio.on("echo")
    async def echo(sid: str, data: Any) -> Any:
        return data

    @sio.on("shout")
    async def shout(sid: str, data: Any) -> str:
        for i in range(data["n"]):
            await sio.emit("shout", {"i": i}, room=data["room"])
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
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    )
    django.setup()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    class Consumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def receive_json(self, message: Any, **kwargs: Any) -> None:
            kind = message["t"]
            if kind == "join":
                self.room = message["room"].replace(":", "_")  # group names: no colons
                await self.channel_layer.group_add(self.room, self.channel_name)
                await self.send_json({"t": "joined"})
            elif kind == "echo":
                await self.send_json({"t": "echo", "p": message["p"]})
            elif kind == "shout":
                for i in range(message["n"]):
                    await self.channel_layer.group_send(
                        self.room, {"type": "room.shout", "p": {"i": i}}
                    )
                await self.send_json({"t": "shouted"})

        async def room_shout(self, event: Any) -> None:
            await self.send_json({"t": "shout", "p": event["p"]})

    return ProtocolTypeRouter({"websocket": URLRouter([path("ws/", Consumer.as_asgi())])})


def serve(peer: str, port: int) -> None:
    import uvicorn

    app = {"beamish": beamish_app, "socketio": socketio_app, "django": django_app}[peer]()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on" if peer == "beamish" else "off",
        backlog=4096,
        ws_ping_interval=None,  # the same for all: no server pings during the run
    )


# -- the clients (one loader process holds --clients / --loaders of them) -------------------


class Clients:
    """The peer-specific part of a loader: connect+join, echo, shout, count shouts."""

    def __init__(self, peer: str, port: int) -> None:
        self.peer = peer
        self.port = port
        self.received = 0
        self.target = 0
        self.last = 0.0
        self.done: Any = None

    def delivered(self, *_: Any) -> None:
        self.received += 1
        if self.received == self.target:
            self.last = time.time()
            self.done.set()

    @contextlib.asynccontextmanager
    async def client(self) -> Any:
        if self.peer == "beamish":
            from beamish.channels import client

            async with client.connect(f"ws://127.0.0.1:{self.port}/socket", timeout=60) as s:
                channel = s.channel(ROOM)
                channel.on("shout", self.delivered)
                await channel.join(timeout=60)

                async def echo(p: Any) -> Any:
                    return (await channel.push("echo", p, timeout=60)).response

                async def shout(n: int) -> None:
                    await channel.push("shout", {"n": n}, timeout=60)

                yield echo, shout
        elif self.peer == "beamish_raw":  # the beamish server, a raw WebSocket client
            import asyncio

            from websockets.asyncio.client import connect

            url = f"ws://127.0.0.1:{self.port}/socket/websocket?vsn=2.0.0"
            async with connect(url, open_timeout=60, compression=None) as ws:
                replies: asyncio.Queue[Any] = asyncio.Queue()

                async def reader() -> None:
                    async for frame in ws:
                        message = json.loads(frame)
                        if message[3] == "shout":
                            self.delivered()
                        elif message[3] == "phx_reply":
                            replies.put_nowait(message[4]["response"])

                task = asyncio.create_task(reader())
                await ws.send(json.dumps(["1", "1", ROOM, "phx_join", {}]))
                await replies.get()
                refs = iter(range(2, 1 << 62))

                async def echo(p: Any) -> Any:
                    await ws.send(json.dumps(["1", str(next(refs)), ROOM, "echo", p]))
                    return await replies.get()

                async def shout(n: int) -> None:
                    await ws.send(json.dumps(["1", str(next(refs)), ROOM, "shout", {"n": n}]))
                    await replies.get()

                try:
                    yield echo, shout
                finally:
                    task.cancel()
        elif self.peer == "socketio":
            import socketio

            sio = socketio.AsyncClient(reconnection=False)
            sio.on("shout", self.delivered)
            await sio.connect(
                f"http://127.0.0.1:{self.port}", transports=["websocket"], wait_timeout=60
            )
            try:
                await sio.call("join", {"room": ROOM}, timeout=60)

                async def echo(p: Any) -> Any:
                    return await sio.call("echo", p, timeout=60)

                async def shout(n: int) -> None:
                    await sio.call("shout", {"room": ROOM, "n": n}, timeout=60)

                yield echo, shout
            finally:
                await sio.disconnect()
        else:
            import asyncio

            from websockets.asyncio.client import connect

            async with connect(
                f"ws://127.0.0.1:{self.port}/ws/", open_timeout=60, compression=None
            ) as ws:
                replies: asyncio.Queue[Any] = asyncio.Queue()

                async def reader() -> None:
                    async for frame in ws:
                        message = json.loads(frame)
                        if message["t"] == "shout":
                            self.delivered()
                        else:
                            replies.put_nowait(message)

                task = asyncio.create_task(reader())
                await ws.send(json.dumps({"t": "join", "room": ROOM}))
                await replies.get()

                async def echo(p: Any) -> Any:
                    await ws.send(json.dumps({"t": "echo", "p": p}))
                    return (await replies.get())["p"]

                async def shout(n: int) -> None:
                    await ws.send(json.dumps({"t": "shout", "n": n}))
                    await replies.get()

                try:
                    yield echo, shout
                finally:
                    task.cancel()


async def load(peer: str, port: int, n: int) -> None:
    """A loader: connect ``n`` clients, then obey commands on stdin (one JSON per line)."""
    import asyncio

    clients = Clients(peer, port)
    handles: list[Any] = []
    stop = asyncio.Event()
    connected = asyncio.Event()
    gate = asyncio.Semaphore(100)
    errors: list[str] = []

    async def one() -> None:
        try:
            async with gate:
                manager = clients.client()
                handle = await manager.__aenter__()
            handles.append(handle)
            if len(handles) == n:
                connected.set()
            await stop.wait()
            with contextlib.suppress(Exception):
                await manager.__aexit__(None, None, None)
        except Exception as exc:
            errors.append(repr(exc))
            connected.set()

    def say(**what: Any) -> None:
        print(json.dumps(what), flush=True)

    if peer.startswith("beamish"):  # imports outside the timed connect phase
        import beamish.channels.client  # noqa: F401
    elif peer == "socketio":
        import socketio  # noqa: F401
    else:
        import websockets.asyncio.client  # noqa: F401
    start = time.time()
    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await connected.wait()
    say(connected=len(handles), start=start, end=time.time(), errors=errors[:3])
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command = json.loads(line or '{"cmd": "quit"}')
        if command["cmd"] == "arm":
            clients.received, clients.target = 0, command["expect"]
            clients.done = asyncio.Event()
            say(armed=True)
        elif command["cmd"] == "shout":
            await handles[0][1](command["n"])
            say(shouted=True)
        elif command["cmd"] == "wait":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clients.done.wait(), 60)
            say(received=clients.received, last=clients.last)
        elif command["cmd"] == "rtt":
            latencies: list[float] = []
            deadline = time.perf_counter() + command["seconds"]

            async def pinger(echo: Any, deadline: float = deadline, out: Any = latencies) -> None:
                i = 0
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    await echo({"i": i})
                    out.append(time.perf_counter() - t)
                    i += 1

            began = time.perf_counter()
            await asyncio.gather(*(pinger(h[0]) for h in handles[: command["clients"]]))
            elapsed = time.perf_counter() - began
            latencies.sort()
            say(
                rate=len(latencies) / elapsed,
                p50=latencies[len(latencies) // 2],
                p99=latencies[int(len(latencies) * 0.99)],
            )
        else:
            stop.set()
            await asyncio.wait(tasks, timeout=30)
            say(bye=True)
            return


# -- the orchestra ---------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def ask(self, **command: Any) -> dict[str, Any]:
        if command:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        return self.read()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.proc.args} ended ({self.proc.poll()})")
            if line.startswith("{"):
                return json.loads(line)  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_serving(port: int, proc: subprocess.Popen[str]) -> None:
    import socket

    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError("the server never listened")


def one_round(peer: str, clients: int, loaders: int) -> dict[str, float]:
    port = free_port()
    kind = peer.split("_")[0]  # beamish_raw: the beamish server
    server = subprocess.Popen([sys.executable, str(HERE), "serve", kind, str(port)], text=True)
    procs: list[Proc] = []
    try:
        wait_serving(port, server)
        time.sleep(1.0)  # let the server settle (imports, lifespan) before its baseline
        rss = psutil.Process(server.pid)
        before = rss.memory_info().rss
        share = [clients // loaders + (i < clients % loaders) for i in range(loaders)]
        procs = [Proc("load", peer, str(port), str(k)) for k in share]
        hello = [p.read() for p in procs]
        if any(h["errors"] for h in hello) or sum(h["connected"] for h in hello) != clients:
            raise RuntimeError(f"{peer}: connect failed: {hello}")
        connect_rate = clients / (max(h["end"] for h in hello) - min(h["start"] for h in hello))
        after = rss.memory_info().rss
        for p, k in zip(procs, share, strict=True):
            p.ask(cmd="arm", expect=k * FANOUT)
        began = time.time()
        procs[0].ask(cmd="shout", n=FANOUT)
        waits = [p.ask(cmd="wait") for p in procs]
        got = sum(w["received"] for w in waits)
        if got == clients * FANOUT:
            fanout = got / (max(w["last"] for w in waits) - began)
        else:  # not all delivered within the loaders' 60 s wait: the rate over that window
            print(f"  {peer}: fan-out delivered only {got} of {clients * FANOUT}", flush=True)
            fanout = got / (time.time() - began)
        rtt = procs[0].ask(cmd="rtt", clients=min(RTT_CLIENTS, share[0]), seconds=RTT_SECONDS)
        return {
            "bytes_per_client": (after - before) / clients,
            "connects_per_s": connect_rate,
            "fanout_per_s": fanout,
            "rtt_per_s": rtt["rate"],
            "p50_ms": rtt["p50"] * 1000,
            "p99_ms": rtt["p99"] * 1000,
        }
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.ask(cmd="quit")
            p.stop()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


ROWS = (
    ("bytes_per_client", "server memory per connected+joined client (B)", False),
    ("connects_per_s", "connections accepted+joined /s", True),
    ("fanout_per_s", f"fan-out deliveries/s ({FANOUT} broadcasts to all)", True),
    ("rtt_per_s", f"push-reply round trips/s ({RTT_CLIENTS} clients)", True),
    ("p50_ms", "round trip p50 (ms)", False),
    ("p99_ms", "round trip p99 (ms)", False),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--peers", default=",".join(PEERS))
    args = parser.parse_args()
    peers = args.peers.split(",")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    results: dict[str, list[dict[str, float]]] = {p: [] for p in peers}
    order = list(peers)
    for r in range(args.pairs):
        for peer in order:
            figures = one_round(peer, args.clients, args.loaders)
            results[peer].append(figures)
            shown = ", ".join(f"{k} {v:,.1f}" for k, v in figures.items())
            print(f"round {r + 1} {peer:9} {shown}  (load {os.getloadavg()[0]:.1f})", flush=True)
        order.reverse()
    print(f"\n{args.clients} clients, {args.pairs} rounds; medians, and beamish/peer per round")
    for key, title, higher in ROWS:
        medians = {p: statistics.median(f[key] for f in results[p]) for p in peers}
        cells = [f"{p} {medians[p]:,.1f}" for p in peers]
        for p in peers:
            if p == "beamish" or "beamish" not in peers:
                continue
            ratios = [b[key] / o[key] for b, o in zip(results["beamish"], results[p], strict=True)]
            cells.append(
                f"beamish/{p} {statistics.median(ratios):.2f}x "
                f"[{min(ratios):.2f}-{max(ratios):.2f}]" + ("" if higher else " (lower is better)")
            )
        print(f"{title}: " + "; ".join(cells))
    print(f"end load {os.getloadavg()}")


if __name__ == "__main__":
    # this file is named channels.py: keep its directory off the path, or Django Channels'
    # `import channels` finds it
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        import asyncio

        asyncio.run(load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        main()
