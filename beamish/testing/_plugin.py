"""The pytest plugin (registered through the ``pytest11`` entry point).

>>> BACKENDS
('asyncio', 'trio')

Fixtures
--------
``node``
    A running node on the test's anyio backend, with virtual time, and the test body
    itself running as a process of it: ``self()``, ``receive``, ``spawn_link``,
    ``monitor`` and ``assert_receive`` work directly in the test. Stopped after the test.

    The test process dies as any process does, and the test fails with ``Exited``
    when it does: a ``spawn_link``-ed process that crashes stops the test body at once
    (unless the test traps exits), and so does ``exit(self(), reason)``. Like ExUnit, a
    test whose process exits before its body returns fails, whatever the reason.

    A function-scoped fixture cannot serve each example of a Hypothesis ``@given``
    test: use ``run_on_node`` or ``ActorMachine`` there (see ``docs/testing.md``).

To run every test on asyncio and trio with virtual time, put this in ``conftest.py``::

    from beamish.testing import anyio_backend  # noqa: F401  (parametrised fixture)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from contextvars import ContextVar
from typing import Any

import pytest

from ..actors import Exited, Node, current_async_library, is_normal
from ..actors.lowlevel import BorrowedProcess, SelfExit, borrow_process, current_pid
from ..runtime import start

BACKENDS = ("asyncio", "trio")
# The process the ``node`` fixture lends the test body (set in the fixture's context).
_test_process: ContextVar[BorrowedProcess] = ContextVar("beamish.test_process")


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """asyncio and trio; trio with ``MockClock(autojump_threshold=0)`` (virtual time)."""
    if request.param == "trio":
        from trio.testing import MockClock

        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return "asyncio"


@pytest.fixture
async def node(anyio_backend: Any) -> AsyncIterator[Node]:
    """A node on virtual time; the test body runs as one of its processes."""
    _require_virtual_time()
    async with start(name="test@localhost", virtual_time=True) as the_node:
        with borrow_process(the_node) as me:
            token = _test_process.set(me)
            try:
                yield the_node
            finally:
                _test_process.reset(token)


def _require_virtual_time() -> None:
    if current_async_library() != "trio":
        return
    import trio
    from trio.testing import MockClock

    if not isinstance(trio.lowlevel.current_clock(), MockClock):
        raise RuntimeError(
            "beamish's node fixture runs on virtual time, and on trio that needs trio's "
            "MockClock: add `from beamish.testing import anyio_backend` to your conftest.py"
        )


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Run an async test that uses ``node`` as that node's test process (see ``node``)."""
    test = pyfuncitem.obj
    if (
        not isinstance(pyfuncitem.funcargs.get("node"), Node)
        or not inspect.iscoroutinefunction(test)
        or hasattr(test, "hypothesis")  # @given: the health check rejects ``node`` anyway
    ):
        return (yield)
    pyfuncitem.obj = _as_test_process(test)
    try:
        return (yield)
    finally:
        pyfuncitem.obj = test


def _as_test_process(
    test: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(test)
    async def run(**kwargs: Any) -> Any:
        me = _test_process.get(None)
        if me is None or current_pid() != me.pid:
            return await test(**kwargs)
        return await _run_as(me, test, kwargs)

    return run


async def _run_as(
    me: BorrowedProcess, test: Callable[..., Coroutine[Any, Any, Any]], kwargs: dict[str, Any]
) -> Any:
    """Run the test body so that an exit signal ending ``me`` cancels it, as it cancels a
    process's own task."""
    try:
        with me.cancel_on_exit():
            try:
                return await test(**kwargs)
            except SelfExit as exc:  # exit(self(), reason): the test process ends itself
                me.exit(exc.reason)
            except BaseException:
                if me.exit_reason is None:
                    raise  # the body's own failure (assert, pytest.fail, ...)
    finally:
        if me.exit_reason is not None:
            _raise_exited(me)
    return None


def _raise_exited(me: BorrowedProcess) -> None:
    reason = me.exit_reason
    error = Exited(reason, me.pid)
    error.add_note(
        "the test process exited before the test returned"
        + ("" if is_normal(reason) else " (an exit signal: a linked process crashed, or exit())")
    )
    raise error from (reason if isinstance(reason, BaseException) else None)
