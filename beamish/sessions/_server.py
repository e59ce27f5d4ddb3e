"""The server of one ``Sessions`` subtree on one node: the expiry sweeper, and the door
that other nodes knock on (starts placed here, watch notifications for local watchers).

Stateless on purpose: the activity table it sweeps belongs to the subtree's supervisor,
so a crash of the server (restarted by that supervisor) loses nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .. import telemetry
from ..actors import Actor, Caller, exit, is_alive, send, send_after
from . import _directory as directory
from ._errors import SessionError, to_wire
from ._process import FAILED, SessionChanged, SessionProcess
from ._shared import Shared
from ._telemetry import CLEANUP, CLEANUP_ERROR

_log = logging.getLogger("beamish.sessions")

_SWEEP = ("$sessions", "sweep")


class SessionsServer(Actor):
    """Sweeps idle sessions every ``sweep_interval`` seconds; serves other nodes."""

    def init(self, shared: Shared) -> None:  # type: ignore[override]
        self.shared = shared
        send_after(self.pid, _SWEEP, shared.sweep_interval)

    async def handle_call(self, request: Any, caller: Caller) -> Any:
        if type(request) is tuple and request and request[0] == "start":
            _, session_id, module, args, exist_ok = request
            return await self._start_placed(session_id, module, args, exist_ok)
        raise ValueError(f"sessions server: unknown request {request!r:.200}")

    async def _start_placed(self, session_id: Any, module: Any, args: Any, exist_ok: bool) -> Any:
        from ._api import start_here  # the API starts through this door, and we through it

        session = resolve_module(module)
        if session is None:
            return (
                FAILED,
                (
                    "SessionError",
                    (
                        f"no SessionProcess {module!r} is loaded on "
                        f"{self.shared.node.name}: import it there",
                    ),
                ),
            )
        try:
            pid = await start_here(self.shared, session_id, session, args, exist_ok)
        except SessionError as exc:
            return (FAILED, to_wire(exc))
        return pid

    def handle_info(self, message: Any) -> None:
        if message == _SWEEP:
            self.sweep()
            send_after(self.pid, _SWEEP, self.shared.sweep_interval)
        elif type(message) is tuple and len(message) == 5 and message[0] == "changed":
            _, watcher, session_id, key, value = message
            if getattr(watcher, "node", None) == self.shared.node.name:
                send(watcher, SessionChanged(session_id, key, value))
        else:
            _log.warning("sessions server %r dropped an unexpected message: %r", self.pid, message)

    def sweep(self) -> None:
        """Stop every session idle for ``ttl`` seconds; forget entries of dead sessions."""
        shared = self.shared
        ttl = shared.ttl
        now = shared.now()
        activity = shared.activity
        here = shared.node.name
        for session_id, last in list(activity.items()):
            if ttl is not None and now - last < ttl:
                continue
            pid = directory.whereis(shared.registry, session_id)
            del activity[session_id]
            if pid is None or pid.node != here or not is_alive(pid):
                telemetry.execute(
                    CLEANUP_ERROR,
                    {"count": 1},
                    {"node": here, "id": session_id, "reason": "noproc"},
                )
                continue
            if ttl is None:
                activity[session_id] = last  # alive and no ttl: keep it
                continue
            telemetry.execute(
                CLEANUP,
                {"count": 1, "idle": now - last},
                {
                    "node": here,
                    "id": session_id,
                    "module": directory.module_of(shared.registry, session_id),
                    "pid": pid,
                },
            )
            exit(pid, ("shutdown", "ttl"))


def resolve_module(module: Any) -> type[SessionProcess] | None:
    """The ``SessionProcess`` subclass named ``"module:qualname"``, if its module is loaded.

    Never imports: a name that came from another node only picks among loaded classes.
    """
    if type(module) is not str or module.count(":") != 1:
        return None
    mod_name, qualname = module.split(":")
    obj: Any = sys.modules.get(mod_name)
    for part in qualname.split("."):
        if obj is None or part.startswith("__"):
            return None
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, SessionProcess):
        return obj
    return None
