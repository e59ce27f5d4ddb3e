"""Interleaved pairs: beamish and its baseline measured in alternation, in one run.

A machine shared with other work drifts: one slow stretch under one side's measurements
makes a ratio of two separately measured "best of N" figures say little. So every benchmark
here runs its sides in *pairs*, one round of each side per pair, the order reversed from one
pair to the next (A B, B A, A B, ...), and reports the **median of the per-pair ratios**
with their spread (lowest and highest pair ratio)::

    rounds = interleave({"beamish": run_ours, "baseline": run_base}, pairs=7)
    spread = Spread.of(rounds["beamish"], rounds["baseline"])
    print(spread.text())  # "ratio 0.52x [0.47-0.55] (median of 7 pairs)"

A side is any callable returning one figure (a rate: higher is better; or a time or a size,
``higher=False``). Sides that must stay up between rounds (two nodes and their connection)
run in a :class:`Child`: a long-lived interpreter that answers one JSON command per line.
"""

from __future__ import annotations

import json
import select
import statistics
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def interleave(sides: dict[str, Callable[[], float]], pairs: int) -> dict[str, list[float]]:
    """``pairs`` rounds of every side, in order, then reversed, then in order again, ...

    Returns each side's figures, one per pair, so that ``result[a][i]`` and
    ``result[b][i]`` were measured next to each other.
    """
    figures: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for _ in range(pairs):
        for name in order:
            figures[name].append(float(sides[name]()))
        order.reverse()
    return figures


@dataclass(frozen=True)
class Spread:
    """The per-pair ratios ours / baseline: their median, lowest and highest, and the
    median figures of each side (for orientation: the ratio is what to read)."""

    median: float
    low: float
    high: float
    pairs: int
    ours: float
    base: float
    ratios: tuple[float, ...]

    @classmethod
    def of(cls, ours: Sequence[float], base: Sequence[float]) -> Spread:
        if len(ours) != len(base) or not ours:
            raise ValueError(f"need pairs: {len(ours)} figures against {len(base)}")
        ratios = tuple(a / b if b else float("nan") for a, b in zip(ours, base, strict=True))
        return cls(
            median=statistics.median(ratios),
            low=min(ratios),
            high=max(ratios),
            pairs=len(ratios),
            ours=statistics.median(ours),
            base=statistics.median(base),
            ratios=ratios,
        )

    def text(self) -> str:
        return f"ratio {self.median:.2f}x [{self.low:.2f}-{self.high:.2f}] " + (
            f"(median of {self.pairs} pairs)" if self.pairs > 1 else "(1 pair)"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def meets(spread: Spread, op: str, bound: float) -> str:
    """``"(target >= 0.5x) ok"`` or ``... MISS``: the median pair ratio against a bound."""
    ok = spread.median >= bound if op == ">=" else spread.median <= bound
    return f"(target {op} {bound:g}x) {'ok' if ok else 'MISS'}"


# -- long-lived children: one JSON command per line in, one JSON answer per line out -----


class Child:
    """A child interpreter that stays up between rounds and answers commands.

    It prints ``READY <text>`` once it is set up (``ready()`` returns the text), then one
    JSON line per command it reads from stdin (see :func:`commands`).
    """

    def __init__(self, argv: list[str], **popen: Any) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **popen
        )

    def ready(self, timeout: float = 120.0) -> str:
        """Wait for the child's ``READY`` line (at most ``timeout`` seconds); its text."""
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else ""
        word, _, rest = line.strip().partition(" ")
        if word != "READY":
            self.close()
            raise RuntimeError(f"{self.argv[2:]} did not start: {line!r}")
        return rest

    def ask(self, **command: Any) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"{self.argv[2:]} exited ({code}) on {command}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()  # end of commands: the child returns
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def commands() -> AsyncIterator[dict[str, Any]]:
    """In a child: the commands from stdin until it closes. The read runs in a thread so
    that the child's event loop (a node's heartbeats) keeps running while it waits."""
    import anyio

    while True:
        line = await anyio.to_thread.run_sync(sys.stdin.readline)
        if not line:
            return
        yield json.loads(line)


def answer(value: Any) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()
