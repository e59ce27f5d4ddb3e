"""Argument checks at the public API: one clear error in the caller, before anything runs.

>>> async def worker(): ...
>>> check_async_function(worker, "spawn")
>>> check_async_function(print, "spawn")
Traceback (most recent call last):
...
TypeError: spawn needs an async function (async def), got <built-in function print>
>>> check_timeout("5")
Traceback (most recent call last):
...
TypeError: timeout must be a number of seconds or None, got '5' (str)

Semantics
---------
- A function to run as a process must be an ``async def`` function (or a
  ``functools.partial`` of one, or an object whose ``__call__`` is one). It is checked
  without calling it: a plain function is not run, a class is not instantiated.
- A timeout is an ``int`` or ``float`` (not a ``bool``, not NaN), or ``None`` for no limit.
- A start name (``name=`` of ``Actor.start``, supervisors, child specs) is, as with Elixir's
  ``GenServer`` ``:name`` option: a ``str`` (a local name), ``via(resolver, key)`` (a
  registry, or ``via(cluster.global_names(), key)`` for a cluster-wide name), or
  ``(name, node)`` for a local name on this node.
"""

from __future__ import annotations

import functools
import inspect
import math
from types import FunctionType
from typing import TYPE_CHECKING, Any

from ._names import Via
from ._pid import Pid

if TYPE_CHECKING:
    from ._node import Node

_CO_COROUTINE = inspect.CO_COROUTINE


def _target(fn: Any) -> Any:
    """What calling ``fn`` runs: through partials, ``functools.wraps`` and ``__call__``."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    plain = inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn)
    if not plain and callable(fn) and not isinstance(fn, type):
        fn = type(fn).__call__  # a callable object: its class's __call__ runs
    return inspect.unwrap(fn) if inspect.isfunction(fn) or inspect.ismethod(fn) else fn


def is_async_function(fn: Any) -> bool:
    """True if calling ``fn`` returns a coroutine, as far as can be told without calling it."""
    if type(fn) is FunctionType and fn.__code__.co_flags & _CO_COROUTINE:
        return True  # the common case, kept cheap: spawn checks every function it runs
    if isinstance(fn, type) or not callable(fn):
        return False
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(_target(fn))


def check_async_function(fn: Any, what: str) -> None:
    """Raise ``TypeError`` unless ``fn`` is an async function; ``what`` names the caller."""
    if type(fn) is FunctionType and fn.__code__.co_flags & _CO_COROUTINE:
        return
    if is_async_function(fn):
        return
    if inspect.iscoroutine(fn):
        fn.close()  # spare the "never awaited" warning: the error says what to do
        raise TypeError(
            f"{what} needs an async function, got a coroutine object {fn!r}: "
            "pass the function and its arguments, not the result of calling it"
        )
    if isinstance(fn, type):
        hint = ""
        if callable(getattr(fn, "start_link", None)):
            hint = f": start an actor with {fn.__name__}.start(...) or .start_link(...)"
        raise TypeError(f"{what} needs an async function, got the class {fn.__name__}{hint}")
    raise TypeError(f"{what} needs an async function (async def), got {fn!r}")


def check_timeout(value: Any, argument: str = "timeout") -> None:
    """Raise unless ``value`` is ``None`` or a number of seconds (``argument`` names it)."""
    if value is None or (type(value) is float and value == value) or type(value) is int:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{argument} must be a number of seconds or None, "
            f"got {value!r} ({type(value).__name__})"
        )
    if math.isnan(value):
        raise ValueError(f"{argument} must be a number of seconds or None, got NaN")


def check_seconds(value: Any, argument: str = "seconds") -> None:
    """Raise unless ``value`` is a number of seconds (``None`` is not accepted)."""
    if value is None:
        raise TypeError(f"{argument} must be a number of seconds, got None")
    check_timeout(value, argument)


def check_pid(value: Any, what: str) -> None:
    """Raise ``TypeError`` unless ``value`` is a pid (Erlang's ``badarg`` for a name)."""
    if type(value) is Pid:
        return
    if isinstance(value, str | Via) or (isinstance(value, tuple) and len(value) == 2):
        raise TypeError(
            f"{what} needs a pid, got the name {value!r}: look it up first "
            f"(whereis({value!r}) for a local name)"
        )
    raise TypeError(f"{what} needs a pid, got {value!r} ({type(value).__name__})")


START_NAMES = "None, a str, via(resolver, key) or (name, node) with this node's name"


def check_start_name(name: Any, node_name: str | None = None) -> str | Via | None:
    """Validate a ``name=`` option; return the name to register (``(n, node)`` becomes ``n``).

    ``node_name``, when known, is the node the process starts on: ``(name, other_node)``
    raises ``ValueError`` (a process registers only on its own node).
    """
    if name is None or isinstance(name, Via):
        return name
    if isinstance(name, str):
        if not name:
            raise ValueError("name must not be empty")
        return name
    if isinstance(name, tuple) and len(name) == 2 and all(isinstance(p, str) for p in name):
        local, node = name
        if node_name is not None and node != node_name:
            raise ValueError(
                f"name {name!r} is on node {node!r}, but the process starts on "
                f"{node_name!r}: a process registers only on its own node"
            )
        return check_start_name(local)
    raise TypeError(f"name must be {START_NAMES}; got {name!r} ({type(name).__name__})")


def register_start_name(node: Node, name: str | Via, pid: Pid) -> None:
    """Register a started process under ``name`` (a local name or a resolver's key)."""
    if isinstance(name, Via):
        name.resolver.register_name(name.key, pid)
    else:
        node.register(name, pid)


def whereis_start_name(node: Node, name: str | Via) -> Pid | None:
    """Who holds ``name`` now (None if nobody)."""
    if isinstance(name, Via):
        return name.resolver.whereis_name(name.key)
    return node.whereis(name)
