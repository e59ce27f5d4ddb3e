"""The observer's agent: a short-lived process that answers one question about its node.

``beamish.observe`` spawns it on the node it asks about (``cluster.spawn`` by reference, so
nothing but the request crosses the wire); it computes the answer there and sends it back
as plain data. The same questions are answered in place for this node.
"""

from __future__ import annotations

from typing import Any

from ..actors import Down, Pid, Ref, demonitor, get_state, monitor, receive, self, send, this_node
from ..cluster import spawn as spawn_on
from ._info import NodeSnapshot, ProcessDetails, local_process_info, local_snapshot
from ._tree import TreeNode, local_supervision_tree

REPLY_TAG = "beamish.observe.reply"


async def ask_here(request: tuple[Any, ...]) -> Any:
    """The answer to ``request`` about this node, as plain data (what the agent sends)."""
    kind = request[0]
    if kind == "snapshot":
        return (await local_snapshot()).to_wire()
    if kind == "tree":
        return [tree.to_wire() for tree in await local_supervision_tree()]
    if kind == "process_info":
        info = await local_process_info(request[1])
        return None if info is None else info.to_wire()
    if kind == "get_state":
        return await get_state(request[1], timeout=request[2])
    raise ValueError(f"beamish.observe: unknown request {kind!r}")


async def answer(reply_to: Pid, ref: Ref, request: tuple[Any, ...]) -> None:
    """The agent's body: answer ``request`` to ``reply_to`` under ``ref``, then exit."""
    try:
        send(reply_to, (REPLY_TAG, ref, "ok", await ask_here(request)))
    except Exception as exc:
        send(reply_to, (REPLY_TAG, ref, "error", f"{type(exc).__name__}: {exc}"))


async def ask(node: str | None, request: tuple[Any, ...], timeout: float) -> Any:
    """Ask ``node`` (None: this node) and return its plain-data answer.

    Raises ``TimeoutError`` when no answer comes within ``timeout`` seconds and
    ``RuntimeError`` when the agent failed on the other side.
    """
    if node is None or node == this_node().name:
        return await ask_here(request)
    ref = this_node().make_ref()
    agent = await spawn_on(node, answer, self(), ref, request, timeout=timeout)
    watch = monitor(agent)
    try:
        message = await receive(
            lambda m: (
                (type(m) is tuple and len(m) == 4 and m[0] == REPLY_TAG and m[1] == ref)
                or (isinstance(m, Down) and m.ref == watch and m.reason != "normal")
            ),
            timeout=timeout,
        )
    except TimeoutError:
        raise TimeoutError(
            f"beamish.observe: {node} did not answer {request[0]!r} within {timeout}s"
        ) from None
    finally:
        demonitor(watch, flush=True)
    if isinstance(message, Down):
        raise RuntimeError(f"beamish.observe: the agent on {node} exited: {message.reason!r}")
    _, _, status, value = message
    if status != "ok":
        raise RuntimeError(f"beamish.observe: {node} could not answer {request[0]!r}: {value}")
    return value


def decode_snapshot(data: Any) -> NodeSnapshot:
    return NodeSnapshot.from_wire(data)


def decode_info(data: Any) -> ProcessDetails | None:
    return None if data is None else ProcessDetails.from_wire(data)


def decode_tree(data: Any) -> list[TreeNode]:
    return [TreeNode.from_wire(tree) for tree in data]
