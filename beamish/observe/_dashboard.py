"""The web dashboard (Phoenix LiveDashboard, Erlang's observer): one ASGI route that serves
a page, and a channel that streams the system to it over beamish's own channels.

Mount ``board = Dashboard()`` at ``/dashboard`` and add ``(DASHBOARD_TOPIC, board.channel)``
to your socket's routes. Each browser that opens the page joins the topic; its channel
process samples every known node each ``interval`` seconds and pushes a ``frame``: the node
list (processes, memory, message rates), the supervision trees and the busiest processes
of the node the page selects. ``process`` requests return one process's details, and its
state (``get_state``, through ``format_status``) only with ``show_state=True``: state can
hold secrets.

>>> board = Dashboard(interval=2.0)
>>> board.channel.interval
2.0
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .. import channels
from ..actors import CallTimeout, Exited, Pid, send_after, this_node
from ..actors import self as self_pid
from ._api import get_state, known_nodes, process_info, snapshot, supervision_tree
from ._info import NodeSnapshot, jsonable, message_rates
from ._top import sort_processes

DASHBOARD_TOPIC = "beamish:dashboard"
BUSIEST = 15
MAX_STATE_CHARS = 20_000
_PAGE = Path(__file__).with_name("dashboard.html")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class DashboardChannel(channels.Channel):
    """Streams ``frame`` pushes to one dashboard page; answers ``process`` and ``select``."""

    interval: float = 1.0
    show_state: bool = False

    def join(self, topic: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        self.selected = this_node().name
        self.previous: dict[str, NodeSnapshot] = {}
        send_after(self_pid(), "beamish.dashboard.tick", 0)
        return {"node": self.selected, "show_state": self.show_state}

    async def handle_info(self, message: Any, socket: channels.ChannelSocket) -> None:
        if message == "beamish.dashboard.tick":
            socket.push("frame", await self._frame())
            send_after(self_pid(), "beamish.dashboard.tick", self.interval)

    async def handle_in(self, event: str, payload: Any, socket: channels.ChannelSocket) -> Any:
        if not isinstance(payload, dict):
            return channels.error({"reason": "expected a JSON object"})
        if event == "select":
            node = payload.get("node")
            if node not in known_nodes():
                return channels.error({"reason": f"unknown node {node!r}"})
            self.selected = node
            return channels.ok({"node": node})
        if event == "process":
            pid = parse_pid(payload.get("pid"), known_nodes())
            if pid is None:
                return channels.error({"reason": "not a pid of a known node"})
            return channels.ok(await self._process(pid))
        return channels.error({"reason": f"unknown event {event!r}"})

    async def _frame(self) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = []
        selected: dict[str, Any] = {"busiest": [], "tree": []}
        for node in known_nodes():
            try:
                frame = await snapshot(node, timeout=self.interval * 3)
            except (TimeoutError, RuntimeError, LookupError, ConnectionError, Exited) as exc:
                nodes.append({"name": node, "error": str(exc)})
                continue
            before = self.previous.get(node, frame)
            self.previous[node] = frame
            rates = message_rates(before, frame)
            nodes.append(
                {
                    "name": node,
                    "processes": len(frame.processes),
                    "rss": frame.rss,
                    "rate": round(sum(rates.values()), 1),
                    "queued": sum(p.message_queue_len for p in frame.processes),
                }
            )
            if node == self.selected:
                busiest = sort_processes(frame.processes, rates, "rate")[:BUSIEST]
                selected["busiest"] = [
                    {**p.as_json(), "rate": round(rates.get(p.pid, 0.0), 1)} for p in busiest
                ]
                trees = await supervision_tree(node, timeout=self.interval * 3)
                selected["tree"] = [tree.as_dict() for tree in trees]
        return {"nodes": nodes, "node": self.selected, **selected}

    async def _process(self, pid: Pid) -> dict[str, Any]:
        info = await process_info(pid)
        if info is None:
            return {"pid": str(pid), "alive": False}
        answer: dict[str, Any] = {"alive": True, **info.as_json()}
        if self.show_state and info.behaviour is not None:
            try:
                state = jsonable(await get_state(pid, timeout=2.0), repr_unknown=True)
            except (Exited, CallTimeout, TimeoutError, RuntimeError) as exc:
                state = f"(no state: {exc})"
            if len(json.dumps(state)) > MAX_STATE_CHARS:
                state = json.dumps(state)[:MAX_STATE_CHARS] + "…"
            answer["state"] = state
        return answer


def parse_pid(text: Any, nodes: list[str]) -> Pid | None:
    """The pid printed as ``<node.serial.creation>``, if its node is one of ``nodes``.

    Example:
        >>> parse_pid("<a@10.0.0.1.42.7>", ["a@10.0.0.1"])
        <a@10.0.0.1.42.7>
        >>> parse_pid("<b@h.1.1>", ["a@h"]) is None
        True
    """
    if not isinstance(text, str) or not (text.startswith("<") and text.endswith(">")):
        return None
    node, _, rest = text[1:-1].rpartition(".")
    node, _, serial = node.rpartition(".")
    if node not in nodes or not serial.isdigit() or not rest.isdigit():
        return None
    return Pid(node, int(serial), int(rest))


class Dashboard:
    """The dashboard's page as an ASGI app, and ``channel``: its channel class for routes.

    Its channel admits every client of the socket it is routed on, and shows it every
    process of every node (names, trees, and state with ``show_state``): route it only on
    a socket whose ``connect`` admits your operators.

    Args:
        socket_path: where the channels endpoint is mounted (the page connects there).
        phoenix_js: the URL of the phoenix client's ES module (``phoenix.mjs``).
        show_state: let the process page show ``get_state`` (off by default: secrets).
        interval: seconds between frames.
    """

    def __init__(
        self,
        *,
        socket_path: str = "/socket",
        phoenix_js: str = "/static/phoenix.mjs",
        show_state: bool = False,
        interval: float = 1.0,
    ) -> None:
        self.channel: type[DashboardChannel] = type(
            "DashboardChannel",
            (DashboardChannel,),
            {"interval": interval, "show_state": show_state, "__module__": __name__},
        )
        self._page = (
            _PAGE.read_text()
            .replace("{{SOCKET}}", socket_path)
            .replace("{{PHOENIX}}", phoenix_js)
            .replace("{{TOPIC}}", DASHBOARD_TOPIC)
            .encode()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(self._page)).encode()),
            (b"cache-control", b"no-cache"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self._page})
