"""Topic routes: ``"room:*"`` matches every topic that starts with ``"room:"``.

>>> routes = compile_routes([("room:*", "Room"), ("system", "System")])
>>> route(routes, "room:lobby"), route(routes, "system"), route(routes, "systemx")
('Room', 'System', None)

A pattern ending in ``*`` matches by prefix (``"*"`` alone matches everything); any other
pattern matches only itself. The first matching route wins, as in Phoenix's ``channel``
declarations. Pure functions over plain data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")

Routes = tuple[tuple[str, bool, Any], ...]


def compile_routes(routes: Iterable[tuple[str, T]]) -> Routes:
    """Check and freeze ``(pattern, target)`` pairs; ``ValueError`` for a misplaced ``*``."""
    compiled = []
    for pattern, target in routes:
        if not isinstance(pattern, str):
            raise TypeError(f"a route pattern is a string, not {pattern!r}")
        wildcard = pattern.endswith("*")
        prefix = pattern[:-1] if wildcard else pattern
        if "*" in prefix:
            raise ValueError(f"route {pattern!r}: '*' may only end a pattern")
        compiled.append((prefix, wildcard, target))
    return tuple(compiled)


def route(routes: Routes, topic: str) -> Any:
    """The target of the first route matching ``topic``, or None."""
    for prefix, wildcard, target in routes:
        if topic.startswith(prefix) if wildcard else topic == prefix:
            return target
    return None
