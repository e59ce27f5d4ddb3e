"""Observing a running system: what each process is doing, the supervision trees, the
nodes; ``python -m beamish top`` in a terminal and a live dashboard in a browser
(Erlang's observer and observer_cli, Phoenix LiveDashboard).

- ``await process_info(pid)``: the kernel's view of a process (status, mailbox length,
  links, monitors) with its server's statistics (behaviour, messages handled, current
  callback, parent) and a memory estimate, for a pid on any node.
- ``await snapshot(node)``: every process of a node at one moment, with the OS process's
  memory; ``message_rates(before, after)`` turns two snapshots into messages per second.
- ``await supervision_tree(node)``: each root supervisor with its children, as data.
- ``await get_state(pid)``: a server's state through its ``format_status``.
- ``await run_top(node)``: ``python -m beamish top``'s live terminal view of a node.
- ``Dashboard``: a web page (one ASGI route) streaming the nodes, the trees and the
  busiest processes over beamish's channels (``DASHBOARD_TOPIC``, ``DashboardChannel``).

A question about another node is answered there by a short-lived agent process, spawned
through ``beamish.cluster.spawn`` by reference (the node must allow spawning ``beamish``
modules). Nothing here runs unless asked: observing costs nothing to a node nobody watches.

>>> import beamish
>>> from beamish import observe
>>> async def main():
...     frame = await observe.snapshot()
...     return len(frame.processes) >= 1, frame.node
>>> beamish.run(main, name="seen@localhost")
(True, 'seen@localhost')
"""

from .._public import present_as as _present_as
from ._api import get_state as get_state
from ._api import known_nodes as known_nodes
from ._api import process_info as process_info
from ._api import snapshot as snapshot
from ._api import supervision_tree as supervision_tree
from ._dashboard import DASHBOARD_TOPIC as DASHBOARD_TOPIC
from ._dashboard import Dashboard as Dashboard
from ._dashboard import DashboardChannel as DashboardChannel
from ._info import NodeSnapshot as NodeSnapshot
from ._info import ProcessDetails as ProcessDetails
from ._info import message_rates as message_rates
from ._memory import estimate as estimate
from ._top import run_top as run_top
from ._tree import TreeNode as TreeNode

_present_as(__name__, globals())
