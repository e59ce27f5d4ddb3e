"""The host's runtime directory with nodes as real OS processes: a second node named like
a live one is refused and leaves the first one's entry alone; a dead node's entry is taken
over by its successor."""

from __future__ import annotations

import os

import anyio
import pytest
from osnodes import HOST, START, launcher

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),
    pytest.mark.timeout(90),
]

N1 = f"n1@{HOST}"
DISCOVERY = ()  # no --no-discovery: the node announces itself in the runtime directory


async def _exit_status(process) -> int:
    with anyio.fail_after(START):
        return await process.wait()


async def test_a_second_node_with_a_live_name_is_refused_and_leaves_the_entry(tmp_path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    entry = tmp_path / f"beamish-{os.getuid()}" / N1
    async with launcher(tmp_path) as launch:
        first = await launch(N1, options=DISCOVERY, env=env)
        assert entry.read_text() == first.address
        second = await launch(N1, options=DISCOVERY, env=env, ready=False)
        status = await _exit_status(second.process)
        error = second.log.read_text()
        assert status != 0
        assert f"a node named {N1} is already running on this host" in error, error
        assert len(error.strip().splitlines()) == 1, error
        assert entry.read_text() == first.address

        first.kill9()  # its entry stays behind, stale: the next n1 takes it over
        await _exit_status(first.process)
        third = await launch(N1, options=DISCOVERY, env=env)
        assert entry.read_text() == third.address
