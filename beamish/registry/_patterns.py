"""Patterns and guards for ``match`` and ``select``: Elixir's match specs, in Python's shape.

>>> bindings = {}
>>> matches((1, Var("x"), ANY), (1, "two", 3), bindings), bindings
(True, {'x': 'two'})
>>> matches({"role": "admin"}, {"role": "admin", "id": 7}, {})
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ANY", "Guard", "Result", "Var", "compile_match", "matches"]

Guard = Callable[[dict[str, Any]], bool]
"""A guard receives the pattern's bindings and says whether the entry is selected."""
Result = Callable[[dict[str, Any]], Any]
"""A result builder receives the pattern's bindings and returns what ``select`` lists."""


class _Any:
    """The wildcard: matches any value and binds nothing (Elixir's ``:_``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self) -> str:
        return "ANY"


ANY: Final = _Any()
"""Matches any value (Elixir's ``:_``)."""


@dataclass(frozen=True, slots=True)
class Var:
    """Matches any value and binds it as ``name`` (Elixir's ``:"$1"``); a name used twice
    in one pattern matches only equal values.

    >>> from beamish.registry import ANY
    >>> (Var("a"), Var("a"), ANY)
    (Var(name='a'), Var(name='a'), ANY)
    """

    name: str


def matches(pattern: Any, value: Any, bindings: dict[str, Any]) -> bool:
    """Whether ``value`` matches ``pattern``; fills ``bindings`` with the ``Var`` names bound.

    Tuples and lists match element by element (same length, same kind), dicts match when
    every key of the pattern is present and its value matches, ``ANY`` matches anything,
    and any other pattern matches an equal value.
    """
    kind = type(pattern)
    if kind is _Any:
        return True
    if kind is Var:
        name = pattern.name
        if name in bindings:
            return bool(bindings[name] == value)
        bindings[name] = value
        return True
    if kind is tuple or kind is list:
        if type(value) is not kind or len(value) != len(pattern):
            return False
        return all(matches(p, v, bindings) for p, v in zip(pattern, value, strict=True))
    if kind is dict:
        if not isinstance(value, dict):
            return False
        return all(k in value and matches(p, value[k], bindings) for k, p in pattern.items())
    return bool(pattern == value)


def compile_match(pattern: Any, guard: Guard | None) -> Callable[[Any], dict[str, Any] | None]:
    """A test of one value against ``pattern`` and ``guard``: the bindings, or None.

    A guard that raises does not select the entry, as a failing guard in a match spec.

    >>> test = compile_match(Var("n"), lambda b: b["n"] > 1)
    >>> test(2), test(0), test("x")
    ({'n': 2}, None, None)
    """
    if type(pattern) is _Any and guard is None:
        return lambda value: {}

    def test(value: Any) -> dict[str, Any] | None:
        bindings: dict[str, Any] = {}
        if not matches(pattern, value, bindings):
            return None
        if guard is not None:
            try:
                if not guard(bindings):
                    return None
            except Exception:
                return None
        return bindings

    return test
