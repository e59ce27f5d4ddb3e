"""The chat example as an attacker sees it: a browser of the chat must not read another
browser's session through the dashboard, nor forge its cookie with a secret from the source."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets

from beamish.sessions import CookieSigner

ROOT = Path(__file__).resolve().parent.parent
OLD_PUBLIC_SECRET = b"beamish chat example: not a secret"

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[str]:
    command = [sys.executable, "-m", "examples.chat", "--port", "0", "--name", "expo@localhost"]
    command += ["--state-dir", str(tmp_path / "state")]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:  # bounded by the test's timeout
            if line.startswith("chat: open "):
                yield line.split()[-1].replace("http://", "ws://").rstrip("/")
                break
        else:
            raise AssertionError("the chat did not start")
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=30)


async def open_socket(url: str, cookie: str | None = None) -> tuple[Any, str | None]:
    headers = {"cookie": cookie} if cookie else {}
    ws = await websockets.connect(url + "/socket/websocket?vsn=2.0.0", additional_headers=headers)
    return ws, ws.response.headers.get("set-cookie")


async def push(ws: Any, topic: str, event: str, payload: dict[str, Any], ref: int) -> Any:
    await ws.send(json.dumps(["1", str(ref), topic, event, payload]))
    while True:
        message = json.loads(await ws.recv())
        if message[1] == str(ref) and message[3] == "phx_reply":
            return message[4]


def test_a_browser_cannot_read_or_take_another_browsers_session(chat: str) -> None:
    async def main() -> None:
        victim, set_cookie = await open_socket(chat)
        assert set_cookie is not None
        victim_id = set_cookie.split("=", 1)[1].split(";")[0].rpartition(".")[0]
        await push(victim, "session:me", "phx_join", {}, 1)
        assert (await push(victim, "session:me", "nick", {"nick": "victim"}, 2))["status"] == "ok"

        attacker, _ = await open_socket(chat)
        assert (await push(attacker, "beamish:dashboard", "phx_join", {}, 1))["status"] == "ok"
        while True:
            message = json.loads(await attacker.recv())
            if message[3] == "frame":
                frame = message[4]
                break
        seen = json.dumps(frame)
        pids = sorted(set(re.findall(r"<[^<>\"]+>", json.dumps(frame["tree"]))))
        assert len(pids) > 5
        for ref, pid in enumerate(pids, start=10):
            answer = await push(attacker, "beamish:dashboard", "process", {"pid": pid}, ref)
            assert answer["status"] == "ok"
            assert "state" not in answer["response"]
            seen += json.dumps(answer)
        at = seen.find(victim_id)
        assert at == -1, seen[max(0, at - 300) : at + 100]

        forged = "beamish_chat=" + CookieSigner(OLD_PUBLIC_SECRET).sign(victim_id)
        thief, set_cookie = await open_socket(chat, forged)
        assert set_cookie is not None  # not accepted: a fresh session instead
        assert victim_id not in set_cookie
        mine = await push(thief, "session:me", "phx_join", {}, 1)
        assert mine["response"]["nickname"] != "victim"
        for ws in (victim, attacker, thief):
            await ws.close()

    anyio.run(main)


def test_a_page_of_another_origin_cannot_open_the_chats_socket(chat: str) -> None:
    """Cross-site WebSocket hijacking: another site's page, running in a browser that has the
    chat's cookie, is refused (Phoenix's check_origin); the chat's own origin is not."""

    async def main() -> None:
        host = chat.removeprefix("ws://")
        evil = {"origin": "http://evil.example"}
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(chat + "/socket/websocket?vsn=2.0.0", additional_headers=evil)
        own = {"origin": f"http://{host}"}
        ws = await websockets.connect(chat + "/socket/websocket?vsn=2.0.0", additional_headers=own)
        assert (await push(ws, "session:me", "phx_join", {}, 1))["status"] == "ok"
        await ws.close()

    anyio.run(main)
