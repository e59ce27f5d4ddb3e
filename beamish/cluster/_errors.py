"""The cluster's errors: a small, flat set.

>>> issubclass(EncodeError, TypeError), issubclass(DecodeError, ValueError)
(True, True)
>>> FrameError("frame of 9 bytes over the 8-byte limit", kind="oversized").kind
'oversized'
"""

from __future__ import annotations


class EncodeError(TypeError):
    """The wire codec cannot carry a value; raised at the *sender*, before anything is written.

    The message names the offending type and where it sits in the message
    (``"Foo at [2]['k']"``). Raised for objects neither msgpack nor the codec's extension
    types carry when pickling is off, for objects cloudpickle cannot pickle when it is on,
    for strings that are not valid Unicode, and for nesting deeper than the codec's limit.
    Differs from :class:`DecodeError`: nothing was sent, and no connection is at fault.
    """


class DecodeError(ValueError):
    """A frame's payload is not a message this codec wrote: garbage, an unknown extension
    type, a malformed Pid/tuple/exception record, a pickle from a peer that may not send one.

    Raised at the *receiver*. When the payload is well formed but a value inside it cannot be
    rebuilt here (a pickle this node refuses or cannot load, say a class only the sender can
    import, or an extension type it does not know), ``partial`` is the message with a stand-in
    in each such place: the connection drops that one message and keeps going. Otherwise
    ``partial`` is None and the connection that delivered the payload closes and counts it.
    Differs from :class:`FrameError`: the frame itself was well formed.
    """

    def __init__(self, message: str, *, partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial


class FrameError(ValueError):
    """The byte stream of a connection is not a valid sequence of frames.

    ``kind`` says why, for counting: ``"oversized"`` (a length over the limit, rejected
    from the header, before the payload is buffered), ``"version"`` (a header with another
    protocol version), ``"truncated"`` (the stream closed inside a frame) or ``"failed"``
    (the decoder was used again after an error). The connection closes on any of them.
    """

    def __init__(self, message: str, *, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind
