"""Helpers for tracker tests: a tracker that reports its diffs to a ledger process on its
own node, and ledgers that check every join and leave is reported exactly once per node.

The ledger lives beside the tracker so that no report crosses a (partitioned) network; the
test asks each node's ledger, by call, once the network lets it.
"""

from meshkit import on

import beamish
from beamish import presence

TRACKER = "rooms"
LEDGER = "ledger"


class Reporting(presence.Tracker):
    """Sends ``("diff", topic, joins, leaves)`` to this node's ledger for every diff, each
    presence as ``(key, phx_ref)``."""

    def handle_diff(self, diff):
        for topic, (joins, leaves) in diff.items():
            beamish.send(
                LEDGER,
                (
                    "diff",
                    topic,
                    sorted((key, meta["phx_ref"]) for key, meta in joins),
                    sorted((key, meta["phx_ref"]) for key, meta in leaves),
                ),
            )


class Ledger(beamish.Actor):
    """Per topic, the presences this node's diffs add up to. A join of a presence already
    there, or a leave of one not there, is recorded as an error."""

    def init(self):
        self.seen = {}  # topic -> {(key, ref)}
        self.errors = []
        self.waiting = []  # (topic, expected, caller)
        self.quiet = None  # (timer message, caller) while a quiet period runs
        self.diffs = 0
        self.counts = {}  # topic -> {(key, ref): [joins, leaves]}

    def handle_call(self, request, caller):
        if request[0] == "until":  # reply once the topic holds exactly `expected`
            self.waiting.append((request[1], set(request[2]), caller))
            self._check()
            return beamish.NoReply()
        if request[0] == "quiet":  # reply after `seconds` with the diffs that came meanwhile
            marker = ("quiet_over", beamish.make_ref())
            self.quiet = (marker, caller, self.diffs)
            beamish.send_after(self.pid, marker, request[1])
            return beamish.NoReply()
        if request[0] == "counts":  # every presence's (joins, leaves) reported so far
            counts = self.counts.get(request[1], {})
            return sorted((item, tuple(joins_leaves)) for item, joins_leaves in counts.items())
        if request[0] == "state":
            topic = request[1]
            return sorted(self.seen.get(topic, ())), list(self.errors)
        raise ValueError(request)

    def handle_info(self, message):
        if message[0] == "diff":
            _, topic, joins, leaves = message
            self.diffs += 1
            seen = self.seen.setdefault(topic, set())
            counts = self.counts.setdefault(topic, {})
            for item in joins:
                counts.setdefault(item, [0, 0])[0] += 1
            for item in leaves:
                counts.setdefault(item, [0, 0])[1] += 1
            for item in leaves:
                if item not in seen:
                    self.errors.append(("leave of an absent presence", item))
                seen.discard(item)
            for item in joins:
                if item in seen:
                    self.errors.append(("join twice", item))
                seen.add(item)
            self._check()
        elif self.quiet is not None and message == self.quiet[0]:
            _, caller, before = self.quiet
            self.quiet = None
            beamish.reply(caller, self.diffs - before)

    def _check(self):
        for entry in list(self.waiting):
            topic, expected, caller = entry
            if self.seen.get(topic, set()) == expected or self.errors:
                self.waiting.remove(entry)
                beamish.reply(caller, (sorted(self.seen.get(topic, ())), list(self.errors)))


async def start_ledger():
    await Ledger.start(name=LEDGER)


async def _ask(request, timeout):
    try:
        return await beamish.call(LEDGER, request, timeout=timeout)
    except beamish.CallTimeout:
        seen, _ = await beamish.call(LEDGER, ("state", request[1]))
        raise AssertionError(
            f"{beamish.this_node().name} {request[1]}: seen {seen}, expected {request[2]}"
        ) from None


class Ledgers:
    """The test's side: ask each node's ledger from a process of that node (so a
    partition does not stand between them); ``node_of(name)`` gives the node."""

    def __init__(self, node_of):
        self.node_of = node_of

    async def until(self, expected, timeout=10.0):
        """Every ``(node, topic)`` of ``expected`` reaches exactly those presences, with no
        double join and no leave of an absent presence on the way."""
        for (node, topic), wanted in expected.items():
            request = ("until", topic, sorted(wanted))
            seen, errors = await on(self.node_of(node), _ask, request, timeout)
            assert not errors, f"{node}: {errors}"
            assert set(seen) == wanted

    async def quiet(self, nodes, seconds):
        """No node reports any diff for ``seconds``."""
        for node in nodes:
            assert await on(self.node_of(node), _ask, ("quiet", seconds), 10.0) == 0, node


async def idle():
    """A tracked process: lives until told "stop" (or killed)."""
    await beamish.receive(lambda m: m == "stop")


async def track_new(topic, key, meta=None):
    """Spawn an idle process on this node and track it; returns (pid, (key, phx_ref))."""
    pid = beamish.spawn(idle)
    ref = await presence.track(TRACKER, pid, topic, key, meta or {})
    return pid, (key, ref)


async def listed(topic):
    """This node's list of ``topic`` as a set of (key, phx_ref)."""
    return {(key, meta["phx_ref"]) for key, meta in presence.list(TRACKER, topic)}
