"""The Python client where the ``websockets`` library is not installed (no ``client``
extra): LongPoll needs nothing more, and ``longpoll_fallback`` falls back to it, as
phoenix.js takes LongPoll where there is no WebSocket; a WebSocket-only client gets a clear
ImportError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .chankit import ROOT, Server

pytestmark = pytest.mark.timeout(60)

CLIENT = """
import sys
sys.modules["websockets"] = None  # as if not installed: importing it raises ImportError
import anyio
from beamish.channels import client

async def main(url, options):
  with anyio.fail_after(30):
    async with client.connect(url, {"user": "bare"}, **options) as socket:
        room = socket.channel("room:bare")
        await room.join()
        reply = await room.push("echo", {"n": 1})
        print(socket.transport, reply.status, reply.response)

anyio.run(main, sys.argv[1], eval(sys.argv[2]))
"""


def run_client(server: Server, options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLIENT, server.url, options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


@pytest.mark.parametrize("options", ['{"transport": "longpoll"}', '{"longpoll_fallback": 5}'])
def test_longpoll_needs_no_websockets_library(server: Server, options: str) -> None:
    done = run_client(server, options)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "longpoll ok {'n': 1}"


def test_a_websocket_client_says_what_to_install(server: Server) -> None:
    done = run_client(server, "{}")
    assert done.returncode != 0
    assert "needs the 'websockets' library: pip install 'beamish[client]'" in done.stderr
