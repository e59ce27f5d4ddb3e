"""Which JSON library for beamish.channels? stdlib json vs orjson vs msgspec on the channels'
own frames, in interleaved pairs (benchmarks/pairs.py).

    .venv/bin/pip install -r benchmarks/requirements-channels.txt
    .venv/bin/python benchmarks/json_frames.py [--pairs 9] [--n 20000]

What is measured is what the channels do per frame, as they do it:
- encode a broadcast: ``[null, null, topic, event, payload]`` to the ``str`` an ASGI
  ``websocket.send`` takes (orjson and msgspec make ``bytes``: their figure includes the
  ``.decode()``), done once per broadcast (fastlane);
- encode a reply ``[jr, ref, topic, "phx_reply", {"status", "response"}]``, once per push;
- decode an incoming push (the ``str`` a WebSocket text frame is), once per client frame.
The stdlib side is ``beamish.channels._json`` itself (strict: no NaN, compact separators).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pairs import Spread, interleave

from beamish.channels import _json

BROADCAST = [
    None,
    None,
    "room:lobby",
    "new_msg",
    {
        "user": "ann",
        "body": "hello everybody, this is a chat message of ordinary length ✓",
        "at": 1764330000123,
        "id": "01JDX3Q4V7N2M8K5R6T9W0Y1Z2",
        "tags": ["general", "welcome"],
    },
]
REPLY = ["3", "17", "room:lobby", "phx_reply", {"status": "ok", "response": {"id": 4711}}]
INCOMING = '["3","17","room:lobby","new_msg",{"body":"hello everybody, an ordinary message ✓"}]'
PRESENCE_DIFF = [
    None,
    None,
    "room:lobby",
    "presence_diff",
    {
        "joins": {"ann": {"metas": [{"phx_ref": "GBxL3aBfO_5kFwBi", "online_at": 1764330000}]}},
        "leaves": {},
    },
]


def rate(n: int, operation: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            operation()
        return n / (time.perf_counter() - start)

    return run


def candidates() -> dict[str, tuple[Callable[[Any], str], Callable[[str], Any]]]:
    found: dict[str, tuple[Callable[[Any], str], Callable[[str], Any]]] = {
        "stdlib": (_json.dumps, _json.loads)
    }
    try:
        import orjson

        found["orjson"] = (lambda v: orjson.dumps(v).decode(), orjson.loads)
    except ImportError:
        print("orjson not installed: skipped")
    try:
        import msgspec

        encoder, decoder = msgspec.json.Encoder(), msgspec.json.Decoder()
        found["msgspec"] = (lambda v: encoder.encode(v).decode(), decoder.decode)
    except ImportError:
        print("msgspec not installed: skipped")
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    libs = candidates()
    base_dumps, base_loads = libs.pop("stdlib")
    for dumps, loads in libs.values():
        assert loads(dumps(BROADCAST)) == base_loads(base_dumps(BROADCAST))
    for what, frame, pick in (
        ("encode broadcast", BROADCAST, 0),
        ("encode presence_diff", PRESENCE_DIFF, 0),
        ("encode reply", REPLY, 0),
        ("decode incoming push", INCOMING, 1),
    ):
        for name, functions in libs.items():
            base_fn = (base_dumps, base_loads)[pick]
            other_fn = functions[pick]
            figures = interleave(
                {
                    name: rate(args.n, lambda f=other_fn, x=frame: f(x)),
                    "stdlib": rate(args.n, lambda f=base_fn, x=frame: f(x)),
                },
                pairs=args.pairs,
            )
            spread = Spread.of(figures[name], figures["stdlib"])
            print(
                f"{what:22} {name:8} {spread.ours:>12,.0f}/s  stdlib {spread.base:>12,.0f}/s  "
                f"{spread.text()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
