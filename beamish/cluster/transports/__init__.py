"""Transports: how nodes reach each other as byte streams (TCP/TLS, and in memory for tests).

>>> from beamish.cluster.transports import MemoryNetwork, TcpTransport
>>> MemoryNetwork().transport("a").node
'a'
"""

from ..._public import present_as as _present_as
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

_present_as(__name__, globals(), private_only=True)
