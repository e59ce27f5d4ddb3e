"""The command line: ``python -m beamish run module:function`` and ``python -m beamish demo``.

``run`` imports ``module`` (the current directory is on the path) and runs the async
``function`` as the main process of a new node; a return value other than None is printed.
``demo`` runs a short, logged tour of the kernel and of a supervision tree (see
``beamish._demo``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import beamish
from beamish.actors import check_async_function

BACKENDS = ("asyncio", "uvloop", "trio")


def load(target: str) -> Any:
    """Import ``module:function`` and return the function."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"beamish run: expected module:function, got {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    module = importlib.import_module(module_name)
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part)
    try:
        check_async_function(fn, f"beamish run: {target!r}")
    except TypeError as exc:
        raise SystemExit(str(exc)) from None
    return fn


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m beamish",
        description="beamish: Erlang/OTP-style processes for Python, on anyio.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run an async function as the main process of a node")
    run.add_argument("target", metavar="module:function", help="e.g. examples.ping_pong:main")
    run.add_argument("--backend", choices=BACKENDS, default="asyncio")
    run.add_argument("--name", default="nonode@nohost", help="node name, name@host")
    run.add_argument(
        "--cookie",
        default=os.environ.get("BEAMISH_COOKIE"),
        help="join a cluster with this cookie (default: $BEAMISH_COOKIE; none: no cluster)",
    )
    run.add_argument("--listen", default="127.0.0.1:0", help="cluster address, host:port")
    run.add_argument("--seed", action="append", default=[], help="a node to connect to")
    run.add_argument(
        "--no-discovery", action="store_true", help="do not use the host's runtime directory"
    )

    demo = commands.add_parser(
        "demo", help="a logged tour of the kernel and a supervision tree (ends by itself)"
    )
    demo.add_argument("--seconds", type=float, default=5.0, help="about how long (default 5)")
    demo.add_argument("--backend", choices=BACKENDS, default="asyncio")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "demo":
        from . import _demo

        if args.seconds <= 0:
            raise SystemExit("beamish demo: --seconds must be > 0")
        _demo.run(args.seconds, backend=args.backend)
        return 0
    fn = load(args.target)
    options: dict[str, Any] = {}
    if args.cookie and "@" not in args.name:
        raise SystemExit("beamish run: a node in a cluster needs --name name@host")
    if args.cookie:
        options["cluster"] = {
            "cookie": args.cookie,
            "listen": args.listen,
            "seeds": args.seed,
            "discovery": not args.no_discovery,
        }
    result = beamish.run(fn, backend=args.backend, name=args.name, **options)
    if result is not None:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
