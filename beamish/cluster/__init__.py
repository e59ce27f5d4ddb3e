"""The cluster: nodes connected into a mesh, and the wire between them.

>>> from beamish import cluster
>>> codec = cluster.Codec()
>>> codec.decode(codec.encode((cluster.VERSION, [1, 2], {(1, 2): b"x"})))
(1, [1, 2], {(1, 2): b'x'})
"""

import contextlib

from ._errors import DecodeError as DecodeError
from ._errors import EncodeError as EncodeError
from ._errors import FrameError as FrameError
from ._framing import DEFAULT_MAX_FRAME as DEFAULT_MAX_FRAME
from ._framing import VERSION as VERSION
from ._framing import FrameDecoder as FrameDecoder
from ._framing import encode_frame as encode_frame
from ._framing import encode_frames as encode_frames
from ._wire import Codec as Codec
from ._wire import RemoteException as RemoteException

for _name, _value in list(globals().items()):
    if not _name.startswith("_") and getattr(_value, "__module__", "").startswith(__name__ + "."):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = __name__
del _name, _value
