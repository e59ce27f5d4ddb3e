"""Two processes bounce a message back and forth, then both finish.

Run it with ``python examples/ping_pong.py`` or ``python -m beamish run examples.ping_pong:main``.
"""

import beamish


async def pong():
    """Answer every ("ping", n, sender) with ("pong", n) until told to stop."""
    while True:
        message = await beamish.receive()
        if message == "stop":
            return
        _, n, sender = message
        beamish.send(sender, ("pong", n))


async def main(rounds=3):
    me = beamish.self()
    partner = beamish.spawn(pong)  # a new process; we get its pid at once
    for n in range(1, rounds + 1):
        beamish.send(partner, ("ping", n, me))  # send never blocks
        reply = await beamish.receive(timeout=1.0)  # wait for the answer (at most 1 s)
        print(f"ping {n} -> {reply[0]} {reply[1]}")
    beamish.send(partner, "stop")
    return f"ping pong done after {rounds} rounds"


if __name__ == "__main__":
    print(beamish.run(main))
