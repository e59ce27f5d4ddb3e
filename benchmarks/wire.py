"""Wire codec micro-benchmark: beamish's Codec next to bare msgpack.

    python benchmarks/wire.py [--quick]

A typical small message, ``(Pid, str, int)``, is encoded and decoded with
``beamish.cluster.Codec``; the baseline packs and unpacks the equivalent plain structure
(``[[node, serial, creation], str, int]``) with ``msgpack.packb``/``unpackb``, the bare
format a hand-written asyncio transport would use. Each figure is the best of 5 runs.
The ratio is beamish throughput / baseline throughput (higher is better).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgpack

from beamish.actors import Pid
from beamish.cluster import Codec

REPS = 5


def best_rate(fn: Callable[[], Any], n: int) -> float:
    """Operations per second: the best of REPS runs of ``n`` calls."""
    best = float("inf")
    for _ in range(REPS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke test)")
    n = 5_000 if parser.parse_args().quick else 200_000

    codec = Codec()
    message = (Pid("app@host", 1234, 1), "hello", 42)
    plain = [["app@host", 1234, 1], "hello", 42]
    encode, decode = codec.encode, codec.decode
    packer = msgpack.Packer()
    pack, unpackb = packer.pack, msgpack.unpackb
    assert decode(encode(message)) == message

    payload, plain_payload = encode(message), pack(plain)
    rows = [
        ("encode", best_rate(lambda: encode(message), n), best_rate(lambda: pack(plain), n)),
        (
            "decode",
            best_rate(lambda: decode(payload), n),
            best_rate(lambda: unpackb(plain_payload), n),
        ),
        (
            "encode+decode",
            best_rate(lambda: decode(encode(message)), n),
            best_rate(lambda: unpackb(pack(plain)), n),
        ),
    ]
    print(f"message {message!r}: {len(payload)} bytes (plain msgpack {len(plain_payload)} bytes)")
    for name, ours, base in rows:
        print(
            f"{name:<14} beamish {ours / 1e3:8.0f}k/s   msgpack {base / 1e3:8.0f}k/s   "
            f"ratio {ours / base:.2f}"
        )


if __name__ == "__main__":
    main()
