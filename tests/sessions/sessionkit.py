"""Session modules and helpers shared by the sessions tests (the reference's test/support)."""

import beamish
from beamish import sessions


class Counter(sessions.SessionProcess):
    """The reference's TestProcess: a value, ``add_one``, and its own session id."""

    def init_state(self, args):
        return {"value": 0, **(args or {})}

    def handle_call(self, request, caller):
        if request == "get_value":
            return self.state["value"]
        if request == "get_my_session_id":
            return self.session_id()
        if request == "crash":
            raise RuntimeError("crash on request")
        if request == "slow":
            return beamish.NoReply()  # never answers
        if request == "get_state":
            return dict(self.state)
        raise ValueError(request)

    def handle_cast(self, request):
        if request == "add_one":
            self.state["value"] += 1
        elif type(request) is tuple and request[0] == "put":
            self.state[request[1]] = request[2]


class Linked(Counter):
    """The reference's TestProcessLink: a second module, to tell modules apart."""


class AsyncCounter(sessions.SessionProcess):
    """Every callback async: the behaviour wraps those too."""

    async def init_state(self, args):
        await beamish.sleep(0)
        return {"value": args or 0}

    async def handle_call(self, request, caller):
        await beamish.sleep(0)
        return self.state["value"]

    async def handle_cast(self, request):
        self.state["value"] += request


async def start_sessions(**options):
    """A Sessions subtree linked to the test process (stopped with the node)."""
    options.setdefault("rate_limit", None)
    return await sessions.Sessions.start_link(**options)
