"""watch(id, selector): the reference's subscribe-with-a-selector scenarios."""

import pytest
from sessionkit import Counter, start_sessions

import beamish
from beamish import sessions
from beamish.sessions import SessionChanged
from beamish.testing import assert_receive, refute_receive

pytestmark = pytest.mark.anyio


async def test_watch_sends_the_value_now_and_on_each_change(node):
    """The current value at once, then the new one after a cast changes it."""
    await start_sessions()
    await sessions.start("w", Counter)
    await sessions.watch("w", lambda s: s["value"], key="count")
    assert await assert_receive(SessionChanged) == SessionChanged("w", "count", 0)
    await sessions.cast("w", "add_one")
    assert await assert_receive(SessionChanged) == SessionChanged("w", "count", 1)


async def test_watch_only_notifies_when_the_selection_changes(node):
    """A change elsewhere in the state sends nothing; a change of the selection does."""
    await start_sessions()
    await sessions.start("w", Counter)
    await sessions.watch("w", lambda s: s["value"], key="count")
    await assert_receive(SessionChanged("w", "count", 0))
    await sessions.cast("w", ("put", "user", "bob"))
    await sessions.call("w", "get_value")  # the cast is handled by now
    await refute_receive(SessionChanged)
    await sessions.cast("w", "add_one")
    await assert_receive(SessionChanged("w", "count", 1))


async def test_watch_by_key_of_the_default_session(node):
    """On a dict state a key is a selector; the messages carry that key."""
    await start_sessions()
    await sessions.start("kv")
    await sessions.watch("kv", "lang")
    await assert_receive(SessionChanged("kv", "lang", None))
    await sessions.call("kv", ("put", "lang", "en"))
    await assert_receive(SessionChanged("kv", "lang", "en"))
    await sessions.call("kv", ("delete", "lang"))
    await assert_receive(SessionChanged("kv", "lang", None))


async def test_multiple_watchers(node):
    """Two watches (two keys) both get every change."""
    await start_sessions()
    await sessions.start("w", Counter)
    await sessions.watch("w", lambda s: s["value"], key="one")
    await sessions.watch("w", lambda s: s["value"], key="two")
    await assert_receive(SessionChanged("w", "one", 0))
    await assert_receive(SessionChanged("w", "two", 0))
    await sessions.cast("w", "add_one")
    await assert_receive(SessionChanged("w", "one", 1))
    await assert_receive(SessionChanged("w", "two", 1))


async def test_unwatch_stops_notifications(node):
    """After unwatch, changes send nothing; a second unwatch says False."""
    await start_sessions()
    await sessions.start("w", Counter)
    ref = await sessions.watch("w", lambda s: s["value"])
    first = await assert_receive(SessionChanged)
    assert first.key == ref  # a function selector without key=: the ref tags it
    assert await sessions.unwatch("w", ref) is True
    await sessions.cast("w", "add_one")
    await sessions.call("w", "get_value")
    await refute_receive(SessionChanged)
    assert await sessions.unwatch("w", ref) is False


async def test_a_dead_watcher_is_forgotten(node):
    """A watcher that exits is dropped (the session monitors it), and the session lives."""
    await start_sessions()
    pid = await sessions.start("w", Counter)
    me = beamish.self()

    async def watcher():
        await sessions.watch("w", lambda s: s["value"])
        beamish.send(me, "watching")
        await beamish.receive(lambda m: m == "never")

    other, ref = beamish.spawn_monitor(watcher)
    await assert_receive("watching")
    assert (await sessions.info("w"))["watchers"] == 1
    beamish.exit(other, "kill")
    await assert_receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    await sessions.cast("w", "add_one")
    assert (await sessions.info("w"))["watchers"] == 0
    assert beamish.is_alive(pid)


async def test_a_failing_selector_is_refused_then_dropped(node):
    """A selector that raises at watch time: the caller gets its error. One that raises
    later is dropped (logged); the session lives on."""
    await start_sessions()
    pid = await sessions.start("w", Counter)
    with pytest.raises(KeyError):
        await sessions.watch("w", lambda s: s["missing"])
    await sessions.watch("w", lambda s: 1 // (1 - s["value"]))
    await assert_receive(SessionChanged)
    await sessions.cast("w", "add_one")  # 1 // 0 now
    assert await sessions.call("w", "get_value") == 1
    assert (await sessions.info("w"))["watchers"] == 0
    assert beamish.is_alive(pid)
