"""The command line: ``python -m beamish run module:function`` and ``python -m beamish demo``.

``run`` imports ``module`` (the current directory is on the path) and runs the async
``function`` as the main process of a new node; a return value other than None is printed.
``demo`` runs a short, logged tour of the kernel and of a supervision tree (see
``beamish._demo``).

Exit status of ``run``: 0 when ``function`` returns; 1 when it raises (its traceback is
printed once), exits with another reason, or the node cannot start (one line: a port in
use, a bad ``--listen``). SIGINT and SIGTERM stop the node in order (every ``terminate``
runs, under the node's shutdown timeout); then SIGINT exits as an interrupted command
(status 130) and SIGTERM ends the process by its signal, as supervisors (systemd, docker,
Kubernetes) expect. A second signal ends the process at once. Log lines go to stderr,
each naming its node and process; ``--log-level`` sets the level (default ``info``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import beamish
from beamish.actors import check_async_function
from beamish.runtime import configure_logging

BACKENDS = ("asyncio", "uvloop", "trio")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


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
        "--advertise",
        type=_host_port,
        metavar="HOST:PORT",
        help="the address peers are told to dial, when not --listen's (NAT, a proxy)",
    )
    run.add_argument(
        "--connect-from",
        type=_local_host,
        metavar="HOST",
        help="the local address this node dials peers from (default: the system's choice)",
    )
    run.add_argument(
        "--no-discovery", action="store_true", help="do not use the host's runtime directory"
    )
    run.add_argument(
        "--heartbeat",
        type=_positive_seconds,
        metavar="SECONDS",
        help="cluster tick interval; a peer silent for 4 ticks is down (default 15)",
    )
    run.add_argument(
        "--allow-pickle",
        action="store_true",
        help="let values the wire codec has no type for travel by cloudpickle (trusted peers)",
    )
    run.add_argument(
        "--spawn-module",
        action="append",
        metavar="MODULE",
        help="a module (with its submodules) peers may spawn functions from; repeatable "
        "(default: any)",
    )
    run.add_argument(
        "--shutdown-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="how long processes get to stop before they are killed (default 5)",
    )
    run.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="default: info")

    demo = commands.add_parser(
        "demo", help="a logged tour of the kernel and a supervision tree (ends by itself)"
    )
    demo.add_argument("--seconds", type=float, default=5.0, help="about how long (default 5)")
    demo.add_argument("--backend", choices=BACKENDS, default="asyncio")

    top_ = commands.add_parser(
        "top", help="a live terminal view of a running node's processes (q quits)"
    )
    top_.add_argument("--node", required=True, help="the node to watch, name@host")
    top_.add_argument(
        "--cookie",
        default=os.environ.get("BEAMISH_COOKIE"),
        help="the cluster's cookie (default: $BEAMISH_COOKIE)",
    )
    top_.add_argument("--address", help="dial the node at host:port (default: find it by name)")
    top_.add_argument("--sort", choices=("mailbox", "memory", "rate"), default="mailbox")
    top_.add_argument("--interval", type=_positive_seconds, default=1.0, metavar="SECONDS")
    top_.add_argument("--once", action="store_true", help="print one frame and exit")
    return top


def _host_port(text: str) -> str:
    host, sep, port = text.rpartition(":")
    blank = any(c.isspace() for c in host)
    if not (host and sep and not blank and port.isdigit() and 0 < int(port) <= 65535):
        raise argparse.ArgumentTypeError(f"expected 'host:port', got {text!r}")
    return text


def _local_host(text: str) -> str:
    """An address this host can dial from (checked now: otherwise every dial would fail as
    if the peer were down)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(text, 0, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.bind(address)
    except (OSError, UnicodeError) as exc:
        why = f"{text!r} is not an address of this host ({exc})"
        raise argparse.ArgumentTypeError(why) from None
    return text


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "demo":
        from . import _demo

        if args.seconds <= 0:
            raise SystemExit("beamish demo: --seconds must be > 0")
        _demo.run(args.seconds, backend=args.backend)
        return 0
    if args.command == "top":
        return _top(args)
    configure_logging(args.log_level.upper())
    fn = load(args.target)
    options: dict[str, Any] = {}
    if args.cookie and "@" not in args.name:
        raise SystemExit("beamish run: a node in a cluster needs --name name@host")
    if args.heartbeat is not None and not args.cookie:
        raise SystemExit("beamish run: --heartbeat needs a cluster (--cookie)")
    if (args.allow_pickle or args.spawn_module) and not args.cookie:
        raise SystemExit("beamish run: --allow-pickle and --spawn-module need a cluster (--cookie)")
    if (args.advertise or args.connect_from) and not args.cookie:
        raise SystemExit("beamish run: --advertise and --connect-from need a cluster (--cookie)")
    if args.cookie:
        options["cluster"] = {
            "cookie": args.cookie,
            "listen": args.listen,
            "seeds": args.seed,
            "discovery": not args.no_discovery,
        }
        if args.heartbeat is not None:
            options["cluster"]["heartbeat"] = args.heartbeat
        if args.allow_pickle:
            options["cluster"]["allow_pickle"] = True
        if args.spawn_module:
            options["cluster"]["spawn_modules"] = args.spawn_module
        if args.advertise:
            options["cluster"]["advertise"] = args.advertise
        if args.connect_from:
            from .cluster.transports import TcpTransport

            options["cluster"]["transport"] = TcpTransport(local_host=args.connect_from)
    if args.shutdown_timeout is not None:
        options["shutdown_timeout"] = args.shutdown_timeout
    started: list[bool] = []

    async def main_process(*fn_args: Any) -> Any:
        started.append(True)
        return await fn(*fn_args)

    try:
        result = beamish.run(main_process, backend=args.backend, name=args.name, **options)
    except KeyboardInterrupt:
        _exit_by(signal.SIGINT)  # the node has stopped in order; no traceback
    except Exception as exc:
        if not started:
            print(f"beamish run: the node could not start: {_describe(exc)}", file=sys.stderr)
        elif isinstance(exc, beamish.Exited):
            print(f"beamish run: {exc}", file=sys.stderr)
        else:
            _print_user_traceback(exc)
        return 1
    if result is not None:
        print(result)
    return 0


def _top(args: argparse.Namespace) -> int:
    """``top``: join the node's cluster as a small node of our own and draw the target."""
    from .observe import run_top

    if not args.cookie:
        raise SystemExit("beamish top: needs --cookie (or $BEAMISH_COOKIE)")
    if "@" not in args.node:
        raise SystemExit("beamish top: --node must be name@host")
    host = args.node.partition("@")[2]
    target = args.address or args.node

    async def watch() -> str | None:
        from .cluster import connect

        try:
            await connect(target)
        except (ConnectionError, OSError, LookupError) as exc:
            return f"cannot reach {args.node}: {_describe(exc)}"
        await run_top(args.node, sort=args.sort, interval=args.interval, once=args.once)
        return None

    configure_logging("ERROR")
    cluster = {"cookie": args.cookie, "listen": "127.0.0.1:0", "discovery": True}
    try:
        error = beamish.run(watch, name=f"top-{os.getpid()}@{host}", cluster=cluster)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        error = _describe(exc)
    if error:
        print(f"beamish top: {error}", file=sys.stderr)
        return 1
    return 0


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _print_user_traceback(exc: BaseException) -> None:
    """The traceback from the user's code inward (the runtime's frames left out)."""
    tb = exc.__traceback__
    while tb is not None and _is_runtime_frame(tb.tb_frame.f_globals.get("__name__", "")):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__)


def _is_runtime_frame(module: str) -> bool:
    return module.split(".")[0] in {"__main__", "beamish", "anyio", "asyncio", "trio", "contextlib"}


def _exit_by(signum: signal.Signals) -> None:
    """End the process by ``signum`` (its default action), so the shell sees why."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    raise SystemExit(128 + signum)  # where the signal cannot end the process


if __name__ == "__main__":
    sys.exit(main())
