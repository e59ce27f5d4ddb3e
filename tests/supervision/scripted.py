"""Scripted misbehaving children for supervisor tests (after OTP's ``supervisor_1.erl``).

A ``ScriptedChild`` does what its ``Script`` says, and writes what happened to a shared
``log`` list, so a test can assert which children started and stopped, and in which order:

- ``("start", id)`` when ``init`` succeeds;
- ``("stop", id, reason)`` when ``terminate`` runs for a stop the child did not choose
  itself (its supervisor's ``shutdown``), which needs ``trap=True``.

Faults: crash in ``init`` (``init="crash"``), return ``Ignore()`` from ``init``
(``init="ignore"``), exit with ``reason`` after ``crash_after`` messages, hang in
``terminate`` (``terminate="hang"``, trapping exits: killed after ``shutdown`` seconds),
crash in ``terminate`` (``terminate="crash"``) or exit during its own shutdown
(``terminate="exit"``). ``init_outcomes`` overrides ``init`` for the next starts, one per
start, so a child can start once and then fail to restart.

The child understands two casts: ``"tick"`` (counts towards ``crash_after``) and
``("exit", reason)`` (exit with ``reason`` now; an exception is raised, ``"kill"`` makes
the child ``exit(self(), "kill")``).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import anyio

import beamish
from beamish.supervision import ChildSpec, child_spec


class Boom(Exception):
    """The exception scripted children crash with."""

    def __eq__(self, other: object) -> bool:
        return type(other) is Boom and other.args == self.args

    def __hash__(self) -> int:
        return hash((Boom, self.args))


@dataclass
class Script:
    """What a ``ScriptedChild`` does; mutable only through ``init_outcomes``."""

    log: list[Any] = field(default_factory=list)
    init: str = "ok"  # "ok" | "crash" | "ignore"
    init_outcomes: list[str] = field(default_factory=list)
    crash_after: int | None = None
    reason: Any = "normal"
    trap: bool = True
    terminate: str = "ok"  # "ok" | "hang" | "crash" | "exit"


def exit_with(reason: Any) -> Any:
    """Leave the current server with ``reason``: raise an exception, else ``Stop``."""
    if isinstance(reason, BaseException):
        raise reason
    if reason == "kill":
        beamish.exit(beamish.self(), "kill")
        return None
    return beamish.Stop(reason)


class ScriptedChild(beamish.Actor):
    """A worker that misbehaves as its ``Script`` says (see the module docstring)."""

    def init(self, child_id: Hashable, script: Script) -> Any:
        self.id = child_id
        self.script = script
        self.seen = 0
        self.chosen = False  # True once the child decided to exit on its own
        outcome = script.init_outcomes.pop(0) if script.init_outcomes else script.init
        if outcome == "crash":
            raise Boom("init", child_id)
        if outcome == "ignore":
            return beamish.Ignore()
        beamish.trap_exits(script.trap or script.terminate != "ok")
        script.log.append(("start", child_id))
        return None

    def handle_cast(self, request: Any) -> Any:
        if request == "tick":
            self.seen += 1
            if self.script.crash_after is not None and self.seen >= self.script.crash_after:
                self.chosen = True
                return exit_with(self.script.reason)
            return None
        _, reason = request
        self.chosen = True
        return exit_with(reason)

    def handle_call(self, request: Any, caller: beamish.Caller) -> Any:
        return ("pong", self.id) if request == "ping" else super().handle_call(request, caller)

    async def terminate(self, reason: Any) -> None:
        if self.chosen:
            return
        self.script.log.append(("stop", self.id, reason))
        if self.script.terminate == "hang":
            await anyio.sleep_forever()
        elif self.script.terminate == "crash":
            raise Boom("terminate", self.id)
        elif self.script.terminate == "exit":
            beamish.exit(beamish.self(), "kill")
            await anyio.sleep_forever()

    @classmethod
    def child_spec(cls, child_id: Hashable, script: Script, **overrides: Any) -> dict[str, Any]:  # type: ignore[override]
        """A spec with id ``child_id``; ``overrides`` set restart, shutdown, significant."""
        return {"id": child_id, "start": (cls.start_link, (child_id, script)), **overrides}


def spec(child_id: Hashable, script: Script, **overrides: Any) -> ChildSpec:
    """The validated ``ChildSpec`` of a scripted child."""
    return child_spec(ScriptedChild.child_spec(child_id, script), **overrides)


def started(log: list[Any]) -> list[Hashable]:
    """The ids in ``log`` that started, in order."""
    return [entry[1] for entry in log if entry[0] == "start"]


def stopped(log: list[Any]) -> list[Hashable]:
    """The ids in ``log`` that were stopped by their supervisor, in order."""
    return [entry[1] for entry in log if entry[0] == "stop"]
