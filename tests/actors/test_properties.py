"""Property-based tests of the kernel's invariants (hypothesis), on a fresh node each example."""

import anyio
from anyio.lowlevel import checkpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import beamish
from beamish import Actor, Down

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(main, backend="asyncio"):
    """Run ``main`` as the first process of a fresh node on virtual time."""
    if backend == "trio":
        from trio.testing import MockClock

        async def boot():
            async with beamish.runtime.start(virtual_time=True) as node:
                return await beamish.runtime.run_main(node, main)

        return anyio.run(
            boot, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)}
        )
    return beamish.run(main, virtual_time=True)


backends = st.sampled_from(["asyncio", "trio"])


@SETTINGS
@given(
    plans=st.lists(st.lists(st.booleans(), min_size=1, max_size=15), min_size=1, max_size=5),
    backend=backends,
)
def test_per_sender_order_is_kept(plans, backend):
    """Messages from each sender arrive in the order sent, however the senders interleave."""

    async def main():
        me = beamish.self()

        async def sender(index, yields):
            for seq, yield_now in enumerate(yields):
                beamish.send(me, (index, seq))
                if yield_now:
                    await checkpoint()

        for index, yields in enumerate(plans):
            beamish.spawn(sender, index, yields)
        total = sum(len(p) for p in plans)
        return [await beamish.receive(timeout=10) for _ in range(total)]

    got = _run(main, backend)
    for index, yields in enumerate(plans):
        assert [seq for i, seq in got if i == index] == list(range(len(yields)))


@SETTINGS
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("send"), st.integers(0, 9)),
            st.tuples(st.just("take"), st.integers(2, 4), st.integers(0, 3)),
            st.tuples(st.just("take_any")),
        ),
        max_size=40,
    )
)
def test_selective_receive_keeps_skipped_order(ops):
    """Selective receive takes the oldest match and leaves the others in arrival order."""

    async def main():
        me = beamish.self()
        model = []
        for op in ops:
            if op[0] == "send":
                beamish.send(me, op[1])
                model.append(op[1])
                continue
            if op[0] == "take":
                _, modulus, rest = op

                def pred(m, modulus=modulus, rest=rest):
                    return m % modulus == rest % modulus

            else:

                def pred(m):
                    return True

            expected = next((m for m in model if pred(m)), None)
            try:
                got = await beamish.receive(pred, timeout=0)
            except TimeoutError:
                got = None
            assert got == expected
            if expected is not None:
                model.remove(expected)
        remaining = []
        while True:
            try:
                remaining.append(beamish.receive_nowait())
            except beamish.WouldBlock:
                break
        assert remaining == model

    _run(main)


monitor_ops = st.lists(
    st.one_of(
        st.tuples(st.just("monitor"), st.integers(0, 3)),
        st.tuples(st.just("demonitor"), st.integers(0, 20), st.booleans()),
        st.tuples(st.just("exit"), st.integers(0, 3), st.sampled_from(["kill", "boom", "normal"])),
    ),
    max_size=30,
)


@SETTINGS
@given(ops=monitor_ops, backend=backends)
def test_every_monitor_fires_exactly_once(ops, backend):
    """Each monitor gives exactly one Down unless removed first; flushed ones give none."""

    async def main():
        async def worker():
            await beamish.receive(lambda m: m == "quit")

        workers = [beamish.spawn(worker) for _ in range(4)]
        refs = []  # (ref, pid)
        flushed, demonitored = set(), set()
        for op in ops:
            if op[0] == "monitor":
                refs.append((beamish.monitor(workers[op[1]]), workers[op[1]]))
            elif op[0] == "demonitor" and refs:
                ref, _ = refs[op[1] % len(refs)]
                beamish.demonitor(ref, flush=op[2])
                (flushed if op[2] else demonitored).add(ref)
            elif op[0] == "exit":
                beamish.exit(workers[op[1]], op[2])
        for pid in workers:
            beamish.exit(pid, "kill")
        watch = {beamish.monitor(pid): pid for pid in workers}
        for _ in watch:  # every worker has exited once these arrive
            await beamish.receive(lambda m: type(m) is Down and m.ref in watch, timeout=10)
        downs = []
        while True:
            try:
                downs.append(await beamish.receive(lambda m: type(m) is Down, timeout=1))
            except TimeoutError:
                break
        return refs, flushed, demonitored, downs

    refs, flushed, demonitored, downs = _run(main, backend)
    counts = {}
    for down in downs:
        counts[down.ref] = counts.get(down.ref, 0) + 1
    by_ref = dict(refs)
    for down in downs:
        assert by_ref[down.ref] == down.pid
    for ref, _ in refs:
        if ref in flushed:
            assert counts.get(ref, 0) == 0
        elif ref in demonitored:
            assert counts.get(ref, 0) <= 1
        else:
            assert counts.get(ref, 0) == 1


leak_ops = st.lists(
    st.one_of(
        st.tuples(st.just("spawn")),
        st.tuples(st.just("link"), st.integers(0, 30), st.integers(0, 30)),
        st.tuples(st.just("unlink"), st.integers(0, 30), st.integers(0, 30)),
        st.tuples(st.just("monitor"), st.integers(0, 30), st.integers(0, 30)),
        st.tuples(st.just("register"), st.integers(0, 30), st.sampled_from("abc")),
        st.tuples(st.just("trap"), st.integers(0, 30)),
        st.tuples(
            st.just("exit"),
            st.integers(0, 30),
            st.sampled_from(["normal", "kill", "shutdown", "boom", "crash"]),
        ),
    ),
    max_size=40,
)


async def _agent(driver):
    """Run commands from the driver and acknowledge each one."""
    while True:
        command = await beamish.receive()
        if type(command) is not tuple or command[0] != "do":
            continue  # Down and Exit messages are just left behind
        _, seq, op, *args = command
        if op == "crash":
            raise RuntimeError("crash on request")
        if op == "return":
            return
        try:
            if op == "link":
                beamish.link(args[0])
            elif op == "unlink":
                beamish.unlink(args[0])
            elif op == "monitor":
                beamish.monitor(args[0])
            elif op == "register":
                beamish.register(args[0])
            elif op == "trap":
                beamish.trap_exits(not beamish.process_info(beamish.self()).trap_exits)
        except (beamish.NameTaken, beamish.NoProc):
            pass
        beamish.send(driver, ("ack", seq))


@SETTINGS
@given(ops=leak_ops, backend=backends)
def test_no_leaks_after_everything_exits(ops, backend):
    """After any spawn/link/monitor/register/exit sequence, nothing is left once all exit."""

    async def main():
        node = beamish.this_node()
        me = beamish.self()
        beamish.trap_exits(True)
        agents, records, refs = [], [], {}
        seq = 0

        def spawn():
            pid = beamish.spawn(_agent, me)
            agents.append(pid)
            records.append(node._table[pid.serial])
            refs[beamish.monitor(pid)] = pid

        async def command(index, op, *args):
            nonlocal seq
            pid = agents[index % len(agents)]
            if not beamish.is_alive(pid):
                return
            seq += 1
            beamish.send(pid, ("do", seq, op, *args))
            if op in ("crash", "return"):
                return
            await beamish.receive(
                lambda m, s=seq: (
                    m == ("ack", s)
                    or (type(m) is Down and m.pid == pid and m.ref in refs and refs.pop(m.ref))
                ),
                timeout=10,
            )

        spawn()
        for op in ops:
            if op[0] == "spawn":
                spawn()
            elif op[0] in ("link", "unlink", "monitor"):
                await command(op[1], op[0], agents[op[2] % len(agents)])
            elif op[0] == "register":
                await command(op[1], "register", op[2])
            elif op[0] == "trap":
                await command(op[1], "trap")
            elif op[1] % 3 == 0 and op[2] in ("normal", "crash"):
                await command(op[1], "return" if op[2] == "normal" else "crash")
            else:
                beamish.exit(agents[op[1] % len(agents)], "boom" if op[2] == "crash" else op[2])
        for pid in agents:
            beamish.exit(pid, "kill")
        while refs:
            down = await beamish.receive(lambda m: type(m) is Down and m.ref in refs, timeout=10)
            refs.pop(down.ref)
        me_proc = node._table[me.serial]
        live = set(node._table)
        assert live <= {me.serial, me.serial - 1}, node._table  # run_main's helper and main
        assert node._names == {}
        assert not me_proc._links
        assert not me_proc._monitors
        watchers = set((me_proc._monitored_by or {}).values())
        assert all(w.serial in live for w in watchers)  # only run_main watches main
        for record in records:
            assert not record.alive
            assert not record._links
            assert not record._monitors
            assert not record._monitored_by
            assert record.name is None
        return True

    assert _run(main, backend) is True


class KV(Actor):
    """A key-value store server."""

    def init(self):
        self.data = {}

    def handle_call(self, request, caller):
        op, *args = request
        if op == "put":
            key, value = args
            old = self.data.get(key)
            self.data[key] = value
            return old
        if op == "get":
            return self.data.get(args[0])
        if op == "delete":
            return self.data.pop(args[0], None) is not None
        if op == "size":
            return len(self.data)
        if op == "keys":
            return sorted(self.data)
        raise ValueError(request)

    def handle_cast(self, request):
        _, key, value = request
        self.data[key] = value


keys = st.sampled_from(["a", "b", "c", "d"])
values = st.integers(-5, 5)


class KVMachine(RuleBasedStateMachine):
    """Drive a KV actor from outside any process and compare it with a dict."""

    def __init__(self):
        super().__init__()
        self.model = {}
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        self._node_cm = self.portal.wrap_async_context_manager(
            beamish.runtime.start(name="kv@localhost", virtual_time=True)
        )
        self.node = self._node_cm.__enter__()
        self.pid = self._call(KV.start)

    def _call(self, fn, *args):
        async def in_node():
            with self.node:
                return await fn(*args)

        return self.portal.call(in_node)

    @rule(key=keys, value=values)
    def put(self, key, value):
        """put returns the old value and stores the new one."""
        assert self._call(beamish.call, self.pid, ("put", key, value)) == self.model.get(key)
        self.model[key] = value

    @rule(key=keys, value=values)
    def cast_put(self, key, value):
        """A cast put is seen by the next call."""

        async def cast():
            beamish.cast(self.pid, ("put", key, value))

        self._call(cast)
        self.model[key] = value

    @rule(key=keys)
    def get(self, key):
        """get returns the model's value."""
        assert self._call(beamish.call, self.pid, ("get", key)) == self.model.get(key)

    @rule(key=keys)
    def delete(self, key):
        """delete reports whether the key was there."""
        assert self._call(beamish.call, self.pid, ("delete", key)) == (key in self.model)
        self.model.pop(key, None)

    @invariant()
    def same_keys(self):
        """The server holds exactly the model's keys."""
        assert self._call(beamish.call, self.pid, ("keys",)) == sorted(self.model)

    def teardown(self):
        self._node_cm.__exit__(None, None, None)
        assert self.node._table == {}
        self._portal_cm.__exit__(None, None, None)


TestKVMachine = KVMachine.TestCase
TestKVMachine.settings = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
