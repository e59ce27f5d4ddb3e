"""The telemetry handler table: attach, detach, execute, span and failure handling."""

import itertools
import logging

import pytest

from beamish import telemetry

_ids = itertools.count()


@pytest.fixture
def hid():
    """A fresh handler-id factory; every id it made is detached after the test."""
    made = []

    def new():
        made.append(f"test.telemetry.{next(_ids)}")
        return made[-1]

    yield new
    for handler_id in made:
        telemetry.detach(handler_id)


def _recorder(log, tag=None):
    def handler(event, measurements, metadata, config):
        log.append((tag, event, dict(measurements), dict(metadata), config))

    return handler


def test_attach_and_execute(hid):
    """An attached handler gets the event, measurements, metadata and its config."""
    log = []
    telemetry.attach(hid(), ("t", "one"), _recorder(log), config={"c": 1})
    telemetry.execute(("t", "one"), {"n": 1}, {"m": 2})
    telemetry.execute(("t", "other"), {"n": 9})
    assert log == [(None, ("t", "one"), {"n": 1}, {"m": 2}, {"c": 1})]


def test_metadata_defaults_to_empty(hid):
    """execute without metadata passes an empty mapping."""
    log = []
    telemetry.attach(hid(), ("t", "nometa"), _recorder(log))
    telemetry.execute(("t", "nometa"), {"n": 1})
    assert log[0][3] == {}


def test_handlers_run_in_attach_order(hid):
    """Handlers on one event run in the order they were attached."""
    log = []
    for tag in "abc":
        telemetry.attach(hid(), ("t", "order"), _recorder(log, tag))
    telemetry.execute(("t", "order"), {})
    assert [entry[0] for entry in log] == ["a", "b", "c"]


def test_detach(hid):
    """detach stops delivery and returns True once, then False."""
    log = []
    handler_id = hid()
    telemetry.attach(handler_id, ("t", "detach"), _recorder(log))
    assert telemetry.has_handlers(("t", "detach"))
    assert telemetry.detach(handler_id) is True
    assert telemetry.detach(handler_id) is False
    telemetry.execute(("t", "detach"), {})
    assert log == []
    assert not telemetry.has_handlers(("t", "detach"))


def test_attach_many(hid):
    """attach_many delivers several events to one handler; detach removes it from all."""
    log = []
    handler_id = hid()
    telemetry.attach_many(handler_id, [("t", "x"), ("t", "y")], _recorder(log))
    telemetry.execute(("t", "x"), {"v": 1})
    telemetry.execute(("t", "y"), {"v": 2})
    assert [(e[1], e[2]) for e in log] == [(("t", "x"), {"v": 1}), (("t", "y"), {"v": 2})]
    telemetry.detach(handler_id)
    telemetry.execute(("t", "x"), {})
    telemetry.execute(("t", "y"), {})
    assert len(log) == 2


def test_handler_exists(hid):
    """Attaching a second handler under a used id raises HandlerExists; the first stays."""
    log = []
    handler_id = hid()
    telemetry.attach(handler_id, ("t", "dup"), _recorder(log, "first"))
    with pytest.raises(telemetry.HandlerExists):
        telemetry.attach(handler_id, ("t", "dup"), _recorder(log, "second"))
    with pytest.raises(telemetry.HandlerExists):
        telemetry.attach_many(handler_id, [("t", "elsewhere")], _recorder(log, "third"))
    assert issubclass(telemetry.HandlerExists, ValueError)
    telemetry.execute(("t", "dup"), {})
    telemetry.execute(("t", "elsewhere"), {})
    assert [e[0] for e in log] == ["first"]


def test_list_handlers(hid):
    """list_handlers filters by event prefix; the empty prefix lists every handler."""
    a, b, c = hid(), hid(), hid()
    telemetry.attach(a, ("lh", "db", "query"), _recorder([]))
    telemetry.attach(b, ("lh", "db", "conn"), _recorder([]))
    telemetry.attach_many(c, [("lh", "http"), ("other",)], _recorder([]))
    assert set(telemetry.list_handlers(("lh",))) == {a, b, c}
    assert set(telemetry.list_handlers(("lh", "db"))) == {a, b}
    assert telemetry.list_handlers(("lh", "db", "query")) == [a]
    assert telemetry.list_handlers(("other",)) == [c]
    assert {a, b, c} <= set(telemetry.list_handlers())
    assert telemetry.list_handlers(("lh", "nothing")) == []


def test_execute_without_handlers_is_a_no_op():
    """Emitting an event nobody listens to does nothing and raises nothing."""
    assert not telemetry.has_handlers(("nobody", "listens", "here"))
    assert telemetry.execute(("nobody", "listens", "here"), {"count": 1}) is None


def test_raising_handler_is_detached_and_logged(hid, caplog):
    """A raising handler is detached and logged; the others and the emitter carry on."""
    caplog.set_level(logging.ERROR, logger="beamish.telemetry")
    log, failures = [], []
    bad = hid()

    def boom(event, measurements, metadata, config):
        raise RuntimeError("handler bug")

    telemetry.attach(hid(), ("t", "fail"), _recorder(log, "before"))
    telemetry.attach(bad, ("t", "fail"), boom)
    telemetry.attach(hid(), ("t", "fail"), _recorder(log, "after"))
    telemetry.attach(
        hid(), telemetry.HANDLER_FAILURE, lambda e, m, md, c: failures.append(dict(md))
    )
    telemetry.execute(("t", "fail"), {})
    telemetry.execute(("t", "fail"), {})
    assert [e[0] for e in log] == ["before", "after", "before", "after"]
    assert bad not in telemetry.list_handlers()
    assert len(failures) == 1
    assert failures[0]["handler_id"] == bad
    assert failures[0]["event"] == ("t", "fail")
    assert isinstance(failures[0]["error"], RuntimeError)
    assert "handler bug" in caplog.text
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in caplog.records)


def test_raising_failure_handler_does_not_loop(hid, caplog):
    """A handler of HANDLER_FAILURE that raises itself is detached without recursion."""
    caplog.set_level(logging.ERROR, logger="beamish.telemetry")

    def boom(event, measurements, metadata, config):
        raise RuntimeError("again")

    first, second = hid(), hid()
    telemetry.attach(first, ("t", "loop"), boom)
    telemetry.attach(second, telemetry.HANDLER_FAILURE, boom)
    telemetry.execute(("t", "loop"), {})
    assert first not in telemetry.list_handlers()
    assert second not in telemetry.list_handlers()


def test_span_emits_start_and_stop(hid):
    """span emits start then stop with a duration and the extra metadata merged in."""
    log = []
    telemetry.attach_many(
        hid(), [("t", "work", s) for s in ("start", "stop", "exception")], _recorder(log)
    )
    with telemetry.span(("t", "work"), {"job": 7}) as extra:
        extra["result"] = "done"
    assert [e[1] for e in log] == [("t", "work", "start"), ("t", "work", "stop")]
    assert "monotonic_time" in log[0][2]
    assert log[0][3] == {"job": 7}
    assert log[1][2]["duration"] >= 0
    assert log[1][3] == {"job": 7, "result": "done"}


def test_span_emits_exception_and_reraises(hid):
    """span emits an exception event with kind and reason, then re-raises."""
    log = []
    telemetry.attach_many(
        hid(), [("t", "bad", s) for s in ("start", "stop", "exception")], _recorder(log)
    )
    error = ValueError("nope")
    with pytest.raises(ValueError, match="nope"):
        with telemetry.span(("t", "bad"), {"job": 1}):
            raise error
    assert [e[1] for e in log] == [("t", "bad", "start"), ("t", "bad", "exception")]
    assert log[1][3]["kind"] == "ValueError"
    assert log[1][3]["reason"] is error
    assert log[1][3]["job"] == 1
    assert log[1][2]["duration"] >= 0


def test_all_events_are_tuples_of_strings():
    """Every runtime event name is a tuple of strings, listed once in ALL_EVENTS."""
    assert len(set(telemetry.ALL_EVENTS)) == len(telemetry.ALL_EVENTS)
    for event in telemetry.ALL_EVENTS:
        assert isinstance(event, tuple)
        assert all(isinstance(part, str) for part in event)
