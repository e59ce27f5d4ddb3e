"""The registry of session ids: the one place ``beamish.sessions`` touches ``beamish.registry``.

Each ``Sessions`` runs a unique-key ``Registry`` named ``"<name>.registry"``: a session
registers its id (value: its module's ``"module:qualname"``) before its ``init`` runs, so
a second start of one id fails in the kernel's start handshake. ``scope="cluster"`` makes
the same registry span the cluster: reads stay local dict reads on every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import registry
from ..actors import Pid, Via, is_alive, this_node
from ..registry import Registry


def child_spec(name: str, scope: str, replication: Mapping[str, Any] | None) -> dict[str, Any]:
    """The registry's child spec for a ``Sessions`` called ``name``."""
    options: dict[str, Any] = {} if replication is None else {"replication": replication}
    return Registry.child_spec(
        name=name,
        keys="unique",
        scope="cluster" if scope == "cluster" else "local",
        id="registry",
        **options,
    )


def name_for(reg: str, session_id: str, module: str) -> Via:
    """The start name of session ``session_id`` (registered before its ``init``)."""
    return registry.via(reg, session_id, module)


def release(reg: str, session_id: str) -> None:
    """Give up ``session_id`` (the calling process is its session, ending)."""
    registry.unregister(reg, session_id)


def whereis(reg: str, session_id: str) -> Pid | None:
    """The pid of ``session_id``, or None."""
    return registry.whereis(reg, session_id)


def module_of(reg: str, session_id: str) -> str | None:
    """The ``"module:qualname"`` of ``session_id``'s session, or None."""
    entries = registry.lookup(reg, session_id)
    return entries[0][1] if entries else None


def _live(reg: str) -> list[tuple[str, Pid, str]]:
    """Every ``(id, pid, module)`` this node knows of, without a local session that has
    exited but whose entry the registry has not dropped yet (as ``whereis`` checks)."""
    here = this_node().name
    return [(k, p, m) for k, p, m in registry.select(reg) if p.node != here or is_alive(p)]


def entries(reg: str) -> list[tuple[str, Pid]]:
    """Every ``(id, pid)`` this node knows of."""
    return [(k, p) for k, p, _ in _live(reg)]


def entries_of(reg: str, module: str) -> list[str]:
    """The ids whose session runs ``module`` (a ``"module:qualname"``)."""
    return [k for k, _, m in _live(reg) if m == module]


def by_module(reg: str) -> dict[str, int]:
    """How many sessions run each module."""
    counts: dict[str, int] = {}
    for _, _, module in _live(reg):
        counts[module] = counts.get(module, 0) + 1
    return counts
