"""Transports: how nodes reach each other as byte streams (TCP/TLS, and in memory for tests).

>>> from beamish.cluster.transports import MemoryNetwork, TcpTransport
>>> MemoryNetwork().transport("a").node
'a'
"""

import contextlib

from ._base import Handler as Handler
from ._base import Listener as Listener
from ._base import Transport as Transport
from .memory import MemoryListener as MemoryListener
from .memory import MemoryNetwork as MemoryNetwork
from .memory import MemoryStream as MemoryStream
from .memory import MemoryTransport as MemoryTransport
from .memory import NetworkStatistics as NetworkStatistics
from .tcp import TcpListener as TcpListener
from .tcp import TcpTransport as TcpTransport

for _name, _value in list(globals().items()):
    if not _name.startswith("_") and getattr(_value, "__module__", "").startswith(__name__ + "._"):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = __name__
del _name, _value
