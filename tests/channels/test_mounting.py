"""The endpoint mounted in a Starlette application (FastAPI is Starlette underneath) under a
real uvicorn: phoenix.js over both transports, the app's own routes beside it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from .chankit import Server, run_js

pytest.importorskip("starlette")


@pytest.fixture(scope="module")
def mounted() -> Iterator[Server]:
    srv = Server("starlette=1")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("transport", ["websocket", "longpoll"])
def test_phoenix_js_through_a_starlette_mount(mounted: Server, transport: str) -> None:
    """Mount("/socket", endpoint) with path="": the client's /socket/websocket and
    /socket/longpoll reach the endpoint; Starlette's lifespan starts the node."""
    out = run_js(mounted.url, transport, "basic")
    assert out["join"]["status"] == "ok"
    assert out["echo"] == {"status": "ok", "response": {"x": 1}}
    assert out["shout"] == {"s": 3}


def test_the_apps_other_routes_still_answer(mounted: Server) -> None:
    """Starlette's own route beside the mount."""
    with urllib.request.urlopen(f"{mounted.http}/hello", timeout=5) as response:
        assert json.loads(response.read()) == {"hello": "from starlette"}
