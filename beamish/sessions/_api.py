"""The sessions API: start, stop, call, cast, touch, find... by session id, from any node.

Each function takes ``sessions=`` (the ``name`` given to ``Sessions.child_spec``; default
``"sessions"``). Contracts are on the functions; ``docs/sessions.md`` is the guide.
"""

from __future__ import annotations

import builtins
from typing import Any

from .. import telemetry
from ..actors import (
    CallTimeout,
    Exited,
    NameTaken,
    NoProc,
    Pid,
    Ref,
    StartError,
)
from ..actors import call as actor_call
from ..actors import cast as actor_cast
from ..actors import self as self_pid
from ..actors import stop as actor_stop
from ..cluster import Cluster
from ..registry import UnknownRegistry
from ..supervision import MaxChildren, start_child
from . import _directory as directory
from ._errors import (
    RateLimitExceeded,
    SessionAlreadyStarted,
    SessionCrashed,
    SessionError,
    SessionLimitReached,
    SessionNotFound,
    SessionTimeout,
    from_wire,
)
from ._ids import check_id
from ._process import CONTROL, FAILED, SessionProcess, deep_size, module_name
from ._ring import HashRing
from ._shared import Shared, lookup, registry_name
from ._telemetry import (
    CALL,
    CAST,
    COMMUNICATION_ERROR,
    RATE_LIMIT_CHECK,
    RATE_LIMIT_EXCEEDED,
    START,
    START_ERROR,
    STOP,
)

DEFAULT = "sessions"


_registries: dict[str, str] = {}


def _registry(sessions: str) -> str:
    """The registry name of the ``Sessions`` called ``sessions`` (as ``Shared`` names it)."""
    name = _registries.get(sessions)
    if name is None:
        name = _registries[sessions] = registry_name(sessions)
    return name


def _whereis(session_id: str, sessions: str) -> Pid | None:
    """The fast path of every lookup: the registry's own read, nothing around it."""
    try:
        return directory.whereis(_registry(sessions), session_id)
    except UnknownRegistry:
        lookup(sessions)  # raises the error that says what to put in the tree
        raise


def find(session_id: str, *, sessions: str = DEFAULT) -> Pid | None:
    """The pid of the session ``session_id`` (on any node), or None: a local dict read.

    Example:
        >>> import beamish
        >>> from beamish import sessions
        >>> from beamish.supervision import Supervisor
        >>> async def main():
        ...     await Supervisor.start_link([sessions.Sessions.child_spec()])
        ...     pid = await sessions.start("abc")
        ...     return sessions.find("abc") == pid, sessions.find("nobody")
        >>> beamish.run(main)
        (True, None)
    """
    return _whereis(session_id, sessions)


def started(session_id: str, *, sessions: str = DEFAULT) -> bool:
    """Whether a session runs under ``session_id`` (on any node this node knows of)."""
    return _whereis(session_id, sessions) is not None


def _not_found(shared: Shared, session_id: Any, operation: str) -> SessionError:
    check_id(session_id)  # an invalid id says so (InvalidSessionId), not "not found"
    error = SessionNotFound(session_id)
    if telemetry.has_handlers(COMMUNICATION_ERROR):
        telemetry.execute(
            COMMUNICATION_ERROR,
            {"duration": 0.0},
            {
                "node": shared.node.name,
                "id": session_id,
                "module": None,
                "operation": operation,
                "reason": "not_found",
            },
        )
    return error


def _pid_of(shared: Shared, session_id: Any, operation: str) -> Pid:
    pid = directory.whereis(shared.registry, session_id)
    if pid is None:
        raise _not_found(shared, session_id, operation)
    return pid


async def start(
    session_id: str,
    session: type[SessionProcess] | None = None,
    args: Any = None,
    *,
    exist_ok: bool = False,
    sessions: str = DEFAULT,
) -> Pid:
    """Start the session ``session_id``: a ``session`` process (default: the ``Sessions``'
    ``session=``) whose ``init_state`` gets ``args``; returns its pid once it runs.

    With ``placement="hash"`` the session starts on the node that owns the id on the hash
    ring of live nodes; otherwise here. A stored snapshot of the id is restored.

    Raises:
        InvalidSessionId: the id is not 1-64 characters of ``[A-Za-z0-9_-]``.
        SessionAlreadyStarted: a session runs under the id (``.pid``); with
            ``exist_ok=True`` its pid is returned instead.
        SessionLimitReached: the node runs ``max_sessions`` already.
        RateLimitExceeded: ``rate_limit`` starts happened in the window.
        SessionCrashed: ``init_state`` (or ``restore_state``) raised (``.reason``).
    """
    shared = lookup(sessions)
    cls = shared.session if session is None else session
    began = shared.now()
    try:
        check_id(session_id)
        if not (isinstance(cls, type) and issubclass(cls, SessionProcess)):
            raise TypeError(f"session must be a SessionProcess subclass, got {cls!r}")
        owner = _owner(shared, session_id)
        if owner is None:
            pid = await start_here(shared, session_id, cls, args, exist_ok)
        else:
            pid = await _start_remote(shared, owner, session_id, cls, args, exist_ok)
    except SessionError as exc:
        telemetry.execute(
            START_ERROR,
            {"duration": shared.now() - began},
            {"node": shared.node.name, "id": session_id, "module": module_name(cls), "reason": exc},
        )
        raise
    telemetry.execute(
        START,
        {"duration": shared.now() - began},
        {"node": shared.node.name, "id": session_id, "module": module_name(cls), "pid": pid},
    )
    return pid


def _owner(shared: Shared, session_id: str) -> str | None:
    """The node a new session goes to, or None for this node."""
    if shared.placement != "hash":
        return None
    remote = shared.node.remote
    if not isinstance(remote, Cluster):
        return None
    owner = HashRing([shared.node.name, *remote.nodes()]).owner(session_id)
    return None if owner == shared.node.name else owner


async def _start_remote(
    shared: Shared,
    owner: str,
    session_id: str,
    cls: type[SessionProcess],
    args: Any,
    exist_ok: bool,
) -> Pid:
    request = ("start", session_id, module_name(cls), args, exist_ok)
    try:
        result = await actor_call((shared.server, owner), request, timeout=15.0)
    except (Exited, CallTimeout):
        # the owner is going away: start here rather than fail the user's request
        return await start_here(shared, session_id, cls, args, exist_ok)
    if type(result) is tuple and len(result) == 2 and result[0] == FAILED:
        raise from_wire(result[1])
    return result  # type: ignore[no-any-return]


async def start_here(
    shared: Shared, session_id: str, cls: type[SessionProcess], args: Any, exist_ok: bool
) -> Pid:
    """Start ``session_id`` on this node (the checks, then the DynamicSupervisor)."""
    existing = directory.whereis(shared.registry, session_id)
    if existing is not None:
        if exist_ok:
            return existing
        raise SessionAlreadyStarted(session_id, existing)
    limit = shared.max_sessions
    if limit is not None and len(shared.local) >= limit:
        raise SessionLimitReached(limit)
    window = shared.window
    if window is not None:
        now = shared.now()
        count = window.count(now)
        meta = {"node": shared.node.name, "limit": window.limit, "window": window.window}
        telemetry.execute(RATE_LIMIT_CHECK, {"count": count}, meta)
        if not window.admit(now):
            telemetry.execute(RATE_LIMIT_EXCEEDED, {"count": count}, meta)
            raise RateLimitExceeded(window.limit, window.window)
    spec = {
        "id": "session",  # not the id: a bearer credential, and trees are shown
        "start": (start_session, (cls, shared, session_id, args)),
        "restart": "temporary",
    }
    try:
        pid = await start_child(shared.supervisor, spec)
    except MaxChildren:
        raise SessionLimitReached(limit if limit is not None else 0) from None
    except StartError as exc:
        if isinstance(exc.reason, NameTaken):
            holder = getattr(exc.reason, "pid", None) or directory.whereis(
                shared.registry, session_id
            )
            if exist_ok and holder is not None:
                return holder  # type: ignore[no-any-return]
            raise SessionAlreadyStarted(session_id, holder) from None
        raise SessionCrashed(session_id, exc.reason) from exc
    assert pid is not None
    return pid


async def start_session(
    cls: type[SessionProcess], shared: Shared, session_id: str, args: Any
) -> Pid:
    """How the sessions' supervisor starts one (a plain function: a spec holds no closure
    per session, which counts at 100,000 sessions)."""
    name = directory.name_for(shared.registry, session_id, module_name(cls))
    return await cls.start_link(shared, session_id, args, name=name)


async def stop(session_id: str, *, timeout: float = 5.0, sessions: str = DEFAULT) -> None:
    """Stop the session ``session_id`` (on any node): it runs ``terminate("normal")``, its
    state is saved (with snapshots), and it exits; returns once it has.

    Raises:
        SessionNotFound: no session runs under the id.
        SessionTimeout: it did not stop within ``timeout`` seconds (it was killed).
    """
    shared = lookup(sessions)
    pid = _pid_of(shared, session_id, "stop")
    began = shared.now()
    module = directory.module_of(shared.registry, session_id)
    try:
        await actor_stop(pid, "normal", timeout)
    except NoProc:
        raise _not_found(shared, session_id, "stop") from None
    except CallTimeout:
        raise SessionTimeout(session_id, timeout) from None
    telemetry.execute(
        STOP,
        {"duration": shared.now() - began},
        {"node": shared.node.name, "id": session_id, "module": module, "pid": pid},
    )


async def call(
    session_id: str, request: Any, timeout: float | None = 15.0, *, sessions: str = DEFAULT
) -> Any:
    """Call the session ``session_id`` (on any node) and return its reply; touches its ttl.

    Raises:
        SessionNotFound: no session runs under the id.
        SessionTimeout: no reply within ``timeout`` seconds (also a ``TimeoutError``).
        SessionCrashed: the session exited before it replied (``.reason``).

    Example:
        >>> import beamish
        >>> from beamish import sessions
        >>> from beamish.supervision import Supervisor
        >>> async def main():
        ...     await Supervisor.start_link([sessions.Sessions.child_spec()])
        ...     await sessions.start("abc")
        ...     await sessions.call("abc", ("put", "lang", "en"))
        ...     return await sessions.call("abc", ("get", "lang"))
        >>> beamish.run(main)
        'en'
    """
    pid = _whereis(session_id, sessions)
    if pid is None:
        raise _not_found(lookup(sessions), session_id, "call")
    if not telemetry.has_handlers(CALL):
        try:
            return await actor_call(pid, request, timeout)
        except (CallTimeout, Exited) as exc:
            raise _call_failed(lookup(sessions), session_id, pid, exc, timeout, 0.0) from None
    shared = lookup(sessions)
    began = shared.now()
    try:
        result = await actor_call(pid, request, timeout)
    except (CallTimeout, Exited) as exc:
        raise _call_failed(shared, session_id, pid, exc, timeout, began) from None
    telemetry.execute(
        CALL,
        {"duration": shared.now() - began},
        {
            "node": shared.node.name,
            "id": session_id,
            "module": directory.module_of(shared.registry, session_id),
            "pid": pid,
            "request": request,
        },
    )
    return result


def _call_failed(
    shared: Shared,
    session_id: str,
    pid: Pid,
    exc: Exception,
    timeout: float | None,
    began: float,
) -> SessionError:
    if isinstance(exc, CallTimeout):
        error: SessionError = SessionTimeout(session_id, timeout)
        reason: Any = "timeout"
    else:
        reason = exc.reason  # type: ignore[attr-defined]
        if reason == "noproc":
            error = SessionNotFound(session_id)
        else:
            error = SessionCrashed(session_id, reason)
    telemetry.execute(
        COMMUNICATION_ERROR,
        {"duration": shared.now() - began if began else 0.0},
        {
            "node": shared.node.name,
            "id": session_id,
            "module": None,
            "operation": "call",
            "reason": reason,
            "pid": pid,
        },
    )
    return error


async def cast(session_id: str, request: Any, *, sessions: str = DEFAULT) -> None:
    """Send ``request`` to the session ``session_id``'s ``handle_cast``; touches its ttl.

    Raises:
        SessionNotFound: no session runs under the id (a cast to a session that dies
            on the way is lost, as any cast).
    """
    shared = lookup(sessions)
    pid = _pid_of(shared, session_id, "cast")
    actor_cast(pid, request)
    if telemetry.has_handlers(CAST):
        telemetry.execute(
            CAST,
            {"count": 1},
            {
                "node": shared.node.name,
                "id": session_id,
                "module": directory.module_of(shared.registry, session_id),
                "pid": pid,
                "request": request,
            },
        )


async def touch(session_id: str, *, sessions: str = DEFAULT) -> None:
    """Refresh the idle ttl of the session ``session_id`` (calls and casts do it too).

    Raises:
        SessionNotFound: no session runs under the id.
    """
    shared = lookup(sessions)
    pid = _pid_of(shared, session_id, "touch")
    if pid.node == shared.node.name:
        if session_id in shared.activity:
            shared.activity[session_id] = shared.now()
            return
        raise _not_found(shared, session_id, "touch")
    actor_cast(pid, (CONTROL, "touch", ()))


def list(*, sessions: str = DEFAULT) -> builtins.list[tuple[str, Pid]]:
    """Every ``(id, pid)`` this node knows of (every node's, with a cluster registry)."""
    return directory.entries(lookup(sessions).registry)


def list_by_module(session: type[SessionProcess], *, sessions: str = DEFAULT) -> builtins.list[str]:
    """The ids of the sessions that run ``session`` (exactly that class)."""
    return directory.entries_of(lookup(sessions).registry, module_name(session))


async def _control(
    shared: Shared,
    session_id: str,
    op: str,
    args: tuple[Any, ...],
    what: str,
    timeout: float | None = 5.0,
) -> Any:
    pid = _pid_of(shared, session_id, what)
    try:
        result = await actor_call(pid, (CONTROL, op, args), timeout)
    except (CallTimeout, Exited) as exc:
        raise _call_failed(shared, session_id, pid, exc, timeout, 0.0) from None
    if type(result) is tuple and len(result) == 2 and result[0] == FAILED:
        raise result[1]
    return result


async def info(session_id: str, *, sessions: str = DEFAULT) -> dict[str, Any]:
    """What the session ``session_id`` says of itself: ``id``, ``pid``, ``module``,
    ``node``, ``started_at`` and ``last_active`` (node clock), ``watchers``.

    Raises:
        SessionNotFound: no session runs under the id.
    """
    return await _control(lookup(sessions), session_id, "info", (), "info")  # type: ignore[no-any-return]


def stats(*, sessions: str = DEFAULT) -> dict[str, Any]:
    """Counts and limits: ``count`` (sessions this node knows of), ``local`` (running here),
    ``by_module``, ``memory`` (bytes of the local sessions' states, by ``sys.getsizeof``
    over what they hold; the runtime's own cost per process is not included),
    ``avg_memory`` (per local session), ``limits``."""
    shared = lookup(sessions)
    local = len(shared.local)
    memory = sum(deep_size(session.state) for session in shared.local.values())
    entries = directory.entries(shared.registry)
    return {
        "count": len(entries),
        "local": local,
        "by_module": directory.by_module(shared.registry),
        "memory": memory,
        "avg_memory": memory // local if local else 0,
        "limits": shared.limits(),
    }


async def watch(session_id: str, selector: Any, key: Any = None, *, sessions: str = DEFAULT) -> Ref:
    """Send the caller ``SessionChanged(id, key, value)`` with ``selector(state)`` now, and
    again whenever it changes (checked after every callback of the session).

    ``selector`` is a function of the state, or a key of a dict state; ``key`` (default:
    the selector if it is a key, else the returned ref) tags the messages. The watch ends
    with ``unwatch``, with the session, or when the caller exits. From another node the
    selector must be a key (a function does not cross the wire). Values are compared with
    ``==``: select copies, not objects the session mutates in place.

    Raises:
        SessionNotFound: no session runs under the id.
    """
    shared = lookup(sessions)
    return await _control(shared, session_id, "watch", (selector, key, self_pid()), "watch")  # type: ignore[no-any-return]


async def unwatch(session_id: str, ref: Ref, *, sessions: str = DEFAULT) -> bool:
    """End the watch ``ref``; False if it was not on. ``SessionNotFound`` if no session."""
    return await _control(lookup(sessions), session_id, "unwatch", (ref,), "unwatch")  # type: ignore[no-any-return]


async def snapshot(session_id: str, *, sessions: str = DEFAULT) -> None:
    """Save the session's state now (off the event loop); returns once it is on disk.

    Raises:
        SessionNotFound: no session runs under the id.
        SnapshotError: the state holds a value the codec cannot carry (named in the
            message), or the ``Sessions`` has no ``snapshots=``.
    """
    shared = lookup(sessions)
    if shared.store is None:
        from ._errors import SnapshotError

        raise SnapshotError(
            f"Sessions {shared.name!r} has no snapshots=: pass "
            "snapshots='sqlite:/path/to/file.db' to Sessions.child_spec"
        )
    await _control(shared, session_id, "save", (), "snapshot", timeout=30.0)
