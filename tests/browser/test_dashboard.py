"""The dashboard in a real browser: the live tree, and a process page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browserkit import WAIT_MS, ChatServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[ChatServer]:
    server = ChatServer("chat@localhost", tmp_path / "run", tmp_path / "state").start()
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
