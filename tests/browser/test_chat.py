"""The chat in a real browser: presence, messages, a room crash and rejoin, a restored
session, and three nodes with one killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browserkit import COOKIE, ROOT, START, WAIT_MS, ChatServer, Lines

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[ChatServer]:
    server = ChatServer("chat@localhost", tmp_path / "run", tmp_path / "state").start()
    try:
        yield server
    finally:
        server.stop()


def open_chat(browser: Any, url: str, nick: str) -> tuple[Any, Any]:
    """A fresh browser context (its own cookies: its own session) on the chat as ``nick``."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector("#room-status:has-text('joined')")
    page.fill("#nick", nick)
    page.press("#nick", "Enter")
    page.wait_for_function("n => document.getElementById('nick').value === n", arg=nick)
    return context, page


def online(page: Any, nick: str) -> Any:
    return page.locator(f"#online li[data-user='{nick}']")


def test_two_browsers_see_each_other_talk_and_leave(browser: Any, chat: ChatServer) -> None:
    """Presence lists both; a message crosses; a closed browser leaves the other's list."""
    alice_context, alice = open_chat(browser, chat.url, "alice")
    bob_context, bob = open_chat(browser, chat.url, "bob")
    try:
        online(alice, "bob").wait_for()
        online(bob, "alice").wait_for()

        bob.fill("#body", "is anyone typing")
        online(alice, "bob").locator(".typing-mark").wait_for()
        bob.press("#body", "Enter")
        alice.locator("#messages li[data-from='bob']", has_text="is anyone typing").wait_for()
        online(alice, "bob").locator(".typing-mark").wait_for(state="detached")

        alice.fill("#body", "hello bob")
        alice.press("#body", "Enter")
        bob.locator("#messages li[data-from='alice']", has_text="hello bob").wait_for()

        bob_context.close()
        online(alice, "bob").wait_for(state="detached")
        online(alice, "alice").wait_for()
    finally:
        alice_context.close()


def test_a_crashed_room_restarts_and_its_browsers_rejoin(browser: Any, chat: ChatServer) -> None:
    """The crash button kills the room process; its supervisor restarts it with a new pid
    and both browsers rejoin by themselves, then talk through the new room."""
    one_context, one = open_chat(browser, chat.url, "one")
    two_context, two = open_chat(browser, chat.url, "two")
    try:
        before = one.evaluate("window.chat.rooms.get('lobby').pid")
        one.click("#crash")
        for page in (one, two):
            page.locator("#messages li.system", has_text="restarted by its supervisor").wait_for()
            page.wait_for_selector("#room-status:has-text('joined')")
        after = two.evaluate("window.chat.rooms.get('lobby').pid")
        assert after != before
        assert one.evaluate("window.chat.rooms.get('lobby').pid") == after
        online(two, "one").wait_for()
        one.fill("#body", "still here")
        one.press("#body", "Enter")
        two.locator("#messages li[data-from='one']", has_text="still here").wait_for()
    finally:
        one_context.close()
        two_context.close()


def test_unread_counts_and_a_session_restored_after_a_restart(browser: Any, tmp_path: Path) -> None:
    """Unread counts live in the session process; its snapshot brings back the nickname,
    the rooms joined and the counts after the server restarts."""
    server = ChatServer("chat@localhost", tmp_path / "run", tmp_path / "state").start()
    context = browser.new_context()
    try:
        _, other = open_chat(browser, server.url, "writer")
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(server.url)
        page.wait_for_selector("#room-status:has-text('joined')")
        page.fill("#nick", "reader")
        page.press("#nick", "Enter")
        page.click("#rooms li[data-room='python']")  # joins python, views it
        page.wait_for_selector("#room-status:has-text('joined')")
        other.fill("#body", "unread one")
        other.press("#body", "Enter")
        page.locator("#rooms li[data-room='lobby'] .unread", has_text="1").wait_for()

        server.stop(signal.SIGTERM)  # in order: sessions save their state
        server = ChatServer("chat@localhost", tmp_path / "run", tmp_path / "state").start()
        page.goto(server.url)
        page.wait_for_function("document.getElementById('nick').value === 'reader'")
        page.locator("#room-title", has_text="#python").wait_for()
        page.locator("#rooms li[data-room='lobby'] .unread", has_text="1").wait_for()
    finally:
        context.close()
        server.stop()


def test_three_nodes_with_one_flag_survive_a_kill_9(browser: Any, tmp_path: Path) -> None:
    """``--nodes 3``: presence and messages cross nodes; killing one node (SIGKILL) leaves
    the users of the other two talking, and its own user leaves their lists."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "examples.chat", "--nodes", "3", "--port", "0"]
    command += ["--cookie", COOKIE, "--state-dir", str(tmp_path / "state")]
    cluster = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    contexts = []
    try:
        assert cluster.stdout is not None
        urls: list[str] = []
        os_pids: list[int] = []
        lines = Lines(cluster.stdout)
        deadline = time.monotonic() + 3 * START
        while len(urls) < 3:
            line = lines.next(deadline)
            assert line, f"the three nodes did not start (got {urls})"
            if line.startswith("chat: open "):
                urls.append(line.split()[-1])
            elif line.startswith("chat: node "):
                os_pids.append(int(line.split("os pid ")[1].rstrip(")\n")))
        pages = []
        for url, nick in zip(urls, ("ann", "ben", "cat"), strict=True):
            context, page = open_chat(browser, url, nick)
            contexts.append(context)
            pages.append(page)
        ann, ben, cat = pages
        for page in pages:
            for nick in ("ann", "ben", "cat"):
                online(page, nick).wait_for()
        assert {page.inner_text("#node") for page in pages} == {
            "chat1@localhost",
            "chat2@localhost",
            "chat3@localhost",
        }
        ann.fill("#body", "across nodes")
        ann.press("#body", "Enter")
        for page in (ben, cat):
            page.locator("#messages li[data-from='ann']", has_text="across nodes").wait_for()

        os.kill(os_pids[2], signal.SIGKILL)  # chat3, where cat is connected
        online(ann, "cat").wait_for(state="detached", timeout=60_000)
        online(ben, "cat").wait_for(state="detached", timeout=60_000)
        online(ann, "ben").wait_for()
        online(ben, "ann").wait_for()
        ben.fill("#body", "we are still here")
        ben.press("#body", "Enter")
        ann.locator("#messages li[data-from='ben']", has_text="we are still here").wait_for()
    finally:
        for context in contexts:
            context.close()
        cluster.send_signal(signal.SIGINT)
        try:
            cluster.communicate(timeout=START)  # reaps it and closes its pipe
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.communicate(timeout=START)
