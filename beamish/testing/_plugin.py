"""The pytest plugin (registered through the ``pytest11`` entry point).

>>> BACKENDS
('asyncio', 'trio')

Fixtures
--------
``node``
    A running node on the test's anyio backend, with virtual time, and the test body
    itself running as a process of it: ``self()``, ``receive``, ``spawn_link``,
    ``monitor`` and ``assert_receive`` work directly in the test. Stopped after the test.

To run every test on asyncio and trio with virtual time, put this in ``conftest.py``::

    from beamish.testing import anyio_backend  # noqa: F401  (parametrised fixture)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ..actors import Node, current_async_library
from ..actors._context import current_process
from ..runtime import start

BACKENDS = ("asyncio", "trio")


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
        with the_node.anonymous() as me:
            token = current_process.set(me)
            try:
                yield the_node
            finally:
                current_process.reset(token)


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
