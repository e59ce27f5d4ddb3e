"""CPU-bound work in worker processes, while the node's actors stay responsive.

Run it with ``python examples/crunch.py`` (from the repository root); it takes a few seconds.

The node runs a ``Dashboard`` actor that ticks every 10 ms and records how late its ticks
were. Counting primes in the node itself blocks its event loop, and the dashboard with it;
the same work sent to a ``WorkerPool`` runs in two child OS processes, and the dashboard
keeps ticking on time. A ``Tally`` actor lives in a worker under the node's supervisor
(``placement=pool``): its worker is killed with SIGKILL, and the supervisor starts it again,
with a new pid, in a worker that is alive.

Run as a script, this module is ``__main__``, so the functions and classes it sends to the
workers travel by value, with cloudpickle; imported from a module (``docs/workers.md`` keeps
them in ``crunch.py``), they would travel by reference.
"""

import logging
import os
import signal
import time

import beamish
from beamish import telemetry
from beamish.supervision import child_spec, which_children
from beamish.workers import WorkerPool, is_worker_death

TICK = 0.01  # seconds between the dashboard's ticks


def count_primes(start, stop):
    """How many primes ``start <= n < stop`` has: by trial division, CPU-bound on purpose."""
    count = 0
    for n in range(max(start, 2), stop):
        if n < 4:
            count += 1
        elif n % 2:
            divisor = 3
            while divisor * divisor <= n:
                if n % divisor == 0:
                    break
                divisor += 2
            else:
                count += 1
    return count


def count_range(bounds):
    """``count_primes`` for one ``(start, stop)`` pair (what ``pool.map`` hands out)."""
    return count_primes(*bounds)


def chunks(start, stop, size):
    """``(start, stop)`` split into ranges of ``size`` numbers."""
    return [(low, min(low + size, stop)) for low in range(start, stop, size)]


class Dashboard(beamish.Actor):
    """Ticks every TICK seconds; ``"report"`` returns (ticks, worst lateness) and resets."""

    def init(self):
        self.ticks, self.worst = 0, 0.0
        self.due = time.monotonic() + TICK
        beamish.send_after(self.pid, "tick", TICK)

    def handle_info(self, message):
        if message == "tick":
            now = time.monotonic()
            self.ticks += 1
            self.worst = max(self.worst, now - self.due)
            self.due = now + TICK
            beamish.send_after(self.pid, "tick", TICK)

    def handle_call(self, request, caller):
        if request == "ping":
            return "pong"
        if request == "report":
            report = (self.ticks, self.worst)
            self.ticks, self.worst = 0, 0.0
            return report
        raise ValueError(f"unknown call {request!r}")


class Tally(beamish.Actor):
    """A running total, kept in a worker process; ``"where"`` gives the worker's OS pid."""

    def init(self):
        self.total = 0

    def handle_cast(self, amount):
        self.total += amount

    def handle_call(self, request, caller):
        if request == "where":
            return os.getpid()
        return self.total


# A WorkerPool is a description and a handle: nothing runs until a supervisor starts it.
pool = WorkerPool(size=2, name="crunch", max_memory=512 * 2**20)


async def tally_pid():
    """The Tally's pid, asked of the node's root supervisor. After the Tally's ``Down`` it is
    already the new one: the supervisor got the exit at the same instant, and restarts the
    child before it answers."""
    for child in await which_children(beamish.this_node().root):
        if child.id == "tally":
            return child.pid
    raise LookupError("no tally")


def forward_worker_up(to):
    """Send ``to`` a ("worker_up", os_pid) message for each worker the pool starts."""
    node = beamish.this_node()

    def handler(event, measurements, metadata, config):
        node.send(to, ("worker_up", metadata["os_pid"]))

    telemetry.attach("crunch-worker-up", telemetry.WORKER_UP, handler)


async def main():
    info = await pool.info()
    print(f"pool {pool.name}: {info.size} workers, OS pids {[w.os_pid for w in info.workers]}")
    dashboard = await Dashboard.start_link()
    work = chunks(1_000_000, 1_600_000, 50_000)

    # 1. In the node: the event loop is busy counting, so no tick runs on time.
    await beamish.call(dashboard, "report")
    began = time.monotonic()
    found = sum(count_primes(low, high) for low, high in work[:2])
    seconds = time.monotonic() - began
    await beamish.sleep(2 * TICK)  # let the dashboard catch up on its ticks
    _, worst = await beamish.call(dashboard, "report")
    print(f"in the node: {found} primes in {seconds:.2f}s; worst tick {worst * 1000:.0f} ms late")

    # 2. In the pool: the same kind of work, six times as much, off the event loop.
    began = time.monotonic()
    counts = await pool.map(count_range, work)
    seconds = time.monotonic() - began
    ticks, worst = await beamish.call(dashboard, "report")
    print(
        f"in the pool: {sum(counts)} primes in {len(work)} chunks in {seconds:.2f}s; "
        f"{ticks} ticks meanwhile, worst {worst * 1000:.0f} ms late"
    )
    print("dashboard still answers:", await beamish.call(dashboard, "ping"))

    # 3. An actor in a worker, under the root supervisor: kill its worker, it comes back.
    tally = await tally_pid()
    for amount in (1, 2, 3):
        beamish.cast(tally, amount)
    os_pid = await beamish.call(tally, "where")
    print(f"tally {tally} in worker {os_pid}: total {await beamish.call(tally, 'total')}")
    ref = beamish.monitor(tally)
    forward_worker_up(beamish.self())
    os.kill(os_pid, signal.SIGKILL)  # a crash the worker cannot catch: a segfault, an OOM kill
    down = await beamish.receive(lambda m: isinstance(m, beamish.Down) and m.ref == ref)
    death = is_worker_death(down.reason)
    print(f"tally's worker killed: Down {down.reason!r}, a worker death: {death}")
    new_tally = await tally_pid()
    new_os_pid = await beamish.call(new_tally, "where")
    print(
        f"supervisor restarted tally: new pid {new_tally} in worker {new_os_pid}, "
        f"total {await beamish.call(new_tally, 'total')}"
    )
    await beamish.receive(lambda m: type(m) is tuple and m[0] == "worker_up")
    telemetry.detach("crunch-worker-up")
    info = await pool.info()
    print(f"the pool restarted the dead worker: OS pids now {[w.os_pid for w in info.workers]}")
    return "crunch done"


if __name__ == "__main__":
    # The runtime logs crashes, here the killed worker's; keep the output to the story.
    logging.basicConfig(level=logging.CRITICAL)
    # The root supervisor starts the pool, then the Tally in one of its workers; at the
    # end it stops them in reverse order: the Tally first, then the workers.
    print(beamish.run(main, children=[pool, child_spec(Tally, id="tally", placement=pool)]))
