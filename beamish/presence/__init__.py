"""Presence: Phoenix.Tracker and Phoenix.Presence, replicated across the cluster.

>>> import beamish
>>> from beamish import presence
>>> class Quiet(presence.Tracker):
...     pass
>>> async def main():
...     await Quiet.start_link(name="quiet")
...     await presence.track("quiet", beamish.self(), "room", "me", {"n": 1})
...     return [key for key, _ in presence.list("quiet", "room")]
>>> beamish.run(main)
['me']

Semantics
---------
- A *presence* is ``(topic, key, pid, meta)``. One pid is tracked at most once per topic
  and key; one key may have many presences (one per tab, per device). The tracker adds a
  unique ``phx_ref`` to each meta; ``update`` sets a new one and ``phx_ref_prev``.
- A tracker runs on every node that tracks or lists (start it in your supervision tree:
  ``MyTracker.child_spec(name=...)``). Its ``pool_size`` shards each own the topics that
  hash to them (``crc32(topic) % pool_size``, the same on every node); each shard is one
  replica of ``beamish.replication``, shipped by ``beamish.cluster.Replicator``.
- Each node *owns* the presences of its tracker: tracking never waits for the cluster.
  Peers learn a change from the next heartbeat delta (every ``broadcast_period``, 1.5 s by
  default), or by a transfer when they missed one. A tracked process is linked to its
  shard: its exit removes its presences (everywhere, at the next heartbeat), and a crash
  of the shard takes its tracked processes down with it, as in Phoenix.
- ``list`` and ``get_by_key`` read this node's view directly (no message), like Phoenix's
  ETS reads. They show what this node has heard: a presence made elsewhere appears a
  heartbeat later; those of a node that went silent disappear after ``down_period``
  (30 s) and come back if it returns; they are deleted after ``permdown_period``
  (20 min). A node restarted under the same name is a new replica: the old one's
  presences leave as soon as the new one is heard.
- ``handle_diff`` is called in the shard, in order, with the joins and leaves of every
  change this node sees (local at once, remote when merged): each join and each leave is
  reported exactly once per node. During a partition each side sees the other's presences
  until ``down_period``; after the heal every node converges on the same view.
- ``Presence`` builds on it: ``list(topic)`` is ``{key: {"metas": [...]}}``, diffs are
  ``{"joins": ..., "leaves": ...}``, both passed through ``fetch(topic, presences)`` if
  given; every diff is handed to ``on_diff(topic, payload)``, by default a local broadcast
  of ``PresenceDiff(topic, payload)`` on the topic (``beamish.pubsub``): every node
  reports to its own subscribers what it sees.
- A meta the wire cannot carry (or, for ``Presence``, that is not JSON) raises
  ``InvalidMeta`` in the caller of ``track``/``update``; the tracker never sees it.
"""

from .._public import present_as as _present_as
from ._errors import AlreadyTracked as AlreadyTracked
from ._errors import InvalidMeta as InvalidMeta
from ._errors import NotTracked as NotTracked
from ._presence import Presence as Presence
from ._presence import PresenceDiff as PresenceDiff
from ._presence import Presences as Presences
from ._presence import broadcast_diff as broadcast_diff
from ._presence import group as group
from ._tracker import TopicDiff as TopicDiff
from ._tracker import Tracker as Tracker
from ._tracker import check_meta as check_meta
from ._tracker import get_by_key as get_by_key
from ._tracker import graceful_permdown as graceful_permdown
from ._tracker import list_presences as list_presences
from ._tracker import shard_name as shard_name
from ._tracker import track as track
from ._tracker import untrack as untrack
from ._tracker import update as update

list = list_presences  # Phoenix's name: presence.list(tracker, topic)

_present_as(__name__, globals())
