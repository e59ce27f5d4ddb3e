"""What cannot cross the wire fails one message, never a connection, a server or the node.

- An exit signal or a down whose reason cannot cross goes as a stand-in reason, and every
  local partner still gets the exit (the kernel's fan-out never sees the error).
- A reply that cannot cross fails that call at once (``Exited(error)``); the server lives on.
- A message holding a value the receiver cannot rebuild (a class only the sender can import,
  a pickle the receiver refuses) is dropped alone; the connection, and every link and
  monitor across it, stays up; a call it carried fails at once.
"""

import contextlib
import itertools
import sys
import types
import uuid

import anyio
import pytest
from meshkit import Echo, nodes, on

import beamish
from beamish import cluster, telemetry
from beamish.cluster._wire import Codec
from beamish.cluster.transports import MemoryNetwork

pytestmark = pytest.mark.anyio

A, B = "a@test", "b@test"
WAIT = 10
_ids = itertools.count()


class Opaque:
    """A value the codec cannot carry without pickles."""

    def __repr__(self):
        return "<opaque>"


@contextlib.contextmanager
def recorded(event):
    """Collect the metadata of every ``event`` while the block runs."""
    seen = []
    handler = f"wire-failures-{next(_ids)}"
    telemetry.attach(handler, event, lambda _e, _m, metadata, _c: seen.append(dict(metadata)))
    try:
        yield seen
    finally:
        telemetry.detach(handler)


@contextlib.asynccontextmanager
async def two_nodes(*, pickles=(False, False), max_frame=None):
    net = MemoryNetwork()
    async with nodes(net.transport, [A, B]) as started:
        (a, ca), (b, cb) = started[A], started[B]
        ca.codec = Codec(allow_pickle=pickles[0])
        cb.codec = Codec(allow_pickle=pickles[1])
        if max_frame is not None:
            ca.max_frame = cb.max_frame = max_frame
        await ca.connect("mem://" + B)
        yield a, ca, b, cb


async def _start_echo():
    return await Echo.start(name="echo")


# ---------------------------------------------------------------------------------------
# Exit signals and downs whose reason cannot cross
# ---------------------------------------------------------------------------------------


async def _partner(report):
    beamish.trap_exits(True)
    beamish.send(report, ("ready", beamish.self()))
    exit_ = await beamish.receive(lambda m: isinstance(m, beamish.Exit))
    beamish.send(report, ("exit", beamish.self(), exit_.reason))


async def _watcher(report, target):
    ref = beamish.monitor(target)
    beamish.send(report, ("ready", beamish.self()))
    down = await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    beamish.send(report, ("down", beamish.self(), down.reason))


async def _victim(reason):
    partners = await beamish.receive()
    for pid in partners:
        beamish.link(pid)
    await beamish.receive(lambda m: m == "die")
    beamish.exit(beamish.self(), reason)


@pytest.mark.parametrize("kind", ["unencodable", "oversized"])
async def test_an_exit_reason_that_cannot_cross_goes_as_a_stand_in_and_every_partner_exits(kind):
    """A process linked to 16 local partners and to one on another node, and monitored
    from there, exits with a reason that cannot cross: every local partner gets the real
    reason, the remote partner and watcher get ("unsendable", type, repr), it is counted,
    and the node runs on."""
    reason = Opaque() if kind == "unencodable" else "x" * 10_000
    async with two_nodes(max_frame=4096) as (a, _ca, b, _cb):
        await on(a, _start_echo)

        async def remote_ones(report, victim):
            return [beamish.spawn(_partner, report), beamish.spawn(_watcher, report, victim)]

        async def scenario():
            me = beamish.self()
            victim = beamish.spawn(_victim, reason)
            local = [beamish.spawn(_partner, me) for _ in range(16)]
            remote_partner, remote_watcher = await on(b, remote_ones, me, victim)
            ready = set()
            while len(ready) < 18:
                ready.add((await beamish.receive(lambda m: m[0] == "ready", timeout=WAIT))[1])
            beamish.send(victim, [*local, remote_partner])
            beamish.send(victim, "die")
            reports = {}
            while len(reports) < 18:
                report = await beamish.receive(lambda m: m[0] in ("exit", "down"), timeout=WAIT)
                reports[report[1]] = report[2]
            return local, remote_partner, remote_watcher, reports

        with recorded(telemetry.CLUSTER_UNSENDABLE) as unsendable:
            local, remote_partner, remote_watcher, reports = await on(a, scenario)
        assert all(reports[pid] is reason for pid in local)
        stand_in = reports[remote_partner]
        assert reports[remote_watcher] == stand_in
        if kind == "unencodable":
            assert stand_in == ("unsendable", f"{__name__}.Opaque", "<opaque>")
        else:
            assert stand_in[:2] == ("unsendable", "str")
            assert stand_in[2].startswith("'xxx")
            assert len(stand_in[2]) <= 200
        assert sorted(s["what"] for s in unsendable) == ["down", "exit"]

        async def still_serving():
            return await beamish.call(("echo", A), "still there?", timeout=WAIT)

        assert await on(b, still_serving) == (A, "still there?")


# ---------------------------------------------------------------------------------------
# Replies that cannot cross
# ---------------------------------------------------------------------------------------


class Generous(beamish.Actor):
    """Answers "opaque" with a value the codec cannot carry, "big" with 10 kB."""

    def handle_call(self, request, caller):
        if request == "opaque":
            return Opaque()
        if request == "big":
            return b"x" * 10_000
        return request


@pytest.mark.parametrize(
    ("request_", "error"), [("opaque", cluster.EncodeError), ("big", cluster.FrameError)]
)
async def test_a_reply_that_cannot_cross_fails_the_call_at_once_and_the_server_lives(
    request_, error
):
    """A remote handle_call whose reply cannot cross: the caller (timeout=None) gets
    Exited(the error) at once, the server keeps serving, and it is counted."""
    async with two_nodes(max_frame=4096) as (a, _ca, b, _cb):
        server = await on(b, Generous.start)

        async def client():
            with anyio.fail_after(WAIT), pytest.raises(beamish.Exited) as info:
                await beamish.call(server, request_, timeout=None)
            return info.value.reason, await beamish.call(server, "and now?", timeout=WAIT)

        with recorded(telemetry.CLUSTER_UNSENDABLE) as unsendable:
            reason, after = await on(a, client)
        assert isinstance(reason, error)
        assert after == "and now?"  # the same server, still alive
        assert [(s["node"], s["what"]) for s in unsendable] == [(B, "reply")]


# ---------------------------------------------------------------------------------------
# Messages the receiver cannot decode
# ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def sender_only_class():
    """A class importable while the block runs only (as on the sender during a rolling
    deploy): a pickle of it names a module the receiver cannot import afterwards."""
    module = types.ModuleType(f"sender_only_{uuid.uuid4().hex}")
    thing = type("Thing", (), {"__module__": module.__name__})
    module.Thing = thing
    sys.modules[module.__name__] = module
    try:
        yield thing
    finally:
        del sys.modules[module.__name__]


async def _collector(report):
    got = []
    while True:
        message = await beamish.receive()
        got.append(message)
        if message == "after":
            beamish.send(report, got)  # and stays alive: a Down would mean the link broke


async def test_a_message_the_receiver_cannot_decode_is_dropped_alone():
    """A message holding an instance of a class only the sender can import is dropped on
    the receiver and counted; the messages around it arrive, the connection stays up, and
    a monitor across it does not fire."""
    async with two_nodes(pickles=(True, True)) as (a, ca, b, cb):
        connection = ca.connections[B]

        async def scenario():
            me = beamish.self()
            collector = await on(b, _start_collector, me)
            ref = beamish.monitor(collector)
            beamish.send(collector, "before")
            with sender_only_class() as thing:
                beamish.send(collector, ("thing", thing()))  # encoded here, at once
            beamish.send(collector, "after")
            got = await beamish.receive(lambda m: isinstance(m, list), timeout=WAIT)
            with pytest.raises(TimeoutError):
                await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=0)
            beamish.demonitor(ref)
            return got

        with recorded(telemetry.CLUSTER_MESSAGE_DROPPED) as dropped:
            assert await on(a, scenario) == ["before", "after"]
        assert [(d["node"], d["peer"], d["kind"]) for d in dropped] == [(B, A, "undecodable")]
        assert "No module named 'sender_only_" in dropped[0]["why"]
        assert ca.connections[B] is connection
        assert cb.nodes() == [A]


async def _start_collector(report):
    return beamish.spawn(_collector, report)


async def test_a_call_the_server_cannot_decode_fails_at_once():
    """A call whose request the server's node refuses (a pickle, where it allows none)
    fails at once with Exited(DecodeError), and the next call is answered."""
    async with two_nodes(pickles=(True, False)) as (a, _ca, b, _cb):
        server = await on(b, Generous.start)

        async def client():
            with anyio.fail_after(WAIT), pytest.raises(beamish.Exited) as info:
                await beamish.call(server, Opaque(), timeout=None)
            return info.value.reason, await beamish.call(server, "next", timeout=WAIT)

        with recorded(telemetry.CLUSTER_MESSAGE_DROPPED) as dropped:
            reason, after = await on(a, client)
        assert isinstance(reason, cluster.DecodeError)
        assert "does not allow them" in str(reason)
        assert after == "next"
        assert [(d["node"], d["kind"]) for d in dropped] == [(B, "undecodable")]


async def test_a_reply_the_caller_cannot_decode_fails_the_call_at_once():
    """A node that refuses pickles gets a pickled reply: that call fails with
    Exited(DecodeError) at once; the connection stays up."""
    async with two_nodes(pickles=(False, True)) as (a, _ca, b, _cb):
        server = await on(b, Generous.start)

        async def client():
            with anyio.fail_after(WAIT), pytest.raises(beamish.Exited) as info:
                await beamish.call(server, "opaque", timeout=None)
            return info.value.reason, await beamish.call(server, "next", timeout=WAIT)

        with recorded(telemetry.CLUSTER_MESSAGE_DROPPED) as dropped:
            reason, after = await on(a, client)
        assert isinstance(reason, cluster.DecodeError)
        assert "does not allow them" in str(reason)
        assert after == "next"
        assert [(d["node"], d["kind"]) for d in dropped] == [(A, "undecodable")]


async def _dies_with(reason):
    await beamish.receive(lambda m: m == "die")
    beamish.exit(beamish.self(), reason)


async def test_an_exit_reason_the_receiver_cannot_decode_still_fires_the_link():
    """A remote partner exits with a reason this node cannot rebuild: the link and the
    monitor still fire here, with ("undecodable", why), and the connection stays up."""
    async with two_nodes(pickles=(False, True)) as (a, ca, b, _cb):

        async def start_dying():
            return beamish.spawn(_dies_with, Opaque())

        partner = await on(b, start_dying)

        async def client():
            beamish.trap_exits(True)
            beamish.link(partner)
            ref = beamish.monitor(partner)
            beamish.send(partner, "die")
            exit_ = await beamish.receive(lambda m: isinstance(m, beamish.Exit), timeout=WAIT)
            down = await beamish.receive(lambda m: isinstance(m, beamish.Down), timeout=WAIT)
            return exit_, down, ref

        exit_, down, ref = await on(a, client)
        assert exit_.pid == partner
        assert exit_.reason[0] == "undecodable"
        assert "does not allow them" in exit_.reason[1]
        assert (down.ref, down.reason) == (ref, exit_.reason)
        assert ca.nodes() == [B]


async def test_a_send_to_an_unknown_name_is_counted():
    """A message to a name nobody holds on the receiving node is dropped and counted."""
    async with two_nodes() as (a, _ca, b, _cb):
        await on(b, _start_echo)

        async def client():
            beamish.send(("nobody", B), "hello?")
            return await beamish.call(("echo", B), "after", timeout=WAIT)

        with recorded(telemetry.CLUSTER_MESSAGE_DROPPED) as dropped:
            assert await on(a, client) == (B, "after")
        assert [(d["node"], d["peer"], d["kind"]) for d in dropped] == [(B, A, "unknown_name")]


async def test_sends_to_a_name_not_registered_there_are_dropped_without_a_warning(caplog):
    """Like Erlang's ``{Name, Node} ! Msg``: a send to a name the receiving node does not
    run (a tracker's heartbeat to a node without that tracker, every period) is dropped
    silently, only counted and logged at debug level."""
    async with two_nodes() as (a, _ca, b, _cb):
        await on(b, _start_echo)

        async def client():
            for name in ["tracker", "tracker", "other"]:
                beamish.send((name, B), "heartbeat")
            return await beamish.call(("echo", B), "after", timeout=WAIT)

        with caplog.at_level("DEBUG", logger="beamish.cluster"):
            with recorded(telemetry.CLUSTER_MESSAGE_DROPPED) as dropped:
                assert await on(a, client) == (B, "after")
        assert [d["kind"] for d in dropped] == ["unknown_name"] * 3
        dropping = [r for r in caplog.records if "dropped a message" in r.getMessage()]
        assert [r.levelname for r in dropping] == ["DEBUG"] * 3
