"""The pure core of supervision, without an event loop: intensity, plans, specs."""

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scripted import Boom

import beamish
from beamish.supervision import (
    ChildSpec,
    InvalidChildSpec,
    Supervisor,
    SupervisorOptions,
    add_restart,
    backoff_delay,
    child_spec,
    record_restart,
    restart_plan,
    should_restart,
)

# -- add_restart ---------------------------------------------------------------------------

times = st.lists(st.integers(0, 50).map(float), max_size=25).map(sorted)
max_restarts = st.integers(0, 6)
periods = st.integers(1, 20).map(float)


def _feed(ts, r, s):
    """Feed every time in ``ts`` to add_restart; the verdicts in order."""
    window, verdicts = (), []
    for t in ts:
        window, ok = add_restart(window, t, r, s)
        verdicts.append(ok)
    return verdicts


@given(ts=times, r=max_restarts, s=periods)
def test_add_restart_allows_iff_at_most_max_restarts_in_the_inclusive_window(ts, r, s):
    """A restart is allowed iff, counting it, at most max_restarts fall in [now - s, now]."""
    for i, (t, ok) in enumerate(zip(ts, _feed(ts, r, s), strict=True)):
        in_window = sum(1 for u in ts[: i + 1] if t - s <= u <= t)
        assert ok == (in_window <= r)


@given(ts=times, r=max_restarts, s=periods)
def test_record_restart_in_place_decides_as_add_restart(ts, r, s):
    """The deque window, recorded in place, gives add_restart's verdicts and keeps at most
    max_restarts + 1 entries."""
    window = deque()
    verdicts = []
    for t in ts:
        verdicts.append(record_restart(window, t, r, s))
        assert len(window) <= r + 1
    assert verdicts == _feed(ts, r, s)


@given(ts=times, s=periods, now=st.integers(0, 100).map(float))
def test_add_restart_with_zero_max_restarts_never_allows(ts, s, now):
    """max_restarts=0 allows no restart at all."""
    history = tuple(t for t in ts if t <= now)
    assert add_restart(history, now, 0, s)[1] is False


@given(ts=times, extra=times, r=max_restarts, s=periods, now=st.integers(50, 60).map(float))
def test_add_restart_is_monotone_in_history(ts, extra, r, s, now):
    """More past restarts never turn a rejected restart into an allowed one."""
    fewer = add_restart(tuple(ts), now, r, s)[1]
    more = add_restart(tuple(sorted(ts + extra)), now, r, s)[1]
    assert fewer or not more


@given(ts=times, r=max_restarts, s=periods, now=st.integers(50, 60).map(float), dt=periods)
def test_add_restart_is_monotone_in_time_and_limits(ts, r, s, now, dt):
    """Later restarts, higher limits and shorter windows only ever allow more."""
    history = tuple(ts)
    ok = add_restart(history, now, r, s)[1]
    if ok:
        assert add_restart(history, now + dt, r, s)[1]
        assert add_restart(history, now, r + 1, s)[1]
        assert add_restart(history, now, r, s / 2)[1]
    else:
        assert not add_restart(history, now, r, s + dt)[1]


def test_add_restart_window_edge_is_inclusive():
    """A restart exactly max_seconds ago still counts, one just older does not."""
    assert add_restart((5.0,), 10.0, 1, 5.0) == ((5.0, 10.0), False)
    assert add_restart((4.999,), 10.0, 1, 5.0) == ((10.0,), True)


def test_backoff_delay_doubles_up_to_the_maximum():
    """Backoff is initial * 2**(attempt - 1), capped at maximum."""
    assert [backoff_delay(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# -- restart_plan --------------------------------------------------------------------------


@st.composite
def plans(draw):
    """(order, failed, restarted): unique ids, a failed one, the non-temporary ones."""
    order = draw(st.lists(st.integers(0, 99), min_size=1, max_size=10, unique=True))
    failed = draw(st.sampled_from(order))
    temporary = draw(st.sets(st.sampled_from(order)))
    restarted = {c for c in order if c not in temporary} | {failed}
    return order, failed, restarted


def _is_subsequence(xs, ys):
    it = iter(ys)
    return all(x in it for x in xs)


@given(plan=plans())
def test_one_for_one_touches_only_the_failed_child(plan):
    """one_for_one stops nothing and restarts only the failed child."""
    order, failed, restarted = plan
    assert restart_plan("one_for_one", order, failed, restarted) == ([], [failed])


@given(plan=plans(), strategy=st.sampled_from(["one_for_all", "rest_for_one"]))
def test_multi_child_plans_follow_otp(plan, strategy):
    """Stop in reverse start order without the failed child; start in order; temps not."""
    order, failed, restarted = plan
    stop, start = restart_plan(strategy, order, failed, restarted)
    affected = order if strategy == "one_for_all" else order[order.index(failed) :]
    assert stop == [c for c in reversed(affected) if c != failed]
    assert failed not in stop
    assert start == [c for c in affected if c in restarted]
    assert _is_subsequence(start, order)
    assert start[0] == failed or strategy == "one_for_all"
    temporary = set(order) - restarted
    assert not temporary & set(start)
    assert temporary & set(affected) <= set(stop)


@given(plan=plans())
def test_rest_for_one_touches_exactly_the_suffix(plan):
    """rest_for_one stops and restarts the failed child and those started after it only."""
    order, failed, restarted = plan
    stop, start = restart_plan("rest_for_one", order, failed, restarted)
    suffix = order[order.index(failed) :]
    assert set(stop) | {failed} == set(suffix)
    assert set(start) <= set(suffix)
    assert set(start) == {c for c in suffix if c in restarted}


def test_restart_plan_rejects_an_unknown_strategy():
    """An unknown strategy is a ValueError."""
    with pytest.raises(ValueError, match="simple_one_for_one"):
        restart_plan("simple_one_for_one", ["a"], "a", {"a"})


# -- should_restart ------------------------------------------------------------------------

REASONS = {
    "normal": ("normal", False),
    "shutdown": ("shutdown", False),
    "shutdown_term": (("shutdown", "deploy"), False),
    "killed": ("killed", True),
    "noproc": ("noproc", True),
    "exception": (Boom("x"), True),
    "other": ("boom", True),
}


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize("name", list(REASONS))
def test_should_restart_table(restart, name):
    """permanent always restarts, transient only on abnormal exits, temporary never."""
    reason, abnormal = REASONS[name]
    expected = {"permanent": True, "transient": abnormal, "temporary": False}[restart]
    assert should_restart(restart, reason) is expected


# -- ChildSpec -----------------------------------------------------------------------------


class Worker(beamish.Actor):
    """A do-nothing worker."""


def _start():
    return (Worker.start_link, ())


INVALID = [
    ("id", {"id": ["unhashable"]}, ["unhashable"]),
    ("start", {"start": Worker.start_link}, Worker.start_link),
    ("start", {"start": (42, ())}, (42, ())),
    ("start", {"start": (Worker.start_link, [])}, (Worker.start_link, [])),
    ("start", {"start": (Worker.start_link, (), {})}, (Worker.start_link, (), {})),
    ("restart", {"restart": "sometimes"}, "sometimes"),
    ("type", {"type": "daemon"}, "daemon"),
    ("shutdown", {"shutdown": -1}, -1),
    ("shutdown", {"shutdown": True}, True),
    ("shutdown", {"shutdown": "forever"}, "forever"),
    ("significant", {"significant": "yes"}, "yes"),
    ("significant", {"significant": True}, True),  # permanent cannot be significant
]


@pytest.mark.parametrize(
    ("field", "change", "value"), INVALID, ids=[f"{f}-{v!r}" for f, _, v in INVALID]
)
def test_invalid_child_spec_names_the_field_and_value(field, change, value):
    """Every invalid field raises InvalidChildSpec(field, value), directly or via child_spec."""
    fields = {"id": "w", "start": _start(), **change}
    with pytest.raises(InvalidChildSpec) as direct:
        ChildSpec(**fields)
    with pytest.raises(InvalidChildSpec) as via:
        child_spec(fields)
    for info in (direct, via):
        assert (info.value.field, info.value.value) == (field, value)
        assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("child", "overrides", "field"),
    [
        (42, {}, "child"),
        ((int, 1), {}, "child"),
        ({"start": _start()}, {}, "id"),
        ({"id": "w"}, {}, "start"),
        (Worker, {"colour": "red"}, "colour"),
        ({"id": "w", "start": _start(), "colour": "red"}, {}, "colour"),
    ],
)
def test_child_spec_rejects_bad_descriptions(child, overrides, field):
    """child_spec names the offending field for bad children, missing and unknown fields."""
    with pytest.raises(InvalidChildSpec) as info:
        child_spec(child, **overrides)
    assert info.value.field == field


def test_child_spec_defaults_follow_elixir():
    """A worker defaults to permanent, 5.0 s shutdown, not significant; a supervisor to infinity."""
    worker = child_spec(Worker)
    assert (worker.id, worker.restart, worker.shutdown, worker.type, worker.significant) == (
        "Worker",
        "permanent",
        5.0,
        "worker",
        False,
    )
    assert worker.start == (Worker.start_link, ())
    sup = child_spec(Supervisor.child_spec(children=[]))
    assert (sup.id, sup.type, sup.shutdown) == ("Supervisor", "supervisor", "infinity")
    assert child_spec({"id": "s", "start": _start(), "type": "supervisor"}).shutdown == "infinity"


def test_child_spec_overrides_apply_to_every_description():
    """Overrides replace fields of a class, a (cls, *args) tuple, a mapping or a ChildSpec."""
    base = child_spec((Worker, 1, 2), id="w1", restart="transient", shutdown="brutal_kill")
    assert (base.id, base.restart, base.shutdown, base.start[1]) == (
        "w1",
        "transient",
        "brutal_kill",
        (1, 2),
    )
    again = child_spec(base, restart="temporary", significant=True)
    assert (again.id, again.restart, again.significant, again.shutdown) == (
        "w1",
        "temporary",
        True,
        "brutal_kill",
    )
    assert child_spec(base) == base
    assert child_spec(child_spec(Worker), type="supervisor").shutdown == "infinity"
    assert child_spec(child_spec(Worker, shutdown=2), type="supervisor").shutdown == 2
    assert child_spec(Worker, shutdown=0).shutdown == 0


def test_child_spec_is_frozen():
    """A ChildSpec cannot be changed after validation."""
    spec = child_spec(Worker)
    with pytest.raises(AttributeError):
        spec.restart = "temporary"


@pytest.mark.parametrize(
    "flags",
    [
        {"strategy": "simple_one_for_one"},
        {"max_restarts": -1},
        {"max_restarts": 1.5},
        {"max_seconds": 0},
        {"auto_shutdown": "sometimes"},
        {"backoff": (0, 1)},
        {"backoff": (2, 1)},
    ],
)
def test_supervisor_options_are_validated(flags):
    """Bad supervisor flags raise ValueError before anything starts."""
    with pytest.raises(ValueError, match="must"):
        SupervisorOptions(**flags)
