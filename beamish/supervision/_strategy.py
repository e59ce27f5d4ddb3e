"""Which children a strategy stops and restarts: pure functions over ids.

>>> order = ["a", "b", "c", "d"]
>>> restart_plan("one_for_one", order, "b", restarted={"a", "b", "c", "d"})
([], ['b'])
>>> restart_plan("one_for_all", order, "b", restarted={"a", "b", "c", "d"})
(['d', 'c', 'a'], ['a', 'b', 'c', 'd'])
>>> restart_plan("rest_for_one", order, "b", restarted={"a", "b", "c"})
(['d', 'c'], ['b', 'c'])

``restart_plan`` returns ``(stop, start)``: the siblings to stop, in stop order (reverse
start order), and the children to start again, in start order. ``restarted`` is the set of
ids that are started again after being stopped: every non-temporary child (a temporary
sibling that the strategy stops is removed, as in OTP).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import Any, Literal

from ..actors import is_abnormal

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
STRATEGIES: tuple[Strategy, ...] = ("one_for_one", "one_for_all", "rest_for_one")


def should_restart(restart: str, reason: Any) -> bool:
    """Whether a child with this restart type is restarted after exiting with ``reason``.

    >>> should_restart("transient", "normal"), should_restart("transient", "killed")
    (False, True)
    """
    if restart == "permanent":
        return True
    if restart == "transient":
        return is_abnormal(reason)
    return False


def restart_plan(
    strategy: Strategy,
    order: Sequence[Hashable],
    failed: Hashable,
    restarted: Collection[Hashable],
) -> tuple[list[Hashable], list[Hashable]]:
    """``(stop, start)`` after ``failed`` exited and is to be restarted."""
    if strategy == "one_for_one":
        return [], [failed]
    if strategy == "one_for_all":
        affected = list(order)
    elif strategy == "rest_for_one":
        affected = list(order[order.index(failed) :])
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    stop = [child for child in reversed(affected) if child != failed]
    start = [child for child in affected if child == failed or child in restarted]
    return stop, start
