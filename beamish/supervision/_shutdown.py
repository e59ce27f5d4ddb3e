"""Stopping one child the OTP way (``supervisor.erl`` ``shutdown/2``); see ``shutdown_child``."""

from __future__ import annotations

from typing import Any

from ..actors import (
    KILL,
    SHUTDOWN,
    Down,
    Exit,
    Pid,
    WouldBlock,
    exit,
    monitor,
    receive,
    receive_nowait,
    unlink,
)
from ._spec import Shutdown


async def shutdown_child(pid: Pid, shutdown: Shutdown | None) -> Any:
    """Stop ``pid``, a child linked to the calling process, the OTP way (``supervisor.erl``
    ``shutdown/2``), and return the reason it exited with.

    Monitor the child, unlink it (taking an ``Exit`` it may already have sent), then:

    - ``"brutal_kill"``: ``exit(pid, "kill")`` and wait for the ``Down``;
    - seconds: ``exit(pid, "shutdown")``, wait up to that long, then ``kill`` and wait again;
    - ``"infinity"``: ``exit(pid, "shutdown")`` and wait (for child supervisors).

    Args:
        pid: the child.
        shutdown: ``"brutal_kill"``, seconds, or ``"infinity"`` (``None`` waits as long).

    Returns:
        The child's exit reason: usually ``"shutdown"``, ``"killed"`` after a kill, or the
        reason it had already exited with.
    """
    ref = monitor(pid)
    unlink(pid)

    def is_down(message: Any) -> bool:
        return type(message) is Down and message.ref == ref

    try:
        early = receive_nowait(lambda m: type(m) is Exit and m.pid == pid)
    except WouldBlock:
        early = None
    if early is not None:  # it had already exited on its own
        await receive(is_down)
        return early.reason
    if shutdown == "brutal_kill":
        exit(pid, KILL)
        return (await receive(is_down)).reason
    exit(pid, SHUTDOWN)
    try:
        down = await receive(is_down, None if shutdown == "infinity" else shutdown)
    except TimeoutError:
        exit(pid, KILL)
        down = await receive(is_down)
    return down.reason
