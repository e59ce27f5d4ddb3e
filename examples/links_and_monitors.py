"""Links tie processes' fates together; monitors only watch; trapping turns deaths into mail.

Run it with ``python examples/links_and_monitors.py``.
"""

import logging

import beamish
from beamish import Down, Exit


async def fragile(delay):
    """Crashes after ``delay`` seconds (on the node clock)."""
    await beamish.sleep(delay)
    raise RuntimeError("fragile gave up")


async def bystander():
    """Linked to ``fragile``: it does not trap exits, so it dies with it."""
    beamish.spawn_link(fragile, 0.05)
    await beamish.receive()  # never gets a message: the link kills it first


async def main():
    # 1. A monitor: one Down message when the watched process exits, whatever the reason.
    _, ref = beamish.spawn_monitor(fragile, 0.01)
    down = await beamish.receive(lambda m: isinstance(m, Down) and m.ref == ref)
    print("monitor: Down with reason", repr(down.reason))

    # 2. A link without trapping: the crash propagates, the bystander exits too.
    _, ref = beamish.spawn_monitor(bystander)
    down = await beamish.receive(lambda m: isinstance(m, Down) and m.ref == ref)
    print("link: the bystander died too, reason", repr(down.reason))

    # 3. Trapping exits: the exit signal becomes an Exit message and we live on.
    beamish.trap_exits(True)
    beamish.spawn_link(fragile, 0.01)
    message = await beamish.receive(lambda m: isinstance(m, Exit))
    print("trap_exits: got Exit with reason", repr(message.reason))

    # 4. exit(pid, "kill") cannot be trapped; the victim's reason is "killed".
    victim, ref = beamish.spawn_monitor(beamish.sleep, 60)
    beamish.exit(victim, "kill")
    print("kill:", (await beamish.receive(lambda m: isinstance(m, Down))).reason)
    return "links and monitors done"


if __name__ == "__main__":
    # The runtime logs every crash with its traceback; hide these expected ones.
    logging.basicConfig(level=logging.CRITICAL)
    print(beamish.run(main))
