"""What one process is doing: the kernel's ``process_info`` and the generic loop's
``statistics``, in one record (Erlang's ``process_info/1`` as observer shows it).

>>> import beamish
>>> from beamish import observe
>>> class Echo(beamish.Actor):
...     def handle_call(self, request, caller):
...         return request
>>> async def main():
...     pid = await Echo.start_link(name="echo")
...     await beamish.call(pid, "hi")
...     info = await observe.process_info(pid)
...     return info.name, info.behaviour, info.messages
>>> beamish.run(main)
('echo', 'Echo', 1)
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import psutil

from ..actors import CallTimeout, Exited, Node, Pid, Ref, lowlevel, statistics, this_node
from ._memory import estimate

STATISTICS_TIMEOUT = 1.0  # a busy server's statistics wait at most this long in a snapshot


@dataclass(frozen=True, slots=True)
class ProcessDetails:
    """One process as observer shows it. Server fields are None for a plain process.

    ``memory`` is an estimate in bytes (the mailbox and the actor's state, see
    ``beamish.observe.estimate``); ``messages`` counts the calls, casts and infos a server
    has handled; ``current_callback`` names the callback it runs now; ``parent`` is the
    process that ``start_link``-ed it (its supervisor).
    """

    pid: Pid
    name: str | None
    status: str
    message_queue_len: int
    memory: int
    links: tuple[Pid, ...]
    monitors: tuple[Ref, ...]
    monitored_by: tuple[Pid, ...]
    trap_exits: bool
    calling: Pid | None
    parent: Pid | None = None
    behaviour: str | None = None
    messages: int | None = None
    reductions: int | None = None
    current_callback: str | None = None
    started_at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        """Plain data the cluster's wire carries (``from_wire`` reverses it)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ProcessDetails:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known
        }
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: pids and refs as their printed form."""
        return jsonable(self.to_wire())  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Every process of one node at one moment, with the OS process's memory."""

    node: str
    taken_at: float
    os_pid: int
    rss: int
    processes: tuple[ProcessDetails, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "taken_at": self.taken_at,
            "os_pid": self.os_pid,
            "rss": self.rss,
            "processes": [p.to_wire() for p in self.processes],
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> NodeSnapshot:
        return cls(
            node=data["node"],
            taken_at=data["taken_at"],
            os_pid=data["os_pid"],
            rss=data["rss"],
            processes=tuple(ProcessDetails.from_wire(p) for p in data["processes"]),
        )


async def local_process_info(pid: Pid, node: Node | None = None) -> ProcessDetails | None:
    """The details of a process of this node, or None when it is not alive."""
    node = node or this_node()
    info = node.process_info(pid)
    if info is None:
        return None
    actor = lowlevel.actor_of(node, pid)
    mailbox = lowlevel.mailbox_messages(node, pid)
    memory = estimate((mailbox, vars(actor) if actor is not None else None), shared=_kernel)
    status = "running" if pid == lowlevel.current_pid() else info.status
    details = ProcessDetails(
        pid=info.pid,
        name=info.name,
        status=status,
        message_queue_len=info.message_queue_len,
        memory=memory,
        links=info.links,
        monitors=info.monitors,
        monitored_by=info.monitored_by,
        trap_exits=info.trap_exits,
        calling=info.calling,
    )
    if actor is None:
        return details
    try:
        stats = await statistics(pid, timeout=STATISTICS_TIMEOUT)
    except (Exited, CallTimeout):  # it exited meanwhile: what the kernel said is all
        return _replace(details, behaviour=type(actor).__name__)
    if stats.suspended:
        status = "suspended"
    elif stats.current_callback is not None:
        status = "running"
    return _replace(
        details,
        status=status,
        parent=stats.parent,
        behaviour=stats.behaviour,
        messages=stats.messages,
        reductions=stats.reductions,
        current_callback=stats.current_callback,
        started_at=stats.started_at,
    )


async def local_snapshot(node: Node | None = None) -> NodeSnapshot:
    """Every live process of this node (oldest first), and the OS process's memory."""
    node = node or this_node()
    details = []
    for pid in node.processes():
        info = await local_process_info(pid, node)
        if info is not None:
            details.append(info)
    return NodeSnapshot(
        node=node.name,
        taken_at=time.time(),
        os_pid=os.getpid(),
        rss=psutil.Process().memory_info().rss,
        processes=tuple(details),
    )


def message_rates(before: NodeSnapshot, after: NodeSnapshot) -> dict[Pid, float]:
    """Messages handled per second by each server between two snapshots of one node.

    A server that started between the two counts from zero.

    Example:
        >>> message_rates(NodeSnapshot("n", 1.0, 1, 0, ()), NodeSnapshot("n", 2.0, 1, 0, ()))
        {}
    """
    elapsed = after.taken_at - before.taken_at
    if elapsed <= 0:
        return {}
    earlier = {p.pid: p.messages or 0 for p in before.processes}
    return {
        p.pid: max(0, p.messages - earlier.get(p.pid, 0)) / elapsed
        for p in after.processes
        if p.messages is not None
    }


def _kernel(obj: Any) -> bool:
    """The runtime's objects (the node, its cluster, a loop's records) are no process's: a
    server that keeps the node in its state would otherwise weigh the whole runtime."""
    return type(obj).__module__.startswith(_RUNTIME_MODULES) and not isinstance(obj, tuple)


_RUNTIME_MODULES = ("beamish.actors.", "beamish.cluster.")


def _replace(details: ProcessDetails, **changes: Any) -> ProcessDetails:
    return ProcessDetails(
        **{**{f.name: getattr(details, f.name) for f in fields(details)}, **changes}
    )


def jsonable(value: Any, *, repr_unknown: bool = False, depth: int = 20) -> Any:
    """``value`` as JSON-ready data: pids and refs printed, tuples and sets as lists, dict
    keys as strings; other objects as their ``repr`` when ``repr_unknown``.

    Example:
        >>> jsonable({"who": Pid("a@h", 1, 0), (1, 2): {3}})
        {'who': '<a@h.1.0>', '(1, 2)': [3]}
    """
    if isinstance(value, Pid | Ref):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth <= 0:
        return "…"
    if isinstance(value, dict):
        return {
            str(k): jsonable(v, repr_unknown=repr_unknown, depth=depth - 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset | deque):
        return [jsonable(v, repr_unknown=repr_unknown, depth=depth - 1) for v in value]
    return repr(value) if repr_unknown else value
