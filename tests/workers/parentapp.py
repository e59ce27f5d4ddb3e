"""A parent node for the parent-death tests: starts a pool, prints its workers' OS pids,
then waits to be killed (``python tests/workers/parentapp.py SIZE [busy]``). With
``busy``, each worker then holds its GIL (it prints ``BUSY`` first)."""

from __future__ import annotations

import sys

import anyio
from workerkit import hold_the_gil

import beamish
from beamish.workers import WorkerPool


async def main(size: int, busy: bool) -> None:
    pool = WorkerPool(size=size)
    await pool.start_link()
    info = await pool.info()
    print("WORKERS", *(w.os_pid for w in info.workers), flush=True)
    if busy:
        await pool.map(hold_the_gil, range(size))
    await anyio.sleep_forever()


if __name__ == "__main__":
    beamish.run(main, int(sys.argv[1]), sys.argv[2:] == ["busy"])
