"""A parent node for the parent-death test: starts a pool, prints its workers' OS pids,
then waits to be killed (``python tests/workers/parentapp.py SIZE``)."""

from __future__ import annotations

import sys

import anyio

import beamish
from beamish.workers import WorkerPool


async def main(size: int) -> None:
    pool = WorkerPool(size=size)
    await pool.start_link()
    info = await pool.info()
    print("WORKERS", *(w.os_pid for w in info.workers), flush=True)
    await anyio.sleep_forever()


if __name__ == "__main__":
    beamish.run(main, int(sys.argv[1]))
