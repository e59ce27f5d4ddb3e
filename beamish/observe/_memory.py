"""A memory estimate for one process: what its state and its mailbox hold.

Python has no per-process heap, so the figure is an estimate: the sizes
(``sys.getsizeof``) of the objects reachable from the state and the mailbox, each counted
once, walking at most ``budget`` objects. Objects shared with the rest of the program
(modules, classes, functions) are not walked.

>>> estimate([]) == sys.getsizeof([])
True
>>> estimate(["x" * 1000]) > 1000
True
"""

from __future__ import annotations

import sys
import types
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

DEFAULT_BUDGET = 10_000
_SHARED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
)
_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None), range)


def estimate(
    root: Any, budget: int = DEFAULT_BUDGET, shared: Callable[[Any], bool] | None = None
) -> int:
    """The bytes reachable from ``root``, each object counted once, at most ``budget`` objects.

    ``shared(obj)`` true: ``obj`` belongs to the whole program (the node, say) and is
    neither counted nor walked.

    Example:
        >>> import sys
        >>> estimate({"a": b"1234"}) >= sys.getsizeof({}) + sys.getsizeof(b"1234")
        True
    """
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack and len(seen) < budget:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED) or (shared is not None and shared(obj)):
            continue
        seen.add(id(obj))
        try:
            total += sys.getsizeof(obj)
        except TypeError:  # an extension object without a size
            continue
        if isinstance(obj, _ATOMS):
            continue
        stack.extend(_referents(obj))
    return total


def _referents(obj: Any) -> Iterable[Any]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield value
    elif isinstance(obj, list | tuple | set | frozenset | deque):
        yield from obj
    elif hasattr(obj, "__dict__") and isinstance(vars(obj), dict):
        yield vars(obj)
    else:
        slots = getattr(type(obj), "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if hasattr(obj, slot):
                yield getattr(obj, slot)
