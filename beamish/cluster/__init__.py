"""The cluster: nodes connected into a mesh, and the wire between them.

>>> from beamish import cluster
>>> codec = cluster.Codec()
>>> codec.decode(codec.encode((cluster.VERSION, [1, 2], {(1, 2): b"x"})))
(1, [1, 2], {(1, 2): b'x'})

Process groups (Erlang's ``pg``)
--------------------------------
- A group is any value the wire can carry (a string, a tuple...). A process joins with
  ``await join(group)`` (or joins other *local* pids with ``join(group, pids)``) and leaves
  with ``await leave(group)``. A pid may join a group several times, as in Erlang's pg:
  it is then listed that many times and must leave as many times.
- Each node owns the memberships of its own processes. A ``ProcessGroups`` server,
  registered as ``"beamish.pg"`` on every node, keeps a replica of the whole table: it
  tells its peers about every local join and leave, sends a full snapshot of its own
  entries to each node that connects, and drops a node's entries when that node goes
  down. A member that exits leaves all its groups, on every node.
- Reads (``members``, ``local_members``, ``which_groups``) are synchronous and come from
  this node's replica: a join made on another node shows here once it has crossed.
- ``monitor_group(group)`` sends the caller ``GroupChange(group, joined, left)`` for every
  change to the group seen by this node's replica, until ``demonitor_group(ref)``.
- Without distribution the server is started on first use and the groups are local.

>>> import beamish
>>> from beamish import cluster
>>> async def main():
...     await cluster.join("workers")
...     return cluster.members("workers") == [beamish.self()]
>>> beamish.run(main)
True

Cluster-wide names (Erlang's ``global``)
----------------------------------------
Inside ``async with beamish.cluster.start(...)``::

    await cluster.register_name("leader")          # the calling process, cluster-wide
    cluster.whereis_name("leader")                 # from any node: its pid, or None
    cluster.send_name("leader", "hello")           # NoProc if nobody holds the name
    await beamish.call(beamish.via(cluster.global_names(), "leader"), "status")

- Every distributed node runs a ``GlobalNames`` server, registered locally as
  ``"beamish.global"``; ``cluster.start`` starts it and stops it. The servers talk to each
  other by that name, through the public API, as Erlang's ``global`` and ``pg`` do.
- A node *owns* the registrations of its own processes. It replicates each one to every
  peer when it is made or removed, and sends all of them to a peer that connects (a full
  sync, which replaces whatever that peer held for this node). A node that goes down takes
  its entries with it; a registered process that exits is unregistered everywhere.
- Reads (``whereis_name``, ``registered_names``, ``send_name``, ``via``) are served from the
  local replica, without a message: the table hangs off the node, in its server.
- ``register_name`` answers from what this node knows: ``NameTaken`` if the name is held by
  another process. Registering a remote pid asks that pid's node, its owner.
- Conflicts: while a partition lasts, both sides may register one name. When an entry
  arrives for a name that this node maps to another process, every node applies the same
  rule. The *senior* entry wins: the one registered earlier by Lamport time (each server
  keeps a counter that every registration bumps and every replicated entry advances),
  ties broken by the smaller pid (node name, then serial, then creation). The loser's
  owner unregisters it and sends it ``GlobalNameConflict(name, winner)``; it keeps running
  and may handle the message as it likes.
- ``register_name(..., resolve=fn)`` lets the senior entry's owner decide instead: when its
  entry meets a rival, that node (only) calls ``fn(name, senior_pid, junior_pid)``, which
  returns the winner (anything else, such as None, means neither keeps the name). Its
  verdict is sent to every node; until it arrives the senior entry is used, and each loser
  is told with ``GlobalNameConflict(name, winner)``. A ``resolve`` that raises is logged and
  the senior entry wins. ``resolve`` runs in the server: it must not block.
- Every conflict told to a loser emits the telemetry event ``GLOBAL_CONFLICT``.
- ``sync_names()`` returns once every connected server has handled what this node's server
  sent it before the call (Erlang's ``global:sync``): use it to wait for replication.

Replicated state (``Replicator``)
---------------------------------
``Replicator(scope, on_diff=...)``, created inside an actor, makes that actor one replica of
``scope`` on this node: its own entries (``put``/``remove``) reach every node that runs
``scope``, and every node's entries reach it (``beamish.replication`` is the pure core:
deltas every ``broadcast_period``, transfers on a gap, down and permanent-down after
silence). See :class:`Replicator`.
"""

from .._public import present_as as _present_as
from ._api import connect as connect
from ._api import demonitor_node as demonitor_node
from ._api import monitor_node as monitor_node
from ._api import monitor_nodes as monitor_nodes
from ._api import nodes as nodes
from ._api import spawn as spawn
from ._api import start as start
from ._api import this_cluster as this_cluster
from ._api import wait_for_nodes as wait_for_nodes
from ._directory import NameInUse as NameInUse
from ._directory import default_directory as default_directory
from ._errors import DecodeError as DecodeError
from ._errors import EncodeError as EncodeError
from ._errors import FrameError as FrameError
from ._framing import DEFAULT_MAX_FRAME as DEFAULT_MAX_FRAME
from ._framing import VERSION as VERSION
from ._framing import FrameDecoder as FrameDecoder
from ._framing import encode_frame as encode_frame
from ._framing import encode_frames as encode_frames
from ._global import GLOBAL_CONFLICT as GLOBAL_CONFLICT
from ._global import GlobalNameConflict as GlobalNameConflict
from ._global import GlobalNames as GlobalNames
from ._global import GlobalResolver as GlobalResolver
from ._global import global_names as global_names
from ._global import register_name as register_name
from ._global import registered_names as registered_names
from ._global import send_name as send_name
from ._global import sync_names as sync_names
from ._global import unregister_name as unregister_name
from ._global import whereis_name as whereis_name
from ._handshake import HandshakeError as HandshakeError
from ._handshake import Peer as Peer
from ._mesh import DUPLICATE_NAME_REFUSED as DUPLICATE_NAME_REFUSED
from ._mesh import Cluster as Cluster
from ._mesh import NodeDown as NodeDown
from ._mesh import NodeUp as NodeUp
from ._mesh import function_reference as function_reference
from ._mesh import resolve_function as resolve_function
from ._pg import GroupChange as GroupChange
from ._pg import ProcessGroups as ProcessGroups
from ._pg import demonitor_group as demonitor_group
from ._pg import join as join
from ._pg import leave as leave
from ._pg import local_members as local_members
from ._pg import member_nodes as member_nodes
from ._pg import members as members
from ._pg import monitor_group as monitor_group
from ._pg import which_groups as which_groups
from ._replicator import Replicator as Replicator
from ._wire import Codec as Codec
from ._wire import RemoteException as RemoteException

_present_as(__name__, globals())
