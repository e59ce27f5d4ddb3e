"""The observer's public functions: one node's processes, its supervision trees, the nodes.

Each takes ``node`` (a node name; None or this node's name: this node) and answers from
that node (see ``_agent``).
"""

from __future__ import annotations

from typing import Any

from ..actors import Pid, this_node
from ..cluster import nodes as cluster_nodes
from ._agent import ask, decode_info, decode_snapshot, decode_tree
from ._info import NodeSnapshot, ProcessDetails
from ._tree import TreeNode

DEFAULT_TIMEOUT = 5.0


async def process_info(pid: Pid, *, timeout: float = DEFAULT_TIMEOUT) -> ProcessDetails | None:
    """What ``pid`` (on any node) is doing: the kernel's view and its server's statistics.

    Returns None when the process is not alive. Must run inside a process.

    Example:
        >>> import beamish
        >>> from beamish import observe
        >>> async def main():
        ...     info = await observe.process_info(beamish.self())
        ...     return info.status, info.behaviour
        >>> beamish.run(main)
        ('running', None)
    """
    return decode_info(await ask(pid.node, ("process_info", pid), timeout))


async def snapshot(node: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> NodeSnapshot:
    """Every live process of ``node`` (default: this node), with its OS process's memory.

    Example:
        >>> import beamish
        >>> from beamish import observe
        >>> async def main():
        ...     frame = await observe.snapshot()
        ...     return beamish.self() in [p.pid for p in frame.processes]
        >>> beamish.run(main)
        True
    """
    return decode_snapshot(await ask(node, ("snapshot",), timeout))


async def supervision_tree(
    node: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> list[TreeNode]:
    """The supervision trees of ``node``: one ``TreeNode`` per root supervisor, oldest first.

    A root is a supervisor that no supervisor of the same node supervises; each is walked
    down with ``which_children``.
    """
    return decode_tree(await ask(node, ("tree",), timeout))


async def get_state(pid: Pid, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The state of the server ``pid`` on any node, through its ``format_status``.

    State can hold secrets: the dashboard shows it only when built with ``show_state=True``.
    """
    return await ask(pid.node, ("get_state", pid, timeout), timeout)


def known_nodes() -> list[str]:
    """This node and every node it is connected to, this node first."""
    here = this_node().name
    try:
        peers = cluster_nodes()
    except RuntimeError:  # not distributed
        peers = []
    return [here, *sorted(peer for peer in peers if peer != here)]
