"""Publish/subscribe over process groups: a broadcast crosses each connection once.

>>> import beamish
>>> from beamish import pubsub
>>> async def main():
...     await pubsub.subscribe("news")
...     pubsub.broadcast("news", "hello")
...     return await beamish.receive(timeout=1)
>>> beamish.run(main)
'hello'

Semantics
---------
- ``await subscribe(topic)`` makes the caller a member of the pg group
  ``("beamish.pubsub", topic)``; every ``broadcast(topic, message)`` then delivers
  ``message`` itself (no envelope) to it. A process that subscribes twice gets each
  message twice (as in Phoenix); ``unsubscribe`` removes all its subscriptions to the topic.
  A subscriber that exits is unsubscribed everywhere.
- One crossing per connection: the local subscribers get a plain ``send``; for the other
  nodes that have subscribers (by this node's pg replica) the message is encoded ONCE as a
  ``send_name`` frame to the ``"beamish.pubsub.fanout"`` process of the node, and that same
  payload is handed to each of those nodes' connections. The fanout process delivers to its
  node's subscribers. So a broadcast costs one encode and one frame per remote node with
  subscribers, whatever their number.
- Order: the messages of one publisher reach each subscriber in the order they were
  broadcast (one connection per peer, one fanout process per node). Each subscriber known
  to the publisher's node gets each broadcast exactly once per subscription.
- A subscription becomes visible to other nodes once pg has replicated it: a broadcast
  made before that does not reach it.
- ``broadcast_from(pid, ...)`` skips ``pid``; ``local_broadcast`` stays on this node.
  Without distribution everything is local.
- A message the wire cannot carry (``EncodeError``) or one over the frame limit
  (``FrameError``) fails in the broadcaster before anyone gets it, when some remote node
  has subscribers.
"""

from .._public import present_as as _present_as
from ._pubsub import FANOUT as FANOUT
from ._pubsub import Fanout as Fanout
from ._pubsub import broadcast as broadcast
from ._pubsub import broadcast_from as broadcast_from
from ._pubsub import local_broadcast as local_broadcast
from ._pubsub import subscribe as subscribe
from ._pubsub import subscribers as subscribers
from ._pubsub import unsubscribe as unsubscribe

_present_as(__name__, globals())
