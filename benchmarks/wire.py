"""Wire codec micro-benchmark: beamish's Codec next to bare msgpack.

    python benchmarks/wire.py [--quick]

A typical small message, ``(Pid, str, int)``, is encoded and decoded with
``beamish.cluster.Codec``; the baseline packs and unpacks the equivalent plain structure
(``[[node, serial, creation], str, int]``) with ``msgpack.packb``/``unpackb``, the bare
format a hand-written asyncio transport would use. beamish and msgpack rounds run in
interleaved pairs (``pairs.py``); each figure is the median of the per-pair ratios of
beamish throughput / baseline throughput (higher is better), with their spread.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgpack
from pairs import Spread, interleave

from beamish.actors import Pid
from beamish.cluster import Codec

PAIRS = 7


def rate(fn: Callable[[], Any], n: int) -> Callable[[], float]:
    """A round: operations per second of ``n`` calls of ``fn``."""

    def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return n / (time.perf_counter() - start)

    return run


def paired(ours: Callable[[], Any], base: Callable[[], Any], n: int, pairs: int) -> Spread:
    rate(ours, n // 10)()  # warm-up
    rate(base, n // 10)()
    figures = interleave({"beamish": rate(ours, n), "msgpack": rate(base, n)}, pairs)
    return Spread.of(figures["beamish"], figures["msgpack"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke test)")
    quick = parser.parse_args().quick
    n, pairs = (5_000, 2) if quick else (200_000, PAIRS)

    codec = Codec()
    message = (Pid("app@host", 1234, 1), "hello", 42)
    plain = [["app@host", 1234, 1], "hello", 42]
    encode, decode = codec.encode, codec.decode
    packer = msgpack.Packer()
    pack, unpackb = packer.pack, msgpack.unpackb
    assert decode(encode(message)) == message

    payload, plain_payload = encode(message), pack(plain)
    rows = [
        ("encode", paired(lambda: encode(message), lambda: pack(plain), n, pairs)),
        ("decode", paired(lambda: decode(payload), lambda: unpackb(plain_payload), n, pairs)),
        (
            "encode+decode",
            paired(lambda: decode(encode(message)), lambda: unpackb(pack(plain)), n, pairs),
        ),
    ]
    print(f"message {message!r}: {len(payload)} bytes (plain msgpack {len(plain_payload)} bytes)")
    for name, spread in rows:
        print(
            f"{name:<14} beamish {spread.ours / 1e3:8.0f}k/s   msgpack {spread.base / 1e3:8.0f}k/s"
            f"   {spread.text()}"
        )


if __name__ == "__main__":
    main()
