"""Publish/subscribe over process groups: a broadcast crosses each connection once.

>>> import beamish
>>> from beamish import pubsub
>>> async def main():
...     await pubsub.subscribe("news")
...     pubsub.broadcast("news", "hello")
...     return await beamish.receive(timeout=1)
>>> beamish.run(main)
'hello'
"""

import contextlib

from ._pubsub import FANOUT as FANOUT
from ._pubsub import Fanout as Fanout
from ._pubsub import broadcast as broadcast
from ._pubsub import broadcast_from as broadcast_from
from ._pubsub import local_broadcast as local_broadcast
from ._pubsub import subscribe as subscribe
from ._pubsub import subscribers as subscribers
from ._pubsub import unsubscribe as unsubscribe

for _name, _value in list(globals().items()):
    if not _name.startswith("_") and getattr(_value, "__module__", "").startswith(__name__ + "."):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = __name__
del _name, _value
