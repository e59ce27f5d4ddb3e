"""``SessionProcess``: the behaviour of one user session; ``KeyValueSession``, the default.

Its contract is on :class:`SessionProcess`.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import telemetry
from ..actors import (
    NORMAL,
    Actor,
    Caller,
    Down,
    Exit,
    MailboxFull,
    NoReply,
    Pid,
    Ref,
    Stop,
    demonitor,
    monitor,
    reply,
    send,
    send_after,
    trap_exits,
)
from ..actors import is_normal as is_normal_reason
from . import _directory as directory
from ._errors import SnapshotError
from ._telemetry import SESSION_END, SESSION_START, SNAPSHOT_ERROR, SNAPSHOT_SAVED

if TYPE_CHECKING:
    from ._shared import Shared

_log = logging.getLogger("beamish.sessions")

Selector = Callable[[Any], Any] | Any
"""What ``watch`` selects: a function of the state, or a key of a mapping state."""


class SessionChanged(NamedTuple):
    """Sent to a watcher: ``selector(state)`` of session ``id`` is now ``value``.

    ``key`` is the key the watch was made with (``watch(..., key=)``), else the selector
    when it is a key of the state, else the watch's ``Ref``.
    """

    id: str
    key: Any
    value: Any


CONTROL = "$session"
"""``(CONTROL, op, args)``: a request of the sessions API itself, handled before the user's
callbacks. A plain tuple, so that it crosses to other nodes."""

FAILED = "$session_error"
"""``(FAILED, exception)``: a control request that failed; raised again in the caller."""


class _SaveTick(NamedTuple):
    pass


class _SaveNow(NamedTuple):
    caller: Caller


_SAVE_TICK = _SaveTick()


def module_name(cls: type) -> str:
    """``"module:qualname"``: how a session's class is named in the registry."""
    return f"{cls.__module__}:{cls.__qualname__}"


def deep_size(obj: Any, limit: int = 10_000) -> int:
    """Bytes of ``obj`` and what it holds (containers and instance dicts), by
    ``sys.getsizeof``; each object counted once, at most ``limit`` objects visited."""
    seen: set[int] = set()
    stack = [obj]
    total = 0
    while stack and len(seen) < limit:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.append(vars(item))
    return total


def end_reason(reason: Any) -> str:
    """What ``SESSION_END`` reports for an exit reason (see ``_telemetry``)."""
    if reason == NORMAL:
        return "normal"
    if type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown":
        return reason[1] if reason[1] in ("ttl", "conflict") else "shutdown"
    if reason == "shutdown":
        return "shutdown"
    if _is_conflict(reason):
        return "conflict"
    if isinstance(reason, MailboxFull):
        return "limit"
    if reason == "killed":
        return "killed"
    return "crash"


def _is_conflict(reason: Any) -> bool:
    return type(reason) is tuple and len(reason) == 3 and reason[0] == "name_conflict"


class _Watch:
    __slots__ = ("key", "last", "pid", "selector")

    def __init__(self, pid: Pid, selector: Selector, key: Any, last: Any) -> None:
        self.pid = pid
        self.selector = selector
        self.key = key
        self.last = last


class SessionProcess(Actor):
    """One user session: a process that holds ``self.state``, found by its session id.

    Subclass it and write callbacks, as for an ``Actor``; ``beamish.sessions.start(id,
    session=MySession, args=...)`` runs one per id under the ``Sessions`` subtree:

        your subclass                          the session behaviour
        -------------------------------------  -------------------------------------------
                                               registers the id, records activity,
                                               loads the id's snapshot (if any)
        init_state(args) -> state              no snapshot: the first state
        restore_state(saved, args) -> state    a snapshot: the state to resume with
        handle_call(request, caller)           a ``call(id, ...)`` (touches the ttl)
        handle_cast(request)                   a ``cast(id, ...)`` (touches the ttl)
        handle_info(message)                   any other message
        terminate(reason)                      then: snapshot saved, watchers told no
                                               more, ``session_end`` telemetry

    Return values are the ``Actor``'s (``Reply``, ``NoReply``, ``Stop``...); every callback
    may be ``def`` or ``async def``. Inside, ``self.session_id()`` is the id and
    ``self.state`` the state: ``watch`` selectors and snapshots read ``self.state``.

    Semantics
    ---------
    - The behaviour wraps the callbacks a subclass defines (in ``__init_subclass__``): a
      call or cast records activity for the ttl; after any callback, watchers whose
      selected value changed get ``SessionChanged``; the state is marked for the next
      periodic snapshot. Don't override ``init``: write ``init_state``.
    - A session traps exits, so that ``stop``, the ttl sweeper and its supervisor run
      ``terminate``. An ``Exit`` from another linked process that died abnormally stops the
      session with that reason, as if it did not trap exits; losing its id to another
      node's session after a partition stops it with reason ``("shutdown", "conflict")``.
    - A crash ends the session (its supervisor does not restart it: the next ``start`` of
      the id begins again, from the last snapshot if there is one). A crashed session's
      state is not saved: it may be half-updated.

    Example:
        >>> import beamish
        >>> from beamish import sessions
        >>> from beamish.supervision import Supervisor
        >>> class Cart(sessions.SessionProcess):
        ...     def init_state(self, args):
        ...         return {"items": []}
        ...     def handle_call(self, request, caller):
        ...         if request == "items":
        ...             return self.state["items"][:]
        ...         if request == "whoami":
        ...             return self.session_id()
        ...     def handle_cast(self, item):
        ...         self.state["items"].append(item)
        >>> async def main():
        ...     await Supervisor.start_link([sessions.Sessions.child_spec(session=Cart)])
        ...     await sessions.start("u1")
        ...     await sessions.cast("u1", "apple")
        ...     return await sessions.call("u1", "items"), await sessions.call("u1", "whoami")
        >>> beamish.run(main)
        (['apple'], 'u1')
    """

    state: Any
    _sid: str
    _shared: Shared
    _since: float
    # set on the instance only when they change: an idle session keeps a small __dict__
    _watchers: dict[Ref, _Watch] | None = None
    _dirty: bool = False
    _saved: bytes | None = None

    def init_state(self, args: Any) -> Any:
        """The first state of a session, from ``start(..., args=)``. May be async.

        Default: ``args`` (``{}`` when None).
        """
        return {} if args is None else args

    def restore_state(self, saved: Any, args: Any) -> Any:
        """The state to resume with, given the id's last snapshot. May be async.

        Default: the snapshot as saved (``args`` ignored).
        """
        return saved

    def session_id(self) -> str:
        """This session's id."""
        return self._sid

    # -- the Actor side (the behaviour's own; not for subclasses) --

    def init(self, shared: Shared, session_id: str, args: Any) -> Any:  # type: ignore[override]
        trap_exits(True)
        self._sid = session_id
        self._shared = shared
        self._since = shared.now()
        shared.activity[session_id] = self._since
        shared.local[self.pid] = self
        if shared.store is not None:
            return self._init_restoring(args)
        state = self.init_state(args)
        if inspect.isawaitable(state):
            return self._init_async(state)
        self.state = state
        self._started(False)
        return None

    async def _init_async(self, state: Any) -> None:
        self.state = await state
        self._started(False)

    async def _init_restoring(self, args: Any) -> None:
        store = self._shared.store
        assert store is not None
        data = await store.load(self._sid)
        if data is None:
            state = self.init_state(args)
        else:
            state = self.restore_state(store.decode(data), args)
            self._saved = data
        if inspect.isawaitable(state):
            state = await state
        self.state = state
        self._started(data is not None)
        if self._shared.snapshot_every:
            send_after(self.pid, _SAVE_TICK, self._shared.snapshot_every)

    def _started(self, restored: bool) -> None:
        telemetry.execute(
            SESSION_START,
            {"count": 1},
            {
                "node": self._shared.node.name,
                "id": self._sid,
                "module": module_name(type(self)),
                "pid": self.pid,
                "restored": restored,
            },
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "init" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides init(): a SessionProcess sets itself up there; "
                "write init_state(self, args) instead"
            )
        _wrap_callbacks(cls)

    def _meta(self) -> dict[str, Any]:
        return {"node": self._shared.node.name, "id": self._sid, "module": module_name(type(self))}

    # -- after every callback --

    def _touch(self) -> None:
        shared = self._shared
        shared.activity[self._sid] = shared.node.clock.now()

    def _changed(self) -> None:
        if not self._dirty and self._shared.store is not None:
            self._dirty = True
        if self._watchers:
            self._notify()

    def _select(self, selector: Selector) -> Any:
        if callable(selector):
            return selector(self.state)
        if isinstance(self.state, Mapping):
            return self.state.get(selector)
        return getattr(self.state, selector, None)

    def _notify(self) -> None:
        assert self._watchers is not None
        for ref, watch in list(self._watchers.items()):
            try:
                value = self._select(watch.selector)
            except Exception:
                _log.exception(
                    "session %r: watch selector %r failed; watch dropped", self._sid, watch.selector
                )
                del self._watchers[ref]
                demonitor(ref, flush=True)
                continue
            if value != watch.last:
                watch.last = value
                self._tell(watch.pid, watch.key, value)

    def _tell(self, pid: Pid, key: Any, value: Any) -> None:
        if pid.node == self.pid.node:
            send(pid, SessionChanged(self._sid, key, value))
        else:  # the watcher's node turns it into a SessionChanged (a NamedTuple stays home)
            send((self._shared.server, pid.node), ("changed", pid, self._sid, key, value))

    # -- requests of the sessions API --

    def _control(self, request: tuple[Any, ...], caller: Caller | None) -> Any:
        _, op, args = request
        if op == "touch":
            self._touch()
            return None
        if op == "info":
            return {
                "id": self._sid,
                "pid": self.pid,
                "module": module_name(type(self)),
                "node": self.pid.node,
                "started_at": self._since,
                "last_active": self._shared.activity.get(self._sid),
                "watchers": len(self._watchers or ()),
            }
        if op == "watch":
            selector, key, pid = args
            try:
                value = self._select(selector)
            except Exception as exc:
                return (FAILED, exc)
            ref = monitor(pid)
            if key is None:
                key = ref if callable(selector) else selector
            if self._watchers is None:
                self._watchers = {}
            self._watchers[ref] = _Watch(pid, selector, key, value)
            self._tell(pid, key, value)
            return ref
        if op == "unwatch":
            (ref,) = args
            if self._watchers is None or self._watchers.pop(ref, None) is None:
                return False
            demonitor(ref, flush=True)
            return True
        if op == "save":
            assert caller is not None
            send(self.pid, _SaveNow(caller))
            return NoReply()
        return (FAILED, ValueError(f"unknown sessions request {op!r}"))

    async def _save(self, why: str) -> None:
        store = self._shared.store
        if store is None:
            return
        data = store.encode(self.state)
        self._dirty = False
        if data == self._saved:
            return
        started = self._shared.now()
        await store.save(self._sid, module_name(type(self)), data)
        self._saved = data
        telemetry.execute(
            SNAPSHOT_SAVED,
            {"bytes": len(data), "duration": self._shared.now() - started},
            {
                "node": self._shared.node.name,
                "id": self._sid,
                "module": module_name(type(self)),
                "why": why,
            },
        )

    async def _save_logged(self, why: str) -> None:
        try:
            await self._save(why)
        except SnapshotError as exc:
            _log.error("session %r: snapshot (%s) failed: %s", self._sid, why, exc)
            telemetry.execute(
                SNAPSHOT_ERROR,
                {"count": 1},
                {
                    "node": self._shared.node.name,
                    "id": self._sid,
                    "module": module_name(type(self)),
                    "error": exc,
                },
            )

    async def _system_info(self, message: Any) -> tuple[bool, Any]:
        """Messages of the behaviour itself: (handled, result)."""
        kind = type(message)
        if kind is _SaveTick:
            if self._dirty:
                await self._save_logged("periodic")
            every = self._shared.snapshot_every
            if every:
                send_after(self.pid, _SAVE_TICK, every)
            return True, None
        if kind is _SaveNow:
            try:
                await self._save("request")
            except SnapshotError as exc:
                reply(message.caller, (FAILED, exc))
            else:
                reply(message.caller, True)
            return True, None
        if kind is Down and self._watchers and message.ref in self._watchers:
            del self._watchers[message.ref]
            return True, None
        if kind is Exit:
            if _is_conflict(message.reason):
                return True, Stop(("shutdown", "conflict"))
            if not is_normal_reason(message.reason):
                return True, Stop(message.reason)
        return False, None

    async def _finish(self, reason: Any) -> None:
        why = end_reason(reason)
        if self._shared.store is not None and why in ("normal", "ttl", "shutdown"):
            await self._save_logged("ttl" if why == "ttl" else "stop")
        # the id is free from here: session_end means a new start of it can begin (and
        # restores the snapshot just saved), even while this process is still exiting
        directory.release(self._shared.registry, self._sid)
        self.ended(reason)

    def ended(self, reason: Any) -> None:
        """Forget this session on its node and report its end (once): from ``terminate``,
        or from its supervisor when it exited without running it (killed)."""
        shared = self._shared
        if shared.local.get(self.pid) is not self:
            return
        del shared.local[self.pid]
        shared.activity.pop(self._sid, None)
        telemetry.execute(
            SESSION_END,
            {"count": 1, "lifetime": shared.now() - self._since},
            {**self._meta(), "pid": self.pid, "reason": end_reason(reason)},
        )


def _wrap_callbacks(cls: type[SessionProcess]) -> None:
    """Put the behaviour around the callbacks ``cls`` defines itself."""
    for name, wrap in _WRAPPERS.items():
        fn = cls.__dict__.get(name)
        if fn is not None and not getattr(fn, "beamish_session_wrapped", False):
            wrapped = wrap(fn)
            wrapped.beamish_session_wrapped = True  # type: ignore[attr-defined]
            wrapped.__wrapped__ = fn  # type: ignore[attr-defined]
            wrapped.__doc__ = fn.__doc__
            wrapped.__name__ = fn.__name__
            wrapped.__qualname__ = fn.__qualname__
            setattr(cls, name, wrapped)


def _wrap_call(fn: Any) -> Any:
    if inspect.iscoroutinefunction(fn):

        async def handle_call_async(self: SessionProcess, request: Any, caller: Caller) -> Any:
            if type(request) is tuple and len(request) == 3 and request[0] == CONTROL:
                return self._control(request, caller)
            self._touch()
            result = await fn(self, request, caller)
            self._changed()
            return result

        return handle_call_async

    def handle_call(self: SessionProcess, request: Any, caller: Caller) -> Any:
        if type(request) is tuple and len(request) == 3 and request[0] == CONTROL:
            return self._control(request, caller)
        self._touch()
        result = fn(self, request, caller)
        self._changed()
        return result

    return handle_call


def _wrap_cast(fn: Any) -> Any:
    if inspect.iscoroutinefunction(fn):

        async def handle_cast_async(self: SessionProcess, request: Any) -> Any:
            if type(request) is tuple and len(request) == 3 and request[0] == CONTROL:
                return self._control(request, None)
            self._touch()
            result = await fn(self, request)
            self._changed()
            return result

        return handle_cast_async

    def handle_cast(self: SessionProcess, request: Any) -> Any:
        if type(request) is tuple and len(request) == 3 and request[0] == CONTROL:
            return self._control(request, None)
        self._touch()
        result = fn(self, request)
        self._changed()
        return result

    return handle_cast


def _wrap_info(fn: Any) -> Any:
    async def handle_info(self: SessionProcess, message: Any) -> Any:
        handled, result = await self._system_info(message)
        if handled:
            return result
        result = fn(self, message)
        if inspect.isawaitable(result):
            result = await result
        self._changed()
        return result

    return handle_info


def _wrap_terminate(fn: Any) -> Any:
    async def terminate(self: SessionProcess, reason: Any) -> Any:
        try:
            result = fn(self, reason)
            if inspect.isawaitable(result):
                await result
        finally:
            await self._finish(reason)

    return terminate


_WRAPPERS: dict[str, Callable[[Any], Any]] = {
    "handle_call": _wrap_call,
    "handle_cast": _wrap_cast,
    "handle_info": _wrap_info,
    "terminate": _wrap_terminate,
}

# The base class's own callbacks (Actor's defaults) get the behaviour too.
for _name, _wrap in _WRAPPERS.items():
    _fn = getattr(Actor, _name)
    _wrapped = _wrap(_fn)
    _wrapped.beamish_session_wrapped = True
    setattr(SessionProcess, _name, _wrapped)


class KeyValueSession(SessionProcess):
    """The default session: a key/value map (``self.state`` is a dict).

    Calls: ``("get", key)`` (None if missing), ``("get", key, default)``, ``("put", key,
    value)`` and ``("delete", key)`` (both answer ``"ok"``), ``"get_state"`` (a copy of the
    map), ``"ping"`` (``"pong"``). Casts: ``("put", key, value)``, ``("delete", key)``.
    ``args`` (a mapping) is the first map.
    """

    def init_state(self, args: Any) -> Any:
        return {} if args is None else dict(args)

    def handle_call(self, request: Any, caller: Caller) -> Any:
        match request:
            case ("get", key):
                return self.state.get(key)
            case ("get", key, default):
                return self.state.get(key, default)
            case ("put", key, value):
                self.state[key] = value
                return "ok"
            case ("delete", key):
                self.state.pop(key, None)
                return "ok"
            case "get_state":
                return dict(self.state)
            case "ping":
                return "pong"
        raise ValueError(f"KeyValueSession does not understand the call {request!r}")

    def handle_cast(self, request: Any) -> Any:
        match request:
            case ("put", key, value):
                self.state[key] = value
            case ("delete", key):
                self.state.pop(key, None)
            case _:
                raise ValueError(f"KeyValueSession does not understand the cast {request!r}")
