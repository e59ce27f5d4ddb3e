"""Restarts after a child exits: strategy x restart type x reason, checked against OTP.

Four scripted children start in order: ``a`` (permanent), ``b`` (the restart type under
test; it exits after two ``tick`` messages, or is killed), ``c`` (permanent) and ``d``
(temporary). The expected outcome is written out from OTP's documentation, not computed
with the supervisor's own pure helpers.
"""

import pytest
from scripted import Boom, Script, spec, started, stopped

import beamish
from beamish import Down
from beamish.supervision import Supervisor, count_children, which_children
from beamish.testing import assert_receive

pytestmark = pytest.mark.anyio

# (id, reason the child exits with, abnormal as OTP's transient restart sees it)
REASONS = [
    ("normal", "normal", False),
    ("shutdown", "shutdown", False),
    ("shutdown_term", ("shutdown", "deploy"), False),
    ("exception", Boom("crash"), True),
    ("kill", "kill", True),  # exit(pid, "kill") from outside: the child exits "killed"
    ("custom", "boom", True),
]
ORDER = ["a", "b", "c", "d"]


def expected_outcome(strategy, restart, abnormal):
    """(stopped by the supervisor, restarted, which_children ids) as OTP documents them."""
    restarts = restart == "permanent" or (restart == "transient" and abnormal)
    remaining = ["a", "c", "d"] if restart == "temporary" else ORDER
    if not restarts:
        return [], [], remaining
    if strategy == "one_for_one":
        return [], ["b"], ORDER
    if strategy == "one_for_all":
        return ["d", "c", "a"], ["a", "b", "c"], ["a", "b", "c"]
    return ["d", "c"], ["b", "c"], ["a", "b", "c"]


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize(
    ("reason", "abnormal"), [r[1:] for r in REASONS], ids=[r[0] for r in REASONS]
)
async def test_child_exit_restarts_what_otp_restarts(node, strategy, restart, reason, abnormal):
    """A child's exit stops and restarts exactly the children OTP's strategy names, in order."""
    log = []
    scripts = {cid: Script(log=log) for cid in ORDER}
    scripts["b"].crash_after = 2
    scripts["b"].reason = reason
    restarts = {"a": "permanent", "b": restart, "c": "permanent", "d": "temporary"}
    children = [spec(cid, scripts[cid], restart=restarts[cid]) for cid in ORDER]
    sup = await Supervisor.start_link(children, strategy=strategy, max_restarts=5)
    before = {info.id: info.pid for info in await which_children(sup)}
    assert started(log) == ORDER
    del log[:]

    b = before["b"]
    ref = beamish.monitor(b)
    if reason == "kill":
        beamish.exit(b, "kill")
    else:
        beamish.cast(b, "tick")
        beamish.cast(b, "tick")
    down = await assert_receive(lambda m: type(m) is Down and m.ref == ref)
    assert down.reason == ("killed" if reason == "kill" else reason)

    stops, starts, ids = expected_outcome(strategy, restart, abnormal)
    after = await which_children(sup)  # answered after the supervisor handled the exit
    assert [info.id for info in after] == ids
    assert stopped(log) == stops
    assert all(entry[2] == "shutdown" for entry in log if entry[0] == "stop")
    assert started(log) == starts
    for info in after:
        if info.id in starts:
            assert info.pid is not None
            assert info.pid != before[info.id]
            assert await beamish.call(info.pid, "ping") == ("pong", info.id)
        elif info.id == "b":
            assert info.pid is None  # exited, not restarted, spec kept
        else:
            assert info.pid == before[info.id]
            assert beamish.is_alive(info.pid)
    for cid in stops:
        if cid not in starts:
            assert not beamish.is_alive(before[cid])
    counts = await count_children(sup)
    assert counts.specs == len(ids)
    assert counts.active == sum(1 for info in after if info.pid is not None)
    assert beamish.is_alive(sup)
