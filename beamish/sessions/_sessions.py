"""``Sessions``: the supervision subtree that runs one kind of session on a node."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..actors import Exit, Pid, this_node, whereis
from ..cluster import Cluster
from ..supervision import DynamicSupervisor, Supervisor, SupervisorOptions
from . import _directory as directory
from ._process import KeyValueSession, SessionProcess
from ._ratelimit import SlidingWindow
from ._server import SessionsServer
from ._shared import Shared, install, installed, uninstall
from ._snapshots import SnapshotStore


@dataclass(frozen=True)
class SessionsConfig:
    """The validated options of one ``Sessions`` (see :meth:`Sessions.child_spec`)."""

    name: str = "sessions"
    session: type[SessionProcess] = KeyValueSession
    max_sessions: int | None = 10_000
    ttl: float | None = 3600.0
    rate_limit: tuple[int, float] | None = (100, 60.0)
    snapshots: str | None = None
    snapshot_every: float | None = 30.0
    placement: str = "local"
    scope: str = "auto"
    sweep_interval: float | None = None
    replication: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        if not (isinstance(self.session, type) and issubclass(self.session, SessionProcess)):
            raise TypeError(f"session must be a SessionProcess subclass, got {self.session!r}")
        if self.max_sessions is not None and (
            not isinstance(self.max_sessions, int) or self.max_sessions < 0
        ):
            raise ValueError(f"max_sessions must be None or an int >= 0, got {self.max_sessions!r}")
        if self.ttl is not None and not self.ttl > 0:
            raise ValueError(f"ttl must be None or seconds > 0, got {self.ttl!r}")
        if self.rate_limit is not None:
            SlidingWindow(*self.rate_limit)  # validates
        if self.snapshots is not None:
            SnapshotStore.from_url(self.snapshots)  # validates
        if self.snapshot_every is not None and not self.snapshot_every > 0:
            raise ValueError(
                f"snapshot_every must be None or seconds > 0, got {self.snapshot_every!r}"
            )
        if self.placement not in ("local", "hash"):
            raise ValueError(f"placement must be 'local' or 'hash', got {self.placement!r}")
        if self.scope not in ("auto", "local", "cluster"):
            raise ValueError(f"scope must be 'auto', 'local' or 'cluster', got {self.scope!r}")
        if self.sweep_interval is not None and not self.sweep_interval > 0:
            raise ValueError(f"sweep_interval must be seconds > 0, got {self.sweep_interval!r}")

    def shared(self) -> Shared:
        node = this_node()
        scope = self.scope
        if scope == "auto":
            scope = "cluster" if isinstance(node.remote, Cluster) else "local"
        sweep = self.sweep_interval
        if sweep is None:
            sweep = 60.0 if self.ttl is None else min(60.0, max(self.ttl / 10, 0.1))
        return Shared(
            name=self.name,
            node=node,
            session=self.session,
            max_sessions=self.max_sessions,
            ttl=self.ttl,
            window=None if self.rate_limit is None else SlidingWindow(*self.rate_limit),
            store=None if self.snapshots is None else SnapshotStore.from_url(self.snapshots),
            snapshot_every=self.snapshot_every,
            placement=self.placement,  # type: ignore[arg-type]
            scope=scope,
            sweep_interval=sweep,
            replication=self.replication,
        )


class SessionSupervisor(DynamicSupervisor):
    """The sessions' ``DynamicSupervisor``; it also reports the end of a session that
    exited without running ``terminate`` (killed, or its mailbox overflowed), which it
    learns first, as every session's parent."""

    _shared: Shared | None = None

    async def handle_info(self, message: Any) -> Any:
        if type(message) is Exit:
            session = self._sessions().local.get(message.pid)
            if session is not None:
                session.ended(message.reason)
        return await super().handle_info(message)

    def _sessions(self) -> Shared:
        if self._shared is None:
            self._shared = next(
                s for s in installed(this_node()) if whereis(s.supervisor) == self.pid
            )
        return self._shared


class Sessions(Supervisor):
    """The subtree that runs sessions on a node: put ``Sessions.child_spec(...)`` in your tree.

    Children, in start order (``rest_for_one``: a registry crash restarts everything):

    1. a unique ``Registry`` of session ids (``scope="cluster"`` when the node is
       distributed, so an id is found from every node);
    2. a ``DynamicSupervisor`` of the sessions (``max_children=max_sessions``; sessions
       are ``temporary``: a crashed one is not restarted);
    3. the server: the expiry sweeper, and the door for starts placed here by other nodes.

    The activity table and the rate window belong to this supervisor (made in its
    ``init``): a crash of the sweeper loses neither. Several ``Sessions`` may run on one
    node under different ``name``\\ s.

    Example:
        >>> import beamish
        >>> from beamish import sessions
        >>> from beamish.supervision import Supervisor
        >>> async def main():
        ...     spec = sessions.Sessions.child_spec(max_sessions=2, ttl=60, rate_limit=None)
        ...     await Supervisor.start_link([spec])
        ...     await sessions.start("a")
        ...     await sessions.start("b")
        ...     try:
        ...         await sessions.start("c")
        ...     except sessions.SessionLimitReached as exc:
        ...         return exc.max
        >>> beamish.run(main)
        2
    """

    strategy = "rest_for_one"

    @classmethod
    def child_spec(  # type: ignore[override]
        cls,
        *,
        name: str = "sessions",
        session: type[SessionProcess] = KeyValueSession,
        max_sessions: int | None = 10_000,
        ttl: float | None = 3600.0,
        rate_limit: tuple[int, float] | None = (100, 60.0),
        snapshots: str | None = None,
        snapshot_every: float | None = 30.0,
        placement: str = "local",
        scope: str = "auto",
        sweep_interval: float | None = None,
        replication: Mapping[str, Any] | None = None,
        id: Hashable | None = None,
    ) -> dict[str, Any]:
        """The child spec of a ``Sessions`` subtree; every option is checked now.

        Args:
            name: names this ``Sessions``; the API's ``sessions=`` picks it.
            session: the default ``SessionProcess`` subclass of ``start``.
            max_sessions: most sessions running on this node (None: no limit).
            ttl: seconds a session may stay idle (no call, cast or touch) before the
                sweeper stops it (None: never).
            rate_limit: ``(starts, seconds)``: at most that many starts in any window of
                that many seconds on this node (None: no limit).
            snapshots: ``"sqlite:/path/to/file.db"`` to save and restore session state.
            snapshot_every: with snapshots, save a changed state this often (seconds).
            placement: ``"local"`` (start on the calling node) or ``"hash"`` (on the node
                that owns the id on a consistent-hash ring of the live nodes).
            scope: the registry's: ``"auto"`` (cluster if the node is distributed),
                ``"local"`` or ``"cluster"``.
            sweep_interval: seconds between expiry sweeps (default ``min(60, ttl/10)``).
            replication: options of the cluster registry's replication (such as
                ``{"down_period": 5.0}``: how long a silent node's sessions stay listed).
            id: the child id (default ``("Sessions", name)``).
        """
        config = SessionsConfig(
            name,
            session,
            max_sessions,
            ttl,
            None if rate_limit is None else (rate_limit[0], float(rate_limit[1])),
            snapshots,
            snapshot_every,
            placement,
            scope,
            sweep_interval,
        )
        return {
            "id": ("Sessions", name) if id is None else id,
            "start": (functools.partial(cls.start_link, config), ()),
            "type": "supervisor",
        }

    @classmethod
    async def start_link(cls, config: SessionsConfig | None = None, **options: Any) -> Pid:  # type: ignore[override]
        """Start a ``Sessions`` linked to the caller (options as :meth:`child_spec`)."""
        if config is None:
            config = SessionsConfig(**options)
        return await cls._start((cls._options({}), None, (config,)), None, timeout=None, link=True)

    @classmethod
    async def start(cls, config: SessionsConfig | None = None, **options: Any) -> Pid:  # type: ignore[override]
        """Start a ``Sessions`` not linked to the caller (options as :meth:`child_spec`)."""
        if config is None:
            config = SessionsConfig(**options)
        return await cls._start((cls._options({}), None, (config,)), None, timeout=None, link=False)

    async def init(  # type: ignore[override]
        self, options: SupervisorOptions, children: Sequence[Any] | None, args: tuple[Any, ...]
    ) -> Any:
        (config,) = args
        self.shared = config.shared()
        install(self.shared)
        try:
            result = await super().init(options, None, (self.shared,))
        except BaseException:
            uninstall(self.shared)
            raise
        if result is not None:
            uninstall(self.shared)
        return result

    def children(self, shared: Shared) -> Sequence[Any]:  # type: ignore[override]
        return [
            directory.child_spec(shared.registry, shared.scope, shared.replication),
            SessionSupervisor.child_spec(
                id="sessions", name=shared.supervisor, max_children=shared.max_sessions
            ),
            {
                "id": "server",
                "start": (
                    functools.partial(SessionsServer.start_link, name=shared.server),
                    (shared,),
                ),
            },
        ]

    async def terminate(self, reason: Any) -> None:
        try:
            await super().terminate(reason)
        finally:
            uninstall(self.shared)
            if self.shared.store is not None:
                self.shared.store.close()
