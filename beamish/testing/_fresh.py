"""A fresh node per example: for Hypothesis tests, where a function-scoped fixture cannot
serve each example.

>>> async def double(x):
...     return 2 * x
>>> run_on_node(double, 21)
42
>>> run_on_node(double, 21, backend="trio")
42

Semantics
---------
- ``run_on_node(fn, *args)`` starts a node on virtual time, runs ``fn(*args)`` as its first
  process, stops the node and returns ``fn``'s result. A crash in ``fn`` (a failed
  ``assert``) is raised here; another exit reason raises ``Exited``. Call it from a
  synchronous test, one call per example.
- ``NodeSession`` keeps one node running in a thread of its own, between calls from
  synchronous code: ``ActorMachine`` runs each stateful example on one.
- ``backend`` is ``"asyncio"`` or ``"trio"`` (with ``MockClock(autojump_threshold=0)``): on
  both, virtual time jumps ahead whenever every process waits, so a timeout costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.from_thread

from ..actors import Node, check_async_function
from ..runtime import run_main, start

BACKEND_NAMES = ("asyncio", "trio")


def backend_options(backend: str) -> dict[str, Any]:
    """anyio ``backend_options`` for a virtual-time test on ``backend``."""
    if backend == "trio":
        from trio.testing import MockClock

        return {"clock": MockClock(autojump_threshold=0)}
    if backend == "asyncio":
        return {}
    raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {backend!r}")


def run_on_node(
    fn: Callable[..., Coroutine[Any, Any, Any]],
    *args: Any,
    backend: str = "asyncio",
    name: str = "test@localhost",
) -> Any:
    """Run ``fn(*args)`` as the first process of a fresh node on virtual time; return its
    result. Made for Hypothesis ``@given`` tests: call it once per example, from a
    synchronous test (a function-scoped fixture such as ``node`` cannot serve examples).

    Args:
        fn: an async function.
        *args: passed to ``fn``.
        backend: ``"asyncio"`` or ``"trio"`` (with ``MockClock(autojump_threshold=0)``).
        name: the node's name.

    Returns:
        What ``fn`` returned, once the node has stopped.

    Raises:
        Exception: whatever ``fn`` raised (a failed ``assert`` fails the example).
        Exited: ``fn``'s process ended with another reason (an exit signal).
        TypeError: ``fn`` is not an async function.

    Example:
        >>> async def total(numbers):
        ...     return sum(numbers)
        >>> run_on_node(total, [1, 2, 3], backend="trio")
        6
    """
    check_async_function(fn, "run_on_node")
    options = backend_options(backend)

    async def boot() -> tuple[bool, Any]:
        async with start(name=name, virtual_time=True) as node:
            try:  # raised outside the node's block: trio would wrap it in a group
                return True, await run_main(node, fn, *args)
            except Exception as exc:
                return False, exc

    ok, value = anyio.run(boot, backend=backend, backend_options=options)
    if not ok:
        raise value
    return value


class NodeSession:
    """A node on virtual time, running in its own thread until :meth:`close`.

    >>> async def hello(who):
    ...     return f"hello {who}"
    >>> session = NodeSession()
    >>> session.run(hello, "node")
    'hello node'
    >>> session.close()
    """

    def __init__(self, backend: str = "asyncio", name: str = "test@localhost") -> None:
        options = backend_options(backend)
        self._stack = contextlib.ExitStack()
        try:
            self._portal = self._stack.enter_context(
                anyio.from_thread.start_blocking_portal(backend, options)
            )
            self.node: Node = self._stack.enter_context(
                self._portal.wrap_async_context_manager(start(name=name, virtual_time=True))
            )
        except BaseException:
            self._stack.close()
            raise

    def run(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        """Run ``fn(*args)`` as a process of the node and return its result (or raise).

        Processes it starts unlinked (``Actor.start``, ``spawn``) keep running after it
        returns; ``start_link``-ed ones are linked to it, and it exits when it returns.
        """
        check_async_function(fn, "run")
        return self._portal.call(run_main, self.node, fn, *args)

    def close(self) -> None:
        """Stop the node (every process, as on any node's exit) and its thread."""
        self._stack.close()
