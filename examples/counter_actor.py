"""An Actor (OTP's gen_server): state behind calls and casts, found by name.

Run it with ``python examples/counter_actor.py``.
"""

import beamish


class Counter(beamish.Actor):
    def init(self, start=0):
        # Runs inside the new process; start()/start_link() return once it has finished.
        self.count = start

    def handle_call(self, request, caller):
        # A call waits for an answer: the return value is the reply.
        if request == "get":
            return self.count
        raise ValueError(f"unknown call {request!r}")  # crashes the server, OTP style

    def handle_cast(self, request):
        # A cast is fire-and-forget: nothing is returned to the sender.
        op, amount = request
        if op == "add":
            self.count += amount

    def terminate(self, reason):
        print(f"counter stopping ({reason}) at {self.count}")


async def main():
    # start() (not start_link()): we want to survive the crash below. A linked starter
    # would die with the counter (see links_and_monitors.py).
    await Counter.start(100, name="counter")  # registered under a name
    for amount in (1, 2, 3):
        beamish.cast("counter", ("add", amount))
    print("count =", await beamish.call("counter", "get"))  # casts arrive before this call

    try:
        await beamish.call("counter", "reset")  # an unknown call crashes the server
    except beamish.Exited as exc:
        print("the counter crashed:", exc.reason)
    print("still registered?", beamish.whereis("counter") is not None)  # names die too
    return "counter actor done"


if __name__ == "__main__":
    import logging

    # The runtime logs every crash with its traceback; hide this expected one.
    logging.basicConfig(level=logging.CRITICAL)
    print(beamish.run(main))
