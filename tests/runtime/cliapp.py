"""Main functions for the CLI tests: `python -m beamish run tests.runtime.cliapp:<name>`."""

import logging
import os
import sys

import anyio

import beamish
from beamish.cluster import this_cluster
from beamish.supervision import Supervisor, child_spec


class Recorder(beamish.Actor):
    """Traps exits; its terminate appends ``<label> <reason>`` to the file $CLIAPP_LOG."""

    def init(self, label):
        beamish.trap_exits(True)
        self.label = label

    def terminate(self, reason):
        with open(os.environ["CLIAPP_LOG"], "a") as log:
            log.write(f"{self.label} {reason}\n")


async def serve():
    """A supervisor with a, b, c and two independent actors x, y; prints READY, waits."""
    children = [child_spec((Recorder, label), id=label) for label in "abc"]
    await Supervisor.start_link(children=children)
    await Recorder.start("x")
    await Recorder.start("y")
    print("READY", flush=True)
    await beamish.receive()  # until a signal stops the node


async def crash():
    """Raise from main."""
    raise ValueError("boom from main")


async def give_up():
    """Exit with a reason that is not an exception (as a supervisor that gave up)."""
    beamish.exit(beamish.self(), "gave_up")


async def log_hello():
    """Log one INFO line from main and one WARNING line."""
    logging.getLogger("cliapp").info("hello at info")
    logging.getLogger("cliapp").warning("hello at warning")


async def heartbeat():
    """The cluster's heartbeat setting."""
    return this_cluster().heartbeat


class Hanging(beamish.Actor):
    """Traps exits; its terminate announces itself on stderr, then never returns."""

    def init(self):
        beamish.trap_exits(True)

    async def terminate(self, reason):
        print("TERMINATING", file=sys.stderr, flush=True)
        await anyio.sleep_forever()


async def hang():
    """An actor whose terminate hangs; prints READY, waits."""
    await Hanging.start()
    print("READY", flush=True)
    await beamish.receive()


class Crasher(beamish.Actor):
    """Crashes right after it starts."""

    def init(self):
        beamish.send(beamish.self(), "crash")

    def handle_info(self, message):
        raise RuntimeError("crash on purpose")


async def supervise_crasher():
    """main's supervisor gives up on a child that keeps crashing; main goes down with it."""
    await Supervisor.start_link(children=[Crasher], max_restarts=2, max_seconds=60)
    await beamish.receive()
