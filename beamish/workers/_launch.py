"""Starting a worker's OS process so that it cannot outlive its parent.

A worker notices its parent's death on its own in two ways (the connection to the parent
ends; its stdin pipe closes), and both need the worker's GIL: a worker stuck in a C call
that holds the GIL would outlive a SIGKILLed parent by as long as the call lasts. On Linux
the kernel closes that gap: the worker asks for ``PR_SET_PDEATHSIG`` (``SIGKILL``) as it
starts (see ``beamish._worker``), and the kernel kills it when its parent ends.

The kernel sends that signal when the *thread* that forked the worker ends, not the
process. So the worker is forked here, in the event loop's own thread, which lives as long
as the node (trio, and so ``anyio.open_process`` on trio, forks from a cached helper thread
that ends after a few idle seconds), and its end is awaited on a pidfd. Elsewhere than
Linux the process is started with ``anyio.open_process`` and the two GIL-bound ways remain.

>>> import anyio, os, sys
>>> async def main():
...     process = await open_worker([sys.executable, "-c", "pass"], os.environ)
...     code = await process.wait()
...     await process.aclose()
...     return code
>>> anyio.run(main)
0
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol

import anyio
import anyio.lowlevel

PARENT_PID_VARIABLE = "BEAMISH_PARENT_PID"  # set: the worker asks for PR_SET_PDEATHSIG


class WorkerProcess(Protocol):
    """What a port needs of its worker's OS process (``anyio.abc.Process`` has it)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def kill(self) -> None: ...

    async def wait(self) -> int: ...

    async def aclose(self) -> None: ...


async def open_worker(argv: Sequence[str], env: Mapping[str, str]) -> WorkerProcess:
    """Start ``argv`` with a pipe on its stdin (the parent never writes to it: its end
    tells the worker the parent is gone); stdout and stderr are the parent's."""
    if pidfds_work():
        process = _PidfdProcess(argv, {**env, PARENT_PID_VARIABLE: str(os.getpid())})
        await anyio.lowlevel.checkpoint()
        return process
    return await anyio.open_process(argv, stdin=subprocess.PIPE, stdout=None, stderr=None, env=env)


@functools.cache
def pidfds_work() -> bool:
    """Linux 5.3 or later, and no seccomp filter that refuses ``pidfd_open``."""
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


class _PidfdProcess:
    """A child forked in the calling thread, whose end is awaited on a pidfd."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self._popen = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
        try:
            self._pidfd = os.pidfd_open(self._popen.pid)  # it cannot be reaped before this
        except OSError:
            self._popen.kill()
            self._popen.wait()
            raise

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def kill(self) -> None:
        if self._popen.poll() is None:  # not reaped: the pidfd still names our child
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    async def wait(self) -> int:
        while (code := self._popen.poll()) is None:
            await anyio.wait_readable(self._pidfd)  # readable once the process has ended
        return code

    async def aclose(self) -> None:
        """Close the pipe and the pidfd (the process must have been waited for)."""
        if self._popen.stdin is not None:
            self._popen.stdin.close()
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        await anyio.lowlevel.checkpoint()
