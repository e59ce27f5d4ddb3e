"""A tour of beamish.sessions: a session module, the Sessions subtree, calls by id,
watching state, limits and the idle ttl, in one run (virtual time makes the hour pass
at once).

    python examples/sessions_tour.py
"""

from __future__ import annotations

from typing import Any

import beamish
from beamish import sessions
from beamish.supervision import Supervisor


class Cart(sessions.SessionProcess):
    """A shopping cart per browser session."""

    def init_state(self, args: Any) -> dict[str, Any]:
        return {"user": args["user"], "items": []}

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        if request == "items":
            return tuple(self.state["items"])
        if request == "whoami":
            return (self.session_id(), self.state["user"])
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        kind, item = request
        if kind == "add":
            self.state["items"].append(item)


async def main() -> None:
    tree = [
        sessions.Sessions.child_spec(
            session=Cart, max_sessions=1000, ttl=3600, rate_limit=(100, 60)
        )
    ]
    await Supervisor.start_link(tree)

    session_id = sessions.new_id()
    await sessions.start(session_id, args={"user": "ann"})
    await sessions.cast(session_id, ("add", "apple"))
    await sessions.cast(session_id, ("add", "pear"))
    print("items:", await sessions.call(session_id, "items"))
    print("whoami:", (await sessions.call(session_id, "whoami"))[1])

    # watch: a message now, and one each time the selection changes
    await sessions.watch(session_id, lambda state: len(state["items"]), key="count")
    print("watch:", await beamish.receive())
    await sessions.cast(session_id, ("add", "plum"))
    print("watch:", await beamish.receive())

    # errors are typed, and say what to do
    try:
        await sessions.call("nobody", "items")
    except sessions.SessionNotFound as exc:
        print("not found:", exc)

    # an idle session is stopped after the ttl (the hour passes at once on virtual time)
    pid = sessions.find(session_id)
    assert pid is not None
    beamish.monitor(pid)
    down = await beamish.receive()
    print("expired:", down.reason)
    print("sessions tour done")


if __name__ == "__main__":
    beamish.run(main, virtual_time=True)
