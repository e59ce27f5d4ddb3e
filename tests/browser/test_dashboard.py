"""The dashboard in a real browser: the live tree, and a process page."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browserkit import ROOT, START, WAIT_MS, ChatServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[ChatServer]:
    server = ChatServer(
        "chat@localhost", tmp_path / "run", tmp_path / "state", options=("--show-state",)
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_tree_shows_the_rooms_and_grows_when_a_process_starts(
    browser: Any, chat: ChatServer
) -> None:
    """The rooms supervisor and its rooms show; a browser joining adds its processes."""
    context = browser.new_context()
    try:
        board = context.new_page()
        board.set_default_timeout(WAIT_MS)
        board.goto(chat.url + "dashboard")
        for room in ("lobby", "python", "erlang"):
            board.locator(f"#tree li[data-id='rooms'] li[data-id='{room}']").wait_for()
        board.locator("#nodes tr[data-node='chat@localhost']").wait_for()
        before = board.evaluate("window.dashboard.last.tree")
        pids_before = set(tree_pids(before))

        chat_page = context.new_page()
        chat_page.goto(chat.url)
        chat_page.wait_for_selector("#room-status:has-text('joined')", timeout=WAIT_MS)
        board.wait_for_function(
            """n => {
                const walk = (trees) => trees.flatMap((t) => [t.pid, ...walk(t.children)]);
                return walk(window.dashboard.last.tree).filter(Boolean).length > n;
            }""",
            arg=len(pids_before),
        )
        after = set(tree_pids(board.evaluate("window.dashboard.last.tree")))
        new = after - pids_before
        assert new, "no process appeared in the tree"
        for pid in new:
            board.locator(f"#tree li[data-pid='{pid}']").wait_for()

        lobby = board.locator("#tree li[data-id='lobby'] > .label .pid")
        lobby.click()
        board.locator("#process dd", has_text='"Room"').wait_for()
        board.locator("#process pre", has_text='"room": "lobby"').wait_for()
    finally:
        context.close()


def tree_pids(trees: list[dict[str, Any]]) -> list[str]:
    found = []
    for node in trees:
        if node["pid"]:
            found.append(node["pid"])
        found.extend(tree_pids(node["children"]))
    return found


@pytest.fixture
def dashapp() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.browser.dashapp"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("READY "), (
            f"{line!r} {process.stderr.read() if process.stderr else ''}"
        )
        yield line.split()[1]
    finally:
        process.terminate()
        process.communicate(timeout=START)


def test_the_tree_updates_when_a_process_starts(browser: Any, dashapp: str) -> None:
    """A child started under a supervisor appears in the tree; its page hides the secret."""
    context = browser.new_context()
    try:
        board = context.new_page()
        board.set_default_timeout(WAIT_MS)
        board.goto(dashapp + "dashboard")
        board.locator("#tree li[data-id='workers']").wait_for()
        assert board.locator("#tree li[data-id='workers'] li").count() == 0
        pids = []
        for _ in range(2):
            answer = board.request.post(dashapp + "spawn")
            assert answer.ok
            pids.append(answer.text())
            board.locator(f"#tree li[data-id='workers'] li[data-pid='{pids[-1]}']").wait_for()
        assert board.locator("#tree li[data-id='workers'] li").count() == 2
        board.locator(f"#tree li[data-pid='{pids[0]}'] > .label .pid").click()
        board.locator("#process dd", has_text='"Worker"').wait_for()
        board.locator("#process pre", has_text='"secret": "***"').wait_for()
        assert "s3cret" not in board.inner_text("#process")
    finally:
        context.close()
