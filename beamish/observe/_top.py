"""``python -m beamish top``: a live terminal view of one node (observer_cli, htop).

Each refresh takes a snapshot of the node, computes message rates against the previous
one, and draws the busiest processes sorted by mailbox length, memory or message rate.
Keys: ``q`` quits, ``b`` sorts by mailbox, ``m`` by memory, ``r`` by rate. ``render`` is
a pure function of the snapshots; the loop around it only reads keys and redraws.

>>> from beamish.observe._info import NodeSnapshot
>>> frame = render(NodeSnapshot("a@h", 0.0, 42, 1 << 20, ()), {}, "mailbox", width=60)
>>> frame[0].startswith("beamish top  a@h")
True
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import anyio

from ._agent import ask, decode_snapshot
from ._info import NodeSnapshot, ProcessDetails, message_rates

SORTS = ("mailbox", "memory", "rate")
KEYS = {"b": "mailbox", "m": "memory", "r": "rate"}
_CLEAR = "\x1b[H\x1b[2J"


def sort_processes(
    processes: tuple[ProcessDetails, ...], rates: dict[Any, float], sort: str
) -> list[ProcessDetails]:
    """The processes, busiest first by ``sort`` (``mailbox``, ``memory`` or ``rate``)."""
    keys: dict[str, Callable[[ProcessDetails], tuple[float, ...]]] = {
        "mailbox": lambda p: (p.message_queue_len, rates.get(p.pid, 0.0), p.memory),
        "memory": lambda p: (p.memory, p.message_queue_len),
        "rate": lambda p: (rates.get(p.pid, 0.0), p.message_queue_len, p.memory),
    }
    if sort not in keys:
        raise ValueError(f"sort by one of {SORTS}, not {sort!r}")
    return sorted(processes, key=keys[sort], reverse=True)


def render(
    frame: NodeSnapshot,
    rates: dict[Any, float],
    sort: str,
    *,
    width: int = 120,
    height: int = 40,
    clock: Callable[[float], str] = lambda t: time.strftime("%H:%M:%S", time.localtime(t)),
) -> list[str]:
    """One screen: a header about the node, then one line per process, busiest first."""
    total_rate = sum(rates.values())
    queued = sum(p.message_queue_len for p in frame.processes)
    lines = [
        f"beamish top  {frame.node}  os pid {frame.os_pid}  {clock(frame.taken_at)}",
        f"processes {len(frame.processes)}  rss {_bytes(frame.rss)}  "
        f"messages/s {total_rate:.1f}  queued {queued}",
        f"sorted by {sort}   keys: b mailbox  m memory  r rate  q quit",
        "",
        f"{'PID':<24} {'NAME':<22} {'BEHAVIOUR':<18} {'STATUS':<9} {'MBOX':>6} "
        f"{'MEMORY':>10} {'MSG/S':>8} {'MSGS':>8}  CALLBACK",
    ]
    for proc in sort_processes(frame.processes, rates, sort)[: max(0, height - len(lines))]:
        rate = rates.get(proc.pid)
        lines.append(
            f"{_cut(str(proc.pid), 24):<24} {_cut(proc.name or '', 22):<22} "
            f"{_cut(proc.behaviour or '-', 18):<18} {proc.status:<9} "
            f"{proc.message_queue_len:>6} {_bytes(proc.memory):>10} "
            f"{'-' if rate is None else f'{rate:.1f}':>8} "
            f"{'-' if proc.messages is None else proc.messages:>8}  "
            f"{proc.current_callback or '-'}"
        )
    return [line[:width] for line in lines]


async def run_top(
    node: str,
    *,
    sort: str = "mailbox",
    interval: float = 1.0,
    once: bool = False,
    out: TextIO = sys.stdout,
    keys: TextIO | None = None,
    timeout: float = 5.0,
) -> None:
    """Draw ``node`` every ``interval`` seconds until ``q`` (or one frame with ``once``).

    ``once`` takes two snapshots ``interval`` apart, so its rates are real, prints the
    frame as plain text and returns. Otherwise ``keys`` (default: stdin, read unbuffered
    when it is a terminal) is read for ``b``/``m``/``r``/``q``.
    """
    previous = decode_snapshot(await ask(node, ("snapshot",), timeout))
    if once:
        await anyio.sleep(interval)
        frame = decode_snapshot(await ask(node, ("snapshot",), timeout))
        out.write("\n".join(render(frame, message_rates(previous, frame), sort)) + "\n")
        out.flush()
        return
    source = sys.stdin if keys is None else keys
    with _cbreak(source):
        async with anyio.create_task_group() as group:
            state = {"sort": sort}

            async def read_keys() -> None:
                fd = source.fileno()
                while True:
                    await anyio.wait_readable(fd)
                    for key in os.read(fd, 32).decode(errors="replace"):
                        if key in ("q", "Q", "\x03"):
                            group.cancel_scope.cancel()
                            return
                        state["sort"] = KEYS.get(key, state["sort"])

            group.start_soon(read_keys)
            while True:
                await anyio.sleep(interval)
                try:
                    frame = decode_snapshot(await ask(node, ("snapshot",), timeout))
                except (TimeoutError, RuntimeError, LookupError, ConnectionError) as exc:
                    out.write(f"{_CLEAR}beamish top  {node}: no answer ({exc}); retrying\r\n")
                    out.flush()
                    continue
                columns, rows = _terminal_size(out)
                lines = render(
                    frame, message_rates(previous, frame), state["sort"], width=columns, height=rows
                )
                out.write(_CLEAR + "\r\n".join(lines) + "\r\n")
                out.flush()
                previous = frame


class _cbreak:
    """Unbuffered, unechoed key reads on a terminal for the block (a no-op elsewhere)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._saved: Any = None

    def __enter__(self) -> None:
        if self._stream.isatty():
            import termios
            import tty

            fd = self._stream.fileno()
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._stream.fileno(), termios.TCSADRAIN, self._saved)


def _terminal_size(out: TextIO) -> tuple[int, int]:
    """Columns and rows to draw in (120 x 40 where the terminal does not say)."""
    try:
        size = os.get_terminal_size(out.fileno())
    except (OSError, ValueError):
        return 120, 40
    return (size.columns or 120), (size.lines - 1 if size.lines > 1 else 40)


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
