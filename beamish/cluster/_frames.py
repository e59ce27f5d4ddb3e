"""The frames connected nodes exchange: one small typed record per kind (pure).

>>> from beamish.actors import Pid
>>> frame = parse(("send", Pid("a@h", 1, 7), "hi"))
>>> frame
Send(to=<a@h.1.7>, message='hi')
>>> wire(frame)
('send', <a@h.1.7>, 'hi')
>>> parse(("send", "not a pid", "hi"))
Traceback (most recent call last):
  ...
beamish.cluster._frames.BadFrame: send.to: not a pid: 'not a pid'

On the wire a frame is a plain tuple, ``(kind, *fields)``, which the codec carries like any
other value. :func:`parse` turns what a peer sent into the record of its kind after
checking the number of fields and the type of each, so the mesh's handlers never see a
field of the wrong type: anything else raises :class:`UnknownFrame` (a kind this node does
not know) or :class:`BadFrame`, and the connection that sent it closes. Messages and exit
reasons are the sender's data and stay unchecked (``Any``).

========================  ======================================================
kind                      what it asks the receiving node
========================  ======================================================
``send``                  deliver ``message`` to a local pid
``send_name``             deliver ``message`` to a locally registered name
``call``                  monitor ``target`` for the request's caller, then deliver it
``reply``                 answer call ``ref`` of pid ``to``
``spawned``               the process asked for by ``spawn`` ``ref`` is ``pid``
``down``                  a monitor ``ref`` of ``watcher`` fired with ``reason``
``link`` / ``unlink``     add / remove the link ``remote`` - ``local``
``exit``                  an exit signal from ``sender`` to ``target``
``monitor``               ``watcher`` monitors ``target`` under ``ref``
``demonitor``             take monitor ``ref`` back
``spawn``                 start ``target(*args)`` and answer ``ref`` with ``spawned``
``address``               the sender's listen address (None: hidden, or dial only)
``peers``                 the sender's connected peers: ``{name: address}``
========================  ======================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from ..actors import Pid, Ref

__all__ = ["KINDS", "BadFrame", "Frame", "UnknownFrame", "check", "parse", "wire"]


class BadFrame(ValueError):
    """A frame of a known kind with the wrong number of fields or a field of the wrong
    type (the field is named)."""


class UnknownFrame(ValueError):
    """A frame whose kind this node does not know (a newer peer, or garbage)."""


Check = Callable[[Any], bool]


def _check(what: str) -> Callable[[Check], Check]:
    def name(check: Check) -> Check:
        check.__doc__ = what
        return check

    return name


@_check("not a pid")
def _pid(value: Any) -> bool:
    return type(value) is Pid


@_check("not a reference")
def _ref(value: Any) -> bool:
    return type(value) is Ref


@_check("not a bool")
def _bool(value: Any) -> bool:
    return type(value) is bool


@_check("not a str")
def _str(value: Any) -> bool:
    return type(value) is str


def _is_named(value: Any) -> bool:
    return (
        type(value) is tuple and len(value) == 2 and type(value[0]) is str and type(value[1]) is str
    )


@_check("not a pid or a (name, node)")
def _target(value: Any) -> bool:
    return type(value) is Pid or _is_named(value)


@_check("not a pid, a (name, node) or None")
def _target_or_none(value: Any) -> bool:
    return value is None or type(value) is Pid or _is_named(value)


@_check("not a function reference")
def _function(value: Any) -> bool:
    return type(value) is str or callable(value)


@_check("not a tuple")
def _tuple(value: Any) -> bool:
    return type(value) is tuple


@_check("not an address or None")
def _address(value: Any) -> bool:
    return value is None or type(value) is str


@_check("not a {name@host: address} dict")
def _peers(value: Any) -> bool:
    return type(value) is dict and all(
        type(name) is str and "@" in name and type(address) is str
        for name, address in value.items()
    )


@_check("")
def _any(value: Any) -> bool:
    return True


KINDS: dict[str, type[Any]] = {}
_KIND_OF: dict[type[Any], str] = {}
_CHECKS: dict[type[Any], tuple[Check, ...]] = {}
# kind -> (record class, field count, (index, check) of the fields that are checked)
_PARSE: dict[str, tuple[type[Any], int, tuple[tuple[int, Check], ...]]] = {}
F = TypeVar("F")


def _kind(kind: str, *checks: Check) -> Callable[[type[F]], type[F]]:
    def register(cls: type[F]) -> type[F]:
        assert len(checks) == len(cls._fields), cls  # type: ignore[attr-defined]
        KINDS[kind] = cls
        _KIND_OF[cls] = kind
        _CHECKS[cls] = checks
        checked = tuple((i, check) for i, check in enumerate(checks, 1) if check is not _any)
        _PARSE[kind] = (cls, len(checks), checked)
        return cls

    return register


@_kind("send", _pid, _any)
class Send(NamedTuple):
    to: Pid
    message: Any


@_kind("send_name", _str, _any)
class SendName(NamedTuple):
    name: str
    message: Any


@_kind("call", _target, _any)
class Call(NamedTuple):
    target: Pid | tuple[str, str]
    request: Any  # a CallRequest, checked by the mesh (it names the caller's pid and ref)


@_kind("reply", _pid, _ref, _any)
class Reply(NamedTuple):
    to: Pid
    ref: Ref
    value: Any


@_kind("spawned", _pid, _ref, _pid, _bool)
class Spawned(NamedTuple):
    owner: Pid
    ref: Ref
    pid: Pid
    link: bool


@_kind("down", _pid, _ref, _target_or_none, _any)
class Down(NamedTuple):
    watcher: Pid
    ref: Ref
    target: Pid | tuple[str, str] | None
    reason: Any


@_kind("link", _pid, _pid)
class Link(NamedTuple):
    remote: Pid
    local: Pid


@_kind("unlink", _pid, _pid)
class Unlink(NamedTuple):
    remote: Pid
    local: Pid


@_kind("exit", _pid, _target, _any, _bool)
class Exit(NamedTuple):
    sender: Pid
    target: Pid | tuple[str, str]
    reason: Any
    link: bool


@_kind("monitor", _pid, _ref, _target)
class Monitor(NamedTuple):
    watcher: Pid
    ref: Ref
    target: Pid | tuple[str, str]


@_kind("demonitor", _ref, _target)
class Demonitor(NamedTuple):
    ref: Ref
    target: Pid | tuple[str, str]


@_kind("spawn", _pid, _ref, _function, _tuple, _bool)
class Spawn(NamedTuple):
    reply_to: Pid
    ref: Ref
    target: Any
    args: tuple[Any, ...]
    link: bool


@_kind("address", _address)
class Address(NamedTuple):
    address: str | None


@_kind("peers", _peers)
class Peers(NamedTuple):
    peers: dict[str, str]


Frame = (
    Send
    | SendName
    | Call
    | Reply
    | Spawned
    | Down
    | Link
    | Unlink
    | Exit
    | Monitor
    | Demonitor
    | Spawn
    | Address
    | Peers
)


def wire(frame: Frame) -> tuple[Any, ...]:
    """The plain tuple that carries ``frame``: ``(kind, *fields)``."""
    return (_KIND_OF[type(frame)], *frame)


def check(message: Any) -> str:
    """The kind of a frame a peer sent, once its field count and the type of each checked
    field are right (``BadFrame``, ``UnknownFrame``). Nothing is built: the mesh's handler
    for the kind takes the fields as its arguments, in the record's order."""
    if type(message) is not tuple or not message:
        raise BadFrame(f"not a frame: {message!r:.100}")
    kind = message[0]
    entry = _PARSE.get(kind) if type(kind) is str else None
    if entry is None:
        raise UnknownFrame(f"unknown frame kind {kind!r:.100}")
    cls, count, checked = entry
    if len(message) != count + 1:
        raise BadFrame(f"{kind}: {len(message) - 1} fields, expected {count}")
    for index, field_check in checked:
        if not field_check(message[index]):
            field = cls._fields[index - 1]
            raise BadFrame(f"{kind}.{field}: {field_check.__doc__}: {message[index]!r:.100}")
    return kind  # type: ignore[no-any-return]


def parse(message: Any) -> Frame:
    """The record for a frame a peer sent (``BadFrame``, ``UnknownFrame``)."""
    return tuple.__new__(KINDS[check(message)], message[1:])  # type: ignore[no-any-return]
