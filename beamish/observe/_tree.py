"""The supervision tree as data: every supervisor of a node with its children, walked with
``which_children`` (observer's application tab).

>>> import beamish
>>> from beamish import observe
>>> from beamish.supervision import Supervisor, child_spec
>>> class Worker(beamish.Actor):
...     pass
>>> async def main():
...     app = await Supervisor.start_link(children=[child_spec(Worker, id="worker")])
...     [root] = await observe.supervision_tree()
...     return root.pid == app, [(c.id, c.type) for c in root.children]
>>> beamish.run(main)
(True, [('worker', 'worker')])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..actors import CallTimeout, Exited, Node, Pid, lowlevel, this_node
from ..supervision import DynamicSupervisor, Supervisor, which_children

WALK_TIMEOUT = 2.0  # a supervisor busy restarting answers which_children after the restart


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One process of a supervision tree; ``children`` is empty for a worker.

    ``id`` is the child's id in its supervisor (None for a root), ``type`` is
    ``"supervisor"`` or ``"worker"``, ``restart`` its restart type (None for a root), and
    ``pid`` None for a child that is not running.
    """

    pid: Pid | None
    id: Any
    type: str
    restart: str | None
    behaviour: str | None
    children: tuple[TreeNode, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (pids and ids printed): ``{"pid", "id", "type", "restart",
        "behaviour", "children"}``."""
        return {
            "pid": None if self.pid is None else str(self.pid),
            "id": None if self.id is None else str(self.id),
            "type": self.type,
            "restart": self.restart,
            "behaviour": self.behaviour,
            "children": [child.as_dict() for child in self.children],
        }

    def to_wire(self) -> tuple[Any, ...]:
        return (
            self.pid,
            self.id,
            self.type,
            self.restart,
            self.behaviour,
            [c.to_wire() for c in self.children],
        )

    @classmethod
    def from_wire(cls, data: Any) -> TreeNode:
        pid, id_, type_, restart, behaviour, children = data
        return cls(pid, id_, type_, restart, behaviour, tuple(cls.from_wire(c) for c in children))

    def walk(self) -> list[TreeNode]:
        """This node and every node below it, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


def is_supervisor(node: Node, pid: Pid) -> bool:
    """True when the local ``pid`` runs a ``Supervisor`` or a ``DynamicSupervisor``."""
    return isinstance(lowlevel.actor_of(node, pid), Supervisor | DynamicSupervisor)


async def local_supervision_tree(node: Node | None = None) -> list[TreeNode]:
    """The trees of this node: one per supervisor that no local supervisor supervises."""
    node = node or this_node()
    supervisors = [pid for pid in node.processes() if is_supervisor(node, pid)]
    trees: list[TreeNode] = []
    below: set[Pid] = set()
    for pid in supervisors:
        if pid in below:
            continue
        tree = await _walk(node, pid, None, None, "supervisor")
        below.update(n.pid for n in tree.walk() if n.pid is not None and n is not tree)
        trees = [t for t in trees if t.pid not in below]
        trees.append(tree)
    return trees


async def _walk(node: Node, pid: Pid, id_: Any, restart: str | None, type_: str) -> TreeNode:
    actor = lowlevel.actor_of(node, pid) if node.is_local(pid) else None
    behaviour = type(actor).__name__ if actor is not None else None
    if not isinstance(actor, Supervisor | DynamicSupervisor):
        # a child declared "supervisor" that runs something else (a registry, a pool) is
        # not asked: which_children would reach its handle_call
        return TreeNode(pid, id_, type_, restart, behaviour)
    try:
        rows = await which_children(pid)
    except (Exited, CallTimeout):
        rows = []  # it died or is stuck: shown without children
    children = []
    for row in rows:
        if row.pid is None:
            children.append(TreeNode(None, row.id, row.type, row.restart, None))
        else:
            children.append(await _walk(node, row.pid, row.id, row.restart, row.type))
    return TreeNode(pid, id_, type_, restart, behaviour, tuple(children))
