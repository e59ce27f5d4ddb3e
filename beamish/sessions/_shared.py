"""The per-node state of one ``Sessions`` subtree, owned by its supervisor.

The subtree's supervisor makes it in its ``init`` and drops it in ``terminate``; the
sweeper and the sessions get it as an argument. So the activity table (id -> last
activity) outlives a crash of the sweeper, as the reference keeps its ETS table in the
supervisor. Found by name with :func:`lookup` (state belongs to the node, not the class).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..actors import Node, Pid, this_node

if TYPE_CHECKING:
    from ._process import SessionProcess
    from ._ratelimit import SlidingWindow
    from ._snapshots import SnapshotStore

Placement = Literal["local", "hash"]


@dataclass(eq=False)
class Shared:
    """What every part of one ``Sessions`` on one node reads and writes."""

    name: str
    node: Node
    session: type[SessionProcess]
    max_sessions: int | None
    ttl: float | None
    window: SlidingWindow | None
    store: SnapshotStore | None
    snapshot_every: float | None
    placement: Placement
    scope: str
    sweep_interval: float
    replication: Mapping[str, Any] | None = None
    registry: str = ""
    supervisor: str = ""
    server: str = ""
    activity: dict[str, float] = field(default_factory=dict)
    local: dict[Pid, SessionProcess] = field(default_factory=dict)
    started: int = 0

    def __post_init__(self) -> None:
        self.registry = registry_name(self.name)
        self.supervisor = f"{self.name}.sessions"
        self.server = f"{self.name}.server"

    def now(self) -> float:
        return self.node.clock.now()

    def limits(self) -> dict[str, Any]:
        window = self.window
        return {
            "max_sessions": self.max_sessions,
            "ttl": self.ttl,
            "rate_limit": None if window is None else (window.limit, window.window),
        }


def registry_name(name: str) -> str:
    """The local name of the registry of the ``Sessions`` called ``name``."""
    return f"{name}.registry"


_instances: dict[Node, dict[str, Shared]] = {}


def install(shared: Shared) -> None:
    """Make ``shared`` findable on its node (the subtree's supervisor, in ``init``)."""
    by_name = _instances.setdefault(shared.node, {})
    if shared.name in by_name:
        raise RuntimeError(f"a Sessions named {shared.name!r} already runs on {shared.node.name}")
    by_name[shared.name] = shared


def uninstall(shared: Shared) -> None:
    """Forget ``shared`` (the subtree's supervisor, in ``terminate``)."""
    by_name = _instances.get(shared.node)
    if by_name is not None and by_name.get(shared.name) is shared:
        del by_name[shared.name]
        if not by_name:
            del _instances[shared.node]


def installed(node: Node) -> list[Shared]:
    """Every ``Sessions`` running on ``node``."""
    return list(_instances.get(node, {}).values())


def lookup(name: str) -> Shared:
    """The ``Sessions`` called ``name`` on this node (``RuntimeError`` if none runs)."""
    node = this_node()
    try:
        return _instances[node][name]
    except KeyError:
        raise RuntimeError(
            f"no Sessions named {name!r} runs on node {node.name}: put "
            f"Sessions.child_spec(name={name!r}, ...) in your supervision tree first"
        ) from None
