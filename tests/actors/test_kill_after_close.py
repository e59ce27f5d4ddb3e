"""A killed process that swallows every cancellation is let go once the node declares it
dead or closes: the asyncio backend stops re-delivering its cancel (it never spins)."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, os, sys
    import anyio, beamish
    from beamish.actors._backends._asyncio import _SHIELD_RECHECK

    logging.disable(logging.CRITICAL)

    async def stubborn():
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass  # swallows every cancellation

    async def shielded():
        with anyio.CancelScope(shield=True):
            await anyio.sleep(3600)  # not a beamish wait: the kill cannot end it

    def redeliveries():
        loop = asyncio.get_running_loop()
        handles = list(loop._ready) + list(loop._scheduled)
        return sum(getattr(h._callback, "__name__", "") == "_deliver_cancel" for h in handles)

    async def app(fn):
        async with beamish.runtime.start(shutdown_timeout=0.2) as node:
            node.spawn(fn)
            await asyncio.sleep(0)  # the process starts and waits
        # one shield recheck period, so a recheck armed before the close has fired
        await asyncio.sleep(3 * _SHIELD_RECHECK)
        print(redeliveries(), flush=True)
        os._exit(0)  # the stubborn task would hold asyncio.run's own cleanup forever

    asyncio.run(app({"stubborn": stubborn, "shielded": shielded}[sys.argv[1]]))
    """
)


@pytest.mark.parametrize("kind", ["stubborn", "shielded"])
def test_no_cancel_is_redelivered_after_the_node_has_closed(kind):
    """After the node's block exits, no cancel of the killed process is pending."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, kind], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
