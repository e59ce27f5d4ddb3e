"""Phoenix serializers: V2 (JSON arrays and binary frames) and V1 (JSON objects).

>>> s = V2_SERIALIZER
>>> s.decode('["1","2","room:a","ping",{"x":1}]')
Message(join_ref='1', ref='2', topic='room:a', event='ping', payload={'x': 1})
>>> s.encode_reply("1", "2", "room:a", "ok", {"y": 2})
'["1","2","room:a","phx_reply",{"status":"ok","response":{"y":2}}]'
>>> s.encode_broadcast("room:a", "shout", b"\\x06")
b'\\x02\\x06\\x05room:ashout\\x06'

Semantics
---------
- Text frames are ``[join_ref, ref, topic, event, payload]`` (V2) or ``{"join_ref", "ref",
  "topic", "event", "payload"}`` (V1). Refs are opaque scalars (string, integer or null) and
  are echoed verbatim; topic and event are strings; extra array elements are ignored, as
  Phoenix does. Anything else is a :class:`ProtocolError`.
- A payload given as ``bytes`` makes a V2 binary frame (PHOENIX-PROTOCOL.md §3): kind 0 push
  (no ref field), 1 reply (status where the event goes), 2 broadcast. Every string field is at
  most 255 bytes of UTF-8. Clients send only kind 0 (with a ref); a null ref is the empty
  string. V1 carries no binary: encoding bytes there raises ``ValueError``.
- Encoders return ``str`` for text frames and ``bytes`` for binary ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import _json
from ._errors import ProtocolError


class Message(NamedTuple):
    """One decoded frame from a client."""

    join_ref: str | int | None
    ref: str | int | None
    topic: str
    event: str
    payload: Any


def _check_ref(value: Any, what: str) -> str | int | None:
    if value is None or type(value) is str or type(value) is int:
        return value  # type: ignore[no-any-return]
    raise ProtocolError(f"{what} must be a string, an integer or null, not {type(value).__name__}")


_REF_TYPES = frozenset((str, int, type(None)))


def _check_message(join_ref: Any, ref: Any, topic: Any, event: Any, payload: Any) -> Message:
    if type(topic) is not str or type(event) is not str:
        raise ProtocolError("topic and event must be strings")
    if type(join_ref) not in _REF_TYPES:
        _check_ref(join_ref, "join_ref")  # raises
    if type(ref) not in _REF_TYPES:
        _check_ref(ref, "ref")
    return Message(join_ref, ref, topic, event, payload)


def _utf8(value: Any, what: str) -> bytes:
    data = b"" if value is None else str(value).encode("utf-8")
    if len(data) > 255:
        raise ValueError(f"{what} is {len(data)} bytes of UTF-8; binary frames allow 255")
    return data


def binary_frame(kind: int, payload: bytes, **fields: Any) -> bytes:
    """A V2 binary frame: ``kind | each field's length | the fields | payload``; a field is
    at most 255 bytes of UTF-8 (``ValueError``), None is empty.

    >>> binary_frame(2, b"\\x01", topic="t", event="e")
    b'\\x02\\x01\\x01te\\x01'
    """
    parts = [_utf8(value, name) for name, value in fields.items()]
    return bytes([kind, *map(len, parts)]) + b"".join(parts) + payload


def _decode_binary(frame: bytes) -> Message:
    """A client's kind-0 binary push: ``0 | jr ref topic event lengths | fields | payload``."""
    if len(frame) < 5:
        raise ProtocolError(f"binary frame of {len(frame)} bytes is shorter than its header")
    if frame[0] != 0:
        raise ProtocolError(f"binary frame kind {frame[0]} (a client sends only kind 0, push)")
    sizes = frame[1], frame[2], frame[3], frame[4]
    start = 5
    fields = []
    for size in sizes:
        end = start + size
        if end > len(frame):
            raise ProtocolError("binary frame header lengths run past the end of the frame")
        try:
            fields.append(frame[start:end].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError("binary frame header field is not UTF-8") from None
        start = end
    join_ref, ref, topic, event = fields
    return Message(join_ref or None, ref or None, topic, event, frame[start:])


class V2Serializer:
    """``vsn`` 2.0.0: JSON arrays for text, binary frames for ``bytes`` payloads."""

    vsn = "2.0.0"
    binary = True

    def decode(self, frame: str | bytes) -> Message:
        """A client frame (text: JSON array; bytes: binary push) as a :class:`Message`."""
        if type(frame) is bytes:
            return _decode_binary(frame)
        value = _json.loads(frame)
        if type(value) is not list or len(value) < 5:
            raise ProtocolError("a V2 frame is a JSON array of five elements")
        return _check_message(*value[:5])

    def encode_reply(
        self, join_ref: Any, ref: Any, topic: str, status: str, response: Any
    ) -> str | bytes:
        """A ``phx_reply`` to the request ``ref``."""
        if type(response) is bytes:
            return binary_frame(1, response, join_ref=join_ref, ref=ref, topic=topic, status=status)
        return _json.dumps(
            [join_ref, ref, topic, "phx_reply", {"status": status, "response": response}]
        )

    def encode_push(self, join_ref: Any, topic: str, event: str, payload: Any) -> str | bytes:
        """A server push to one client (``ref`` null)."""
        if type(payload) is bytes:
            return binary_frame(0, payload, join_ref=join_ref, topic=topic, event=event)
        return _json.dumps([join_ref, None, topic, event, payload])

    def encode_broadcast(self, topic: str, event: str, payload: Any) -> str | bytes:
        """A broadcast (no refs)."""
        if type(payload) is bytes:
            return binary_frame(2, payload, topic=topic, event=event)
        return _json.dumps([None, None, topic, event, payload])

    def encode_close(self, join_ref: Any, topic: str, event: str, payload: Any) -> str:
        """``phx_close``/``phx_error`` for the channel instance ``join_ref`` (ref = join_ref)."""
        return _json.dumps([join_ref, join_ref, topic, event, payload])


class V1Serializer:
    """``vsn`` 1.0.0: JSON objects, no binary, no join_ref on what the server sends."""

    vsn = "1.0.0"
    binary = False

    def decode(self, frame: str | bytes) -> Message:
        """A client frame (a JSON object) as a :class:`Message`."""
        if type(frame) is bytes:
            raise ProtocolError("the V1 serializer takes no binary frames")
        value = _json.loads(frame)
        if type(value) is not dict:
            raise ProtocolError("a V1 frame is a JSON object")
        try:
            topic, event, payload = value["topic"], value["event"], value["payload"]
        except KeyError as exc:
            raise ProtocolError(f"a V1 frame needs {exc.args[0]!r}") from None
        return _check_message(value.get("join_ref"), value.get("ref"), topic, event, payload)

    def _object(self, topic: str, event: str, payload: Any, ref: Any) -> str:
        if type(payload) is bytes:
            raise ValueError("the V1 serializer cannot carry a binary payload")
        return _json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref})

    def encode_reply(self, join_ref: Any, ref: Any, topic: str, status: str, response: Any) -> str:
        """A ``phx_reply`` to the request ``ref``."""
        if type(response) is bytes:
            raise ValueError("the V1 serializer cannot carry a binary payload")
        return self._object(topic, "phx_reply", {"status": status, "response": response}, ref)

    def encode_push(self, join_ref: Any, topic: str, event: str, payload: Any) -> str:
        """A server push to one client."""
        return self._object(topic, event, payload, None)

    def encode_broadcast(self, topic: str, event: str, payload: Any) -> str:
        """A broadcast."""
        return self._object(topic, event, payload, None)

    def encode_close(self, join_ref: Any, topic: str, event: str, payload: Any) -> str:
        """``phx_close``/``phx_error`` for the channel instance ``join_ref``."""
        return self._object(topic, event, payload, join_ref)


Serializer = V1Serializer | V2Serializer

V1_SERIALIZER = V1Serializer()
V2_SERIALIZER = V2Serializer()


def serializer_for(vsn: str | None) -> Serializer:
    """The serializer for a client's ``vsn`` query parameter (missing: 1.0.0), as Phoenix
    matches ``~> 1.0.0`` and ``~> 2.0.0``. :class:`ProtocolError` for any other."""
    if vsn is None:
        return V1_SERIALIZER
    parts = vsn.split(".")
    if len(parts) == 3 and all(p.isdigit() and p.isascii() and len(p) < 10 for p in parts):
        major, minor = parts[0], parts[1]
        if (major, minor) == ("2", "0"):
            return V2_SERIALIZER
        if (major, minor) == ("1", "0"):
            return V1_SERIALIZER
    raise ProtocolError(f"unsupported vsn {vsn[:40]!r}")
