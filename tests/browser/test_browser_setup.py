"""The browser tests' own set-up: Debian's chromium runs the example's phoenix client."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from .browserkit import PHOENIX_JS


@pytest.fixture
def static_server() -> Iterator[str]:
    """The phoenix client's files over HTTP on a free port (a module needs http, not file:)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = partial(Quiet, directory=str(PHOENIX_JS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_chromium_imports_the_phoenix_client(browser: Any, static_server: str) -> None:
    """The installed phoenix.mjs loads as an ES module and exports Socket and Presence."""
    page = browser.new_page()
    try:
        page.goto(f"{static_server}/favicon.ico")
        exported = page.evaluate(
            """async (url) => {
                const phoenix = await import(url);
                return [typeof phoenix.Socket, typeof phoenix.Presence, typeof phoenix.Channel];
            }""",
            f"{static_server}/phoenix.mjs",
        )
        assert exported == ["function", "function", "function"]
    finally:
        page.close()
