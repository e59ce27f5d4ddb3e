"""Take the README's screenshots: ``python -m examples.chat.screenshots [OUT_DIR]``.

Starts the chat on a free port, opens it in two headless Chromium windows (Debian's
``chromium``, driven by Playwright), has them talk and type, and saves
``chat.png`` and ``dashboard.png`` into ``OUT_DIR`` (default ``docs/images``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZE = {"width": 1200, "height": 680}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_RUNTIME_DIR": tmp}
        server = subprocess.Popen(
            [sys.executable, "-m", "examples.chat", "--port", "0", "--state-dir", tmp],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            url = _url(server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                pages = []
                for nick in ("ada", "joe"):
                    page = browser.new_context(viewport=SIZE).new_page()
                    page.goto(url)
                    page.wait_for_selector("#room-status:has-text('joined')")
                    page.fill("#nick", nick)
                    page.press("#nick", "Enter")
                    pages.append(page)
                ada, joe = pages
                ada.locator("#online li[data-user='joe']").wait_for()
                for page, text in (
                    (ada, "hello joe: this room is a process under a supervisor"),
                    (joe, "and I am a session process; press the red button"),
                    (ada, "done: the room restarted and we both rejoined"),
                ):
                    if text.startswith("done"):
                        page.click("#crash")
                        page.locator("#messages li.system").wait_for()
                        page.wait_for_selector("#room-status:has-text('joined')")
                    page.fill("#body", text)
                    page.press("#body", "Enter")
                    joe.locator("#messages li", has_text=text).wait_for()
                joe.fill("#body", "typing…")
                ada.locator("#online li[data-user='joe'] .typing-mark").wait_for()
                ada.screenshot(path=str(out / "chat.png"))

                board = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                board.goto(url + "dashboard")
                board.locator("#tree li[data-id='lobby'] > .label .pid").click()
                board.locator("#process pre").wait_for()
                board.wait_for_function("window.dashboard.frames >= 3")
                board.evaluate("window.scrollTo(0, 0)")
                board.screenshot(path=str(out / "dashboard.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(30)


def _url(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    for line in server.stdout:  # the chat prints its URL once it serves, or exits
        if line.startswith("chat: open "):
            return line.split()[-1]
    raise SystemExit("the chat did not start")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images")
