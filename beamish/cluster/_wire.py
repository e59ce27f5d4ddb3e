"""The wire codec: Python values to msgpack bytes and back; the contract is on :class:`Codec`."""

from __future__ import annotations

import importlib
import pickle
import reprlib
import struct
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import cloudpickle
import msgpack

from ..actors import Caller, Down, Exit, Pid, Ref
from ..actors.lowlevel import CallRequest, CastRequest, StopRequest
from ._errors import DecodeError, EncodeError

__all__ = ["Codec", "PlainCodec", "RemoteException", "Undecodable"]

# Extension codes. The "marker" codes carry no data: an array whose first element is a
# marker is that type's record (``[TUPLE, *items]``); the whole message unpacks in one pass
# of msgpack's C unpacker, with its own bounded stack, however deep the tuples nest.
_TUPLE: Final = 1
_SET: Final = 2
_FROZENSET: Final = 3
_PID: Final = 4
_REF: Final = 5
_DOWN: Final = 6
_EXIT: Final = 7
_CALLER: Final = 8
_CALL_REQUEST: Final = 9
_CAST_REQUEST: Final = 10
_EXCEPTION: Final = 11
_STOP_REQUEST: Final = 12
# Extension codes whose data is the value: a pid (msgpack ``[node, serial, creation]``, the
# form the encoder uses while the fields fit 64 bits; both ends cache it, pids recur), big
# ints (two's complement, big-endian) and pickles.
_PID_PACKED: Final = 31
_BIGINT: Final = 32
_PICKLE: Final = 33

# The flat form of the hot frames (a send, a cast, a call, a reply): the byte FLAT, which
# msgpack never writes ("never used"), a kind byte, a 2-byte length and a plain msgpack array
# of the frame's pids and refs (their fields: no extension, no hook runs for them; an int
# beyond 64 bits, as a ref's random id, as its big-endian bytes), then the message as the
# codec writes any value. Decoded, it is the same tuple frame as the record
# form: ("send", pid, message), ("call", target, CallRequest(Caller(pid, ref), request)),
# ("reply", pid, ref, value).
FLAT: Final = 0xC1
_FLAT_SEND: Final = 1  # head: to (3 fields)
_FLAT_TAGGED: Final = 2  # head: to, tag; the message is (tag, value): the kernel's cast
_FLAT_CALL: Final = 3  # head: target pid (3), caller pid (3), ref (2)
_FLAT_CALL_NAME: Final = 4  # head: target (name, node), caller pid (3), ref (2)
_FLAT_REPLY: Final = 5  # head: to (3), ref (2)
_FLAT_HEAD_MAX: Final = 0xFFFF
_FLAT_INT_BYTES: Final = 32  # an int field beyond 64 bits travels as its bytes, up to these
_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1

_RECORDS: Final[dict[type, int]] = {
    tuple: _TUPLE,
    set: _SET,
    frozenset: _FROZENSET,
    Pid: _PID,
    Ref: _REF,
    Down: _DOWN,
    Exit: _EXIT,
    Caller: _CALLER,
    CallRequest: _CALL_REQUEST,
    CastRequest: _CAST_REQUEST,
    StopRequest: _STOP_REQUEST,
}
_MARKS: Final[dict[type, msgpack.ExtType]] = {
    cls: msgpack.ExtType(code, b"") for cls, code in _RECORDS.items()
}
_EXCEPTION_MARK: Final = msgpack.ExtType(_EXCEPTION, b"")
_CLASS_CACHE_SIZE: Final = 1024
_PID_CACHE_SIZE: Final = 4096
_tuple_new = tuple.__new__
_pack_plain = msgpack.Packer(strict_types=True, use_bin_type=True, autoreset=True).pack


class RemoteException(Exception):
    """An exception raised on another node whose class could not be rebuilt here.

    >>> exc = RemoteException("BadThing", "app.errors", ("no",), "Traceback ...")
    >>> str(exc), exc.remote_args
    ('app.errors.BadThing: no', ('no',))

    Sent on again, it travels as the original type, so a node that has the class rebuilds it.
    """

    def __init__(
        self,
        type_name: str,
        module: str,
        args: tuple[Any, ...] = (),
        traceback_text: str | None = None,
        message: str | None = None,
    ) -> None:
        args = tuple(args)
        super().__init__(type_name, module, args, traceback_text, message)
        self.type_name = type_name
        self.module = module
        self.remote_args = args
        self.traceback_text = traceback_text
        self.remote_traceback = traceback_text
        if message is None:
            message = str(args[0]) if len(args) == 1 else (str(args) if args else "")
        self.message = message

    def __str__(self) -> str:
        name = f"{self.module}.{self.type_name}"
        return f"{name}: {self.message}" if self.message else name


class Undecodable:
    """Stands in, in :attr:`DecodeError.partial`, for a value this node could not rebuild.

    >>> Undecodable("no module named 'app'")
    <undecodable: no module named 'app'>
    """

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<undecodable: {self.why}>"


class PlainCodec:
    """The handshake's codec: plain msgpack only, for bytes from a peer not yet authenticated.

    No extension type is accepted (so no pickle, no exception record, no import, no class
    lookup), map keys must be strings or bytes, and every failure is a :class:`DecodeError`.

    >>> codec = PlainCodec()
    >>> codec.decode(codec.encode({"hello": 1, "nonce": b"n"}))
    {'hello': 1, 'nonce': b'n'}
    >>> codec.decode(Codec(allow_pickle=True).encode({"x": object()}))
    Traceback (most recent call last):
      ...
    beamish.cluster.DecodeError: not a plain message (...): ...extension type 33 before ...
    """

    __slots__ = ()

    def encode(self, obj: Any) -> bytes:
        try:
            return _pack_plain(obj)  # type: ignore[no-any-return]
        except Exception as exc:
            raise EncodeError(f"cannot encode {_type_name(obj)} as plain msgpack: {exc}") from exc

    def decode(self, data: bytes) -> Any:
        try:
            return msgpack.unpackb(data, ext_hook=_refuse_extension, strict_map_key=True)
        except Exception as exc:
            raise DecodeError(
                f"not a plain message ({len(data)} bytes): {type(exc).__name__}: {exc}"
            ) from exc


def _refuse_extension(code: int, data: bytes) -> Any:
    raise DecodeError(f"extension type {code} before the handshake")


class _Mark:
    """What a marker extension decodes to: the head of an array that ``build`` turns into
    the real value (a stray one elsewhere is inert; this encoder never writes one)."""

    __slots__ = ("build", "code")

    def __init__(self, code: int, build: Callable[[list[Any]], Any]) -> None:
        self.code = code
        self.build = build

    def __repr__(self) -> str:
        return f"<wire mark {self.code}>"


class Codec:
    """Encodes messages to bytes and back.

    Semantics
    ---------

    Carried natively by msgpack (no Python code runs per value): ``None``, ``bool``, ``int``
    in the 64-bit range, ``float``, ``str``, ``bytes``, ``list`` and ``dict`` (keys of any
    carried, hashable type). Carried by the codec's extension types:

    ==========================================  ============================================
    value                                       arrives as
    ==========================================  ============================================
    ``tuple``                                   ``tuple`` (lists stay lists)
    ``set``, ``frozenset``                      the same type
    ``int`` beyond 64 bits (either sign)        the same ``int``
    ``Pid``, ``Ref``                            ``Pid``, ``Ref`` (not plain tuples)
    ``Down``, ``Exit``, ``Caller``,             the same kernel message type
    ``CallRequest``, ``CastRequest``
    an exception                                see below
    anything else, with ``allow_pickle``        cloudpickle's copy
    anything else, without                      :class:`EncodeError` at the sender
    ==========================================  ============================================

    Exit reasons are plain values (strings, tuples, exceptions), so they need nothing more.

    Exceptions travel as their module, qualified name, ``args``, ``str()`` and traceback text.
    The receiver rebuilds the real class, with the same ``args``, when that class is an
    ``Exception`` subclass it can find (in a module already imported; with ``allow_pickle``, a
    trusted peer, it may import the module) and construct from those ``args``; otherwise it
    builds a :class:`RemoteException` that names the remote type and message. Either way
    the remote traceback text is on the exception's ``remote_traceback`` attribute. Exceptions
    that are not ``Exception`` subclasses (``KeyboardInterrupt``, cancellation) always arrive
    as :class:`RemoteException`, so a remote cancellation never cancels anything here.

    ``allow_pickle`` governs both directions: an encoder without it refuses what it cannot carry
    (:class:`EncodeError`, naming the type and where it sits), and a decoder without it refuses a
    pickle (:class:`DecodeError`) instead of running it. The known types above are never pickled.

    Subclasses of carried types that the table does not name (an ``OrderedDict``, a ``str``
    enum, a user ``NamedTuple``) are not silently flattened: they are pickled or refused.
    ``bytearray`` and ``memoryview`` arrive as ``bytes``. ``msgpack.ExtType`` values are
    reserved for the codec. Nesting is limited to about 500 levels (:class:`EncodeError`).

    A ``Codec`` reuses one msgpack ``Packer``: use one per thread (one per connection is usual).
    Anything that goes wrong while decoding raises :class:`DecodeError`, and decoding never
    allocates much more than the payload's size, so the connection can close and count it.
    When only values inside a well-formed payload cannot be rebuilt here (a pickle this codec
    refuses or cannot load, an extension type it does not know), the error's ``partial`` holds
    the message with an :class:`Undecodable` in each such place, so that the connection can
    drop that one message and answer a call it carried.

    :class:`PlainCodec` is the handshake's: plain msgpack, no extension type at all, for bytes
    from a peer that has not proved the cookie yet.

    Example:
        >>> from beamish.actors import Pid
        >>> codec = Codec()
        >>> message = (Pid("a@h", 7, 1), "hello", [1, 2], {(1, 2): {3}}, 2**100)
        >>> codec.decode(codec.encode(message)) == message
        True
        >>> type(codec.decode(codec.encode((1, [2])))[1])
        <class 'list'>

        >>> codec = Codec()
        >>> codec.decode(codec.encode({1: (True, None, 1.5, b"raw")}))
        {1: (True, None, 1.5, b'raw')}
        >>> codec.encode(object())
        Traceback (most recent call last):
          ...
        beamish.cluster.EncodeError: cannot encode object of type object at the top level (...)
    """

    __slots__ = (
        "_class_cache",
        "_ext_hook",
        "_failures",
        "_flat_heads",
        "_flat_pids",
        "_list_hook",
        "_packer",
        "_pid_exts",
        "allow_pickle",
    )

    def __init__(self, *, allow_pickle: bool = False) -> None:
        self.allow_pickle = allow_pickle
        self._packer = self._new_packer()
        self._class_cache: dict[tuple[str, str], type[Exception] | None] = {}
        self._pid_exts: dict[Pid, msgpack.ExtType] = {}
        self._failures: list[str] = []
        marks = {**_SHARED_MARKS, _EXCEPTION: _Mark(_EXCEPTION, self._build_exception)}
        self._ext_hook = self._make_ext_hook(marks)
        self._list_hook = _list_hook
        self._flat_heads: dict[Any, bytes] = {}  # a send's pid, or (pid, tag) -> its prefix
        self._flat_pids: dict[bytes, Any] = {}  # a send's head -> its pid, or (pid, tag)

    def encode(self, obj: Any) -> bytes:
        """The payload for ``obj``; raises :class:`EncodeError` if it cannot be carried.

        >>> Codec().encode([1, "a"])
        b'\\x92\\x01\\xa1a'
        """
        try:
            return self._packer.pack(obj)  # type: ignore[no-any-return]
        except Exception as exc:
            self._packer = self._new_packer()
            raise self._encode_error(obj, exc) from exc

    def decode(self, data: bytes) -> Any:
        """The value a payload carries; raises :class:`DecodeError` if it is not one.

        >>> Codec().decode(b"\\x92\\x01\\xa1a")
        [1, 'a']
        >>> Codec().decode(b"\\x92\\x01")  # an array of two, cut after one
        Traceback (most recent call last):
          ...
        beamish.cluster.DecodeError: undecodable payload (2 bytes): ...
        """
        if data[:1] == _FLAT_BYTE:
            return self._decode_flat(data)
        return self._decode_value(data)

    def _decode_value(self, data: bytes) -> Any:
        failures = self._failures
        try:
            value = msgpack.unpackb(
                data,
                ext_hook=self._ext_hook,
                list_hook=self._list_hook,
                strict_map_key=False,
            )  # use_list=True, raw=False: the defaults, not passed (the hot path)
        except DecodeError:
            failures.clear()
            raise
        except Exception as exc:
            failures.clear()
            raise DecodeError(
                f"undecodable payload ({len(data)} bytes): {type(exc).__name__}: {exc}"
            ) from exc
        if failures:
            why = failures[0]
            failures.clear()
            raise DecodeError(f"undecodable value: {why}", partial=value)
        if value.__class__ is _Mark:
            raise DecodeError("a bare extension marker is not a message")
        return value

    # -- the flat form of the hot frames ----------------------------------------------------

    def encode_send(self, to: Pid, message: Any) -> bytes:
        """``("send", to, message)`` in the flat form (a message ``(tag, value)`` with a ``str``
        tag, as the kernel's casts are, carries its tag in the head).

        >>> from beamish.actors import Pid
        >>> codec = Codec()
        >>> codec.decode(codec.encode_send(Pid("a@h", 1, 7), "hi"))
        ('send', <a@h.1.7>, 'hi')
        """
        key: Any = to
        kind, value = _FLAT_SEND, message
        if message.__class__ is tuple and len(message) == 2 and message[0].__class__ is str:
            kind, value, key = _FLAT_TAGGED, message[1], (to, message[0])
        prefix = self._flat_heads.get(key)
        if prefix is None:
            fields = [*to, message[0]] if kind == _FLAT_TAGGED else list(to)
            prefix = self._flat_prefix(kind, fields)
            if prefix is None:
                return self.encode(("send", to, message))
            if len(self._flat_heads) >= _PID_CACHE_SIZE:
                self._flat_heads.clear()
            self._flat_heads[key] = prefix
        return prefix + self.encode(value)

    def encode_call(self, target: Pid | tuple[str, str], request: CallRequest) -> bytes:
        """``("call", target, request)`` in the flat form."""
        (pid, ref), value = request
        if target.__class__ is Pid:
            prefix = self._flat_prefix(_FLAT_CALL, [*target, *pid, *ref])
        else:
            prefix = self._flat_prefix(_FLAT_CALL_NAME, [*target, *pid, *ref])
        if prefix is None:
            return self.encode(("call", target, request))
        return prefix + self.encode(value)

    def encode_reply(self, to: Pid, ref: Ref, value: Any) -> bytes:
        """``("reply", to, ref, value)`` in the flat form."""
        prefix = self._flat_prefix(_FLAT_REPLY, [*to, *ref])
        if prefix is None:
            return self.encode(("reply", to, ref, value))
        return prefix + self.encode(value)

    def _flat_prefix(self, kind: int, fields: list[Any]) -> bytes | None:
        """FLAT, ``kind``, the head's length and the head; None if a field is not of the
        plain type it must be (a serial beyond 64 bits, a subclass): the record form then."""
        for index, field in enumerate(fields):
            if field.__class__ is int:
                if not _INT64_MIN <= field <= _UINT64_MAX:  # a ref's random id: its bytes
                    size = (field.bit_length() + 8) // 8
                    if size > _FLAT_INT_BYTES:
                        return None
                    fields[index] = field.to_bytes(size, "big", signed=True)
            elif field.__class__ is not str:
                return None
        try:
            head = _pack_plain(fields)
        except (OverflowError, UnicodeEncodeError, TypeError, ValueError):
            return None
        if len(head) > _FLAT_HEAD_MAX:
            return None
        return _FLAT_HEADER.pack(FLAT, kind, len(head)) + head  # type: ignore[no-any-return]

    def _decode_flat(self, data: bytes) -> Any:
        if len(data) < 4:
            raise DecodeError(f"a truncated flat frame ({len(data)} bytes)")
        _, kind, size = _FLAT_HEADER.unpack_from(data)
        end = 4 + size
        head_bytes = data[4:end]
        if len(head_bytes) != size:
            raise DecodeError(f"a flat frame whose head ({size} bytes) is cut short")
        head = self._flat_pids.get(head_bytes) if kind <= _FLAT_TAGGED else None
        if head is None:
            head = _flat_head(kind, head_bytes)
            if kind <= _FLAT_TAGGED:
                if len(self._flat_pids) >= _PID_CACHE_SIZE:
                    self._flat_pids.clear()
                self._flat_pids[head_bytes] = head
        try:
            value = self._decode_value(data[end:])
        except DecodeError as exc:
            if exc.partial is None:
                raise
            raise DecodeError(str(exc), partial=_flat_frame(kind, head, exc.partial)) from exc
        return _flat_frame(kind, head, value)

    # -- encoding ---------------------------------------------------------------------------

    def _new_packer(self) -> msgpack.Packer:
        return msgpack.Packer(
            default=self._default, strict_types=True, use_bin_type=True, autoreset=True
        )

    def _default(self, obj: Any) -> Any:
        cls = obj.__class__
        if cls is Pid:
            ext = self._pid_exts.get(obj)
            if ext is None:
                ext = self._pid_ext(obj)
            return ext
        mark = _MARKS.get(cls)
        if mark is not None:
            return [mark, *obj]
        if cls is int:  # beyond 64 bits: msgpack overflowed
            return msgpack.ExtType(
                _BIGINT, obj.to_bytes((obj.bit_length() + 8) // 8, "big", signed=True)
            )
        if isinstance(obj, BaseException):
            return self._encode_exception(obj)
        if self.allow_pickle:
            try:
                return msgpack.ExtType(
                    _PICKLE, cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
                )
            except Exception as exc:
                raise _Unencodable(obj, f"cloudpickle failed: {type(exc).__name__}: {exc}") from exc
        raise _Unencodable(obj, "allow_pickle is off")

    def _pid_ext(self, pid: Pid) -> Any:
        node, serial, creation = pid
        if type(node) is not str or type(serial) is not int or type(creation) is not int:
            raise _Unencodable(pid, "a Pid's fields must be (str, int, int)")
        try:
            data = _pack_plain([node, serial, creation])
        except (OverflowError, UnicodeEncodeError):  # huge serial: the general record form
            return [_MARKS[Pid], node, serial, creation]
        ext = _tuple_new(msgpack.ExtType, (_PID_PACKED, data))
        cache = self._pid_exts
        if len(cache) >= _PID_CACHE_SIZE:
            cache.clear()
        cache[pid] = ext
        return ext

    def _encode_exception(self, exc: BaseException) -> list[Any]:
        if type(exc) is RemoteException:
            module, name = exc.module, exc.type_name
            args: tuple[Any, ...] | None = exc.remote_args
            message, text = exc.message, exc.traceback_text
        else:
            cls = type(exc)
            module, name = cls.__module__, cls.__qualname__
            args = exc.args
            try:
                message = str(exc)
            except Exception:
                message = repr(exc)
            text = getattr(exc, "remote_traceback", None)
            if not isinstance(text, str):
                text = "".join(traceback.format_exception(exc))
        if args and not self._can_carry(args):
            args = None  # the receiver builds a RemoteException from the message
        return [_EXCEPTION_MARK, module, name, args, message, text]

    def _can_carry(self, value: Any) -> bool:
        try:
            self._new_packer().pack(value)
        except Exception:
            return False
        return True

    def _encode_error(self, obj: Any, exc: Exception) -> EncodeError:
        if isinstance(exc, _Unencodable):
            where = _locate(obj, exc.obj)
            return EncodeError(
                f"cannot encode object of type {_type_name(exc.obj)} at {where} ({exc.why})"
            )
        if isinstance(exc, UnicodeEncodeError):
            where = _locate(obj, exc.object)
            return EncodeError(f"cannot encode a str that is not valid Unicode at {where}: {exc}")
        if isinstance(exc, RecursionError) or "recursion limit" in str(exc):
            return EncodeError("cannot encode: the message nests too deeply")
        return EncodeError(f"cannot encode {_type_name(obj)}: {type(exc).__name__}: {exc}")

    # -- decoding ---------------------------------------------------------------------------

    def _make_ext_hook(self, marks: dict[int, _Mark]) -> Callable[[int, bytes], Any]:
        allow_pickle = self.allow_pickle
        failures = self._failures
        get_mark = marks.get
        pids: dict[bytes, Pid] = {}
        get_pid = pids.get

        def ext_hook(code: int, data: bytes) -> Any:
            if code == _PID_PACKED:
                pid = get_pid(data)
                if pid is None:
                    pid = _decode_pid(data)
                    if len(pids) >= _PID_CACHE_SIZE:
                        pids.clear()
                    pids[data] = pid
                return pid
            mark = get_mark(code)
            if mark is not None and not data:
                return mark
            if code == _BIGINT and data:
                return int.from_bytes(data, "big", signed=True)
            if code == _PICKLE:
                if not allow_pickle:
                    return undecodable("the peer sent a pickle, and this codec does not allow them")
                try:
                    return pickle.loads(data)
                except Exception as exc:
                    return undecodable(f"cannot unpickle a value: {type(exc).__name__}: {exc}")
            if mark is None and code not in (_PID_PACKED, _BIGINT):
                return undecodable(f"unknown extension type {code} ({len(data)} bytes)")
            raise DecodeError(f"malformed extension {code} ({len(data)} bytes)")

        def undecodable(why: str) -> Undecodable:
            failures.append(why)
            return Undecodable(why)

        return ext_hook

    def _build_exception(self, items: list[Any]) -> BaseException:
        if len(items) != 6:
            raise DecodeError(f"an exception record has {len(items) - 1} fields, not 5")
        _, module, name, args, message, text = items
        if not (
            type(module) is str
            and type(name) is str
            and (args is None or type(args) is tuple)
            and type(message) is str
            and (text is None or type(text) is str)
        ):
            raise DecodeError("malformed exception record")
        exc: BaseException | None = None
        if args is not None:
            cls = self._exception_class(module, name)
            if cls is not None:
                try:
                    exc = cls(*args)
                except Exception:
                    exc = None
        if exc is None:
            return RemoteException(
                name, module, args if args is not None else (message,), text, message
            )
        try:
            exc.remote_traceback = text  # type: ignore[attr-defined]
        except Exception:
            pass
        return exc

    def _exception_class(self, module: str, name: str) -> type[Exception] | None:
        key = (module, name)
        cache = self._class_cache
        try:
            return cache[key]
        except KeyError:
            pass
        found = _find_exception_class(module, name, self.allow_pickle)
        if len(cache) >= _CLASS_CACHE_SIZE:
            cache.clear()
        cache[key] = found
        return found


_FLAT_BYTE: Final = bytes([FLAT])
_FLAT_HEADER: Final = struct.Struct(">BBH")


def _flat_head(kind: int, data: bytes) -> Any:
    """The pids and refs a flat frame's head carries (``DecodeError`` if malformed)."""
    try:
        fields = msgpack.unpackb(data, ext_hook=_refuse_extension, use_list=True)
    except Exception as exc:
        raise DecodeError(f"a flat frame with a malformed head: {type(exc).__name__}") from exc
    if type(fields) is not list:
        raise DecodeError("a flat frame whose head is not a list")
    shape = _FLAT_SHAPES.get(kind)
    if shape is None:
        raise DecodeError(f"unknown flat frame kind {kind}")
    if len(fields) != len(shape):
        raise DecodeError(f"a flat frame of kind {kind} with a malformed head")
    for index, (field, want) in enumerate(zip(fields, shape, strict=True)):
        if type(field) is want:
            continue
        if want is int and type(field) is bytes and 0 < len(field) <= _FLAT_INT_BYTES:
            fields[index] = int.from_bytes(field, "big", signed=True)  # beyond 64 bits
            continue
        raise DecodeError(f"a flat frame of kind {kind} with a malformed head")
    if kind == _FLAT_SEND:
        return _tuple_new(Pid, fields)
    if kind == _FLAT_TAGGED:
        return (_tuple_new(Pid, fields[:3]), fields[3])
    if kind == _FLAT_REPLY:
        return (_tuple_new(Pid, fields[:3]), _tuple_new(Ref, fields[3:]))
    if kind == _FLAT_CALL:
        target: Any = _tuple_new(Pid, fields[:3])
        rest = fields[3:]
    else:
        target = (fields[0], fields[1])
        rest = fields[2:]
    caller = _tuple_new(Caller, (_tuple_new(Pid, rest[:3]), _tuple_new(Ref, rest[3:])))
    return (target, caller)


def _flat_frame(kind: int, head: Any, value: Any) -> tuple[Any, ...]:
    """The tuple frame a flat frame stands for."""
    if kind == _FLAT_SEND:
        return ("send", head, value)
    if kind == _FLAT_TAGGED:
        return ("send", head[0], (head[1], value))
    if kind == _FLAT_REPLY:
        return ("reply", head[0], head[1], value)
    return ("call", head[0], _tuple_new(CallRequest, (head[1], value)))


_PID_SHAPE: Final = (str, int, int)
_REF_SHAPE: Final = (str, int)
_FLAT_SHAPES: Final[dict[int, tuple[type, ...]]] = {
    _FLAT_SEND: _PID_SHAPE,
    _FLAT_TAGGED: (*_PID_SHAPE, str),
    _FLAT_CALL: (*_PID_SHAPE, *_PID_SHAPE, *_REF_SHAPE),
    _FLAT_CALL_NAME: (str, str, *_PID_SHAPE, *_REF_SHAPE),
    _FLAT_REPLY: (*_PID_SHAPE, *_REF_SHAPE),
}


class _Unencodable(TypeError):
    """Raised inside the packer's ``default``; :meth:`Codec.encode` turns it into an
    :class:`EncodeError` that says where the object sits."""

    def __init__(self, obj: Any, why: str) -> None:
        super().__init__(why)
        self.obj = obj
        self.why = why


def _list_hook(items: list[Any]) -> Any:
    if items:
        head = items[0]
        if head is _TUPLE_MARK:
            del items[0]
            return tuple(items)
        if head.__class__ is _Mark:
            try:
                return head.build(items)
            except DecodeError:
                raise
            except Exception as exc:
                raise DecodeError(
                    f"malformed record for extension {head.code}: {type(exc).__name__}: {exc}"
                ) from exc
    return items


def _build_tuple(items: list[Any]) -> tuple[Any, ...]:
    del items[0]
    return tuple(items)


def _build_set(items: list[Any]) -> set[Any]:
    del items[0]
    return set(items)


def _build_frozenset(items: list[Any]) -> frozenset[Any]:
    del items[0]
    return frozenset(items)


def _build_pid(items: list[Any]) -> Pid:
    if len(items) == 4:
        _, node, serial, creation = items
        if type(node) is str and type(serial) is int and type(creation) is int:
            return _tuple_new(Pid, (node, serial, creation))
    raise DecodeError(f"malformed pid record {items[1:]!r:.200}")


def _build_ref(items: list[Any]) -> Ref:
    if len(items) == 3:
        _, node, ident = items
        if type(node) is str and type(ident) is int:
            return _tuple_new(Ref, (node, ident))
    raise DecodeError(f"malformed ref record {items[1:]!r:.200}")


def _decode_pid(data: bytes) -> Pid:
    try:
        fields = msgpack.unpackb(data)
    except Exception as exc:
        raise DecodeError(f"malformed pid {data!r:.100}") from exc
    if type(fields) is list:
        return _build_pid([None, *fields])
    raise DecodeError(f"malformed pid {data!r:.100}")


def _record_builder(cls: type) -> Callable[[list[Any]], Any]:
    arity = len(cls._fields)  # type: ignore[attr-defined]
    name = cls.__name__

    def build(items: list[Any]) -> Any:
        if len(items) != arity + 1:
            raise DecodeError(f"a {name} record has {len(items) - 1} fields, not {arity}")
        del items[0]
        return _tuple_new(cls, items)

    return build


def _find_exception_class(module: str, name: str, may_import: bool) -> type[Exception] | None:
    """The class ``module.name`` names, looked up in the module's and classes' own
    ``__dict__`` (never ``getattr``, which would run a module's ``__getattr__``, often a lazy
    import); the module is imported only when ``may_import`` (a peer trusted with pickles)."""
    mod = sys.modules.get(module)
    if mod is None and may_import:
        try:
            mod = importlib.import_module(module)
        except Exception:
            return None
    if mod is None or "<" in name:
        return None
    obj: Any = mod
    for part in name.split("."):
        namespace = vars(obj)  # a module's or a class's own namespace
        if not isinstance(namespace, Mapping):
            return None
        obj = namespace.get(part)
        if not isinstance(obj, type):
            return None
    if issubclass(obj, Exception):
        return obj  # type: ignore[no-any-return]
    return None


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 200


def stand_in(value: Any) -> tuple[str, str, str]:
    """What crosses in place of an exit reason that cannot: ``("unsendable", type, repr)``.

    >>> class Handle:
    ...     def __repr__(self):
    ...         return "<handle 7>"
    >>> stand_in(Handle())
    ('unsendable', 'beamish.cluster._wire.Handle', '<handle 7>')
    >>> len(stand_in("x" * 10**7)[2])
    200
    """
    try:
        text = _short.repr(value)
    except Exception as exc:
        text = f"<repr failed: {type(exc).__name__}>"
    return ("unsendable", _type_name(value), text)


def _type_name(obj: Any) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _locate(root: Any, target: Any) -> str:
    """Where ``target`` sits inside ``root``, as a subscript path (only on the error path)."""
    for path in _paths(root, target, (), 0):
        return "".join(path) if path else "the top level"
    return "an unknown place"


def _paths(node: Any, target: Any, path: tuple[str, ...], depth: int) -> Iterator[tuple[str, ...]]:
    if node is target:
        yield path
        return
    if depth > 600:
        return
    if isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            yield from _paths(item, target, (*path, f"[{index}]"), depth + 1)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(key, target, (*path, f" key {key!r:.40}"), depth + 1)
            yield from _paths(value, target, (*path, f"[{key!r:.40}]"), depth + 1)
    elif isinstance(node, (set, frozenset)):
        for item in node:
            yield from _paths(item, target, (*path, " set element"), depth + 1)
    elif isinstance(node, BaseException):
        yield from _paths(node.args, target, (*path, ".args"), depth + 1)


_TUPLE_MARK: Final = _Mark(_TUPLE, _build_tuple)
_SHARED_MARKS: Final[dict[int, _Mark]] = {
    _TUPLE: _TUPLE_MARK,
    _SET: _Mark(_SET, _build_set),
    _FROZENSET: _Mark(_FROZENSET, _build_frozenset),
    _PID: _Mark(_PID, _build_pid),
    _REF: _Mark(_REF, _build_ref),
    **{
        code: _Mark(code, _record_builder(cls))
        for cls, code in _RECORDS.items()
        if code not in (_TUPLE, _SET, _FROZENSET, _PID, _REF)
    },
}
