"""``python -m examples.chat``: the chat on one node, or on three (``--nodes 3``).

    python -m examples.chat                # one node: open the URL it prints
    python -m examples.chat --nodes 3      # three nodes (OS processes) on this host

With ``--nodes 3`` this process starts three chat nodes, ``chat1@localhost`` to
``chat3@localhost``, on consecutive ports; they find each other on this host and form a
cluster. Open one URL per browser window: a message and a presence cross nodes. Kill one
node (``kill -9``, its OS pid is printed): the browsers on the others keep their users and
rooms; its own browsers reconnect once it is back. Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn

from .app import build

COOKIE = "beamish-chat"


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m examples.chat", description=__doc__)
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, default=8000, help="first port (0: any free port)")
    cli.add_argument("--nodes", type=int, default=1, help="1 (default) or more, on this host")
    cli.add_argument("--name", default=None, help="this node's name (default chat@localhost)")
    cli.add_argument("--cookie", default=os.environ.get("BEAMISH_COOKIE", COOKIE))
    cli.add_argument("--seed", action="append", default=[], help="another chat node's name")
    cli.add_argument("--state-dir", type=Path, default=None, help="session snapshots go here")
    cli.add_argument(
        "--show-state",
        action="store_true",
        help="the dashboard shows process state (session ids too) to every browser",
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.nodes > 1:
        return _cluster(args)
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    name = args.name or "chat@localhost"
    app = build(
        node=name,
        cookie=args.cookie,
        seeds=tuple(args.seed),
        show_state=args.show_state,
        **({"state_dir": args.state_dir} if args.state_dir else {}),
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn: no hook)
            await asyncio.sleep(0.02)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            print(f"chat: node {name} (os pid {os.getpid()})", flush=True)
            print(f"chat: open http://{args.host}:{port}/", flush=True)
            print(f"chat: python -m beamish top --node {name} --cookie {args.cookie}", flush=True)
        with contextlib.suppress(SystemExit):  # uvicorn's way to say the start failed
            await serving

    asyncio.run(serve())
    return 0 if server.started else 1


def _cluster(args: argparse.Namespace) -> int:
    names = [f"chat{i}@localhost" for i in range(1, args.nodes + 1)]
    children: list[subprocess.Popen[bytes]] = []
    for index, name in enumerate(names):
        port = 0 if args.port == 0 else args.port + index
        seeds = [f"--seed={other}" for other in names[:index]]
        command = [sys.executable, "-m", "examples.chat", f"--name={name}", f"--port={port}"]
        command += [f"--host={args.host}", f"--cookie={args.cookie}", *seeds]
        if args.state_dir:
            command.append(f"--state-dir={args.state_dir}")
        if args.show_state:
            command.append("--show-state")
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout is not None
        for line in child.stdout:  # wait until it serves: the next node seeds with it
            print(line, end="", flush=True)
            if line.startswith("chat: open"):
                break
        threading.Thread(target=_forward, args=(child.stdout,), daemon=True).start()
    try:
        for child in children:
            child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def _forward(stream: Any) -> None:
    for line in stream:
        print(line, end="", flush=True)


if __name__ == "__main__":
    sys.exit(main())
