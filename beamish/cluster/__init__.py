"""The cluster: nodes connected into a mesh, and the wire between them.

>>> from beamish import cluster
>>> codec = cluster.Codec()
>>> codec.decode(codec.encode((cluster.VERSION, [1, 2], {(1, 2): b"x"})))
(1, [1, 2], {(1, 2): b'x'})
"""

import contextlib

from ._api import connect as connect
from ._api import demonitor_node as demonitor_node
from ._api import monitor_node as monitor_node
from ._api import monitor_nodes as monitor_nodes
from ._api import nodes as nodes
from ._api import spawn as spawn
from ._api import start as start
from ._api import this_cluster as this_cluster
from ._api import wait_for_nodes as wait_for_nodes
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
from ._mesh import default_directory as default_directory
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
from ._wire import Codec as Codec
from ._wire import RemoteException as RemoteException

for _name, _value in list(globals().items()):
    if not _name.startswith("_") and getattr(_value, "__module__", "").startswith(__name__ + "."):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = __name__
del _name, _value
