"""``TaskSupervisor`` (Elixir's ``Task.Supervisor``); its contract is on :class:`TaskSupervisor`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..actors import (
    CallTimeout,
    Down,
    Exited,
    Pid,
    Ref,
    demonitor,
    link,
    make_ref,
    monitor,
    receive,
    send,
    spawn_link,
)
from ..actors import exit as exit_signal
from ..actors import self as self_pid
from ._dynamic import DynamicSupervisor
from ._spec import ChildSpec
from ._supervisor import start_child as _start_child


@dataclass(frozen=True, slots=True)
class _Go:
    """Owner to task: you are monitored, run now (no crash can precede the monitor)."""

    ref: Ref


@dataclass(frozen=True, slots=True)
class TaskReply:
    """The result of a task, sent to its owner."""

    ref: Ref
    value: Any


@dataclass(frozen=True, slots=True)
class Task:
    """A running task started by ``async_`` or ``async_nolink``; only its owner awaits it."""

    pid: Pid
    ref: Ref
    monitor_ref: Ref
    owner: Pid

    async def await_result(self, timeout: float | None = 5.0) -> Any:
        """The task's result; ``Exited`` if it crashed, ``CallTimeout`` after ``timeout``."""

        def ours(message: Any) -> bool:
            return (type(message) is TaskReply and message.ref == self.ref) or (
                type(message) is Down and message.ref == self.monitor_ref
            )

        try:
            message = await receive(ours, timeout)
        except TimeoutError:
            raise CallTimeout(f"task {self.pid!r} gave no result within {timeout}s") from None
        if type(message) is TaskReply:
            demonitor(self.monitor_ref, flush=True)
            return message.value
        raise Exited(message.reason, self.pid)

    def shutdown(self) -> None:
        """Stop the task (``kill``); its result, if any comes, is dropped by ``await``."""
        demonitor(self.monitor_ref, flush=True)
        exit_signal(self.pid, "kill")


async def _run_task(
    owner: Pid, ref: Ref | None, link_owner: bool, fn: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    if ref is not None:  # wait until the owner monitors us (as Elixir's Task does)
        await receive(lambda m: type(m) is _Go and m.ref == ref)
    if link_owner:
        link(owner)
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    if ref is not None:
        send(owner, TaskReply(ref, result))


def _start_task(*args: Any) -> Pid:
    return spawn_link(_run_task, *args)


class TaskSupervisor(DynamicSupervisor):
    """A dynamic supervisor of temporary task processes.

    Semantics (Elixir's ``Task.Supervisor``)
    ----------------------------------------
    - ``async_(sup, fn, *args)`` runs ``fn(*args)`` (sync or async) in a new process under
      ``sup``, *linked to the caller* and monitored by it: ``await task.await_result()``
      returns the result; if the task crashes, the crash reaches the caller through the link
      (it exits too, unless it traps exits, in which case ``await_result`` raises ``Exited``).
    - ``async_nolink`` is the same without the link: a crash only makes ``await_result``
      raise ``Exited(reason)``.
    - ``start_child(sup, fn, *args)`` is fire-and-forget: nobody waits for the result.
    - Tasks are ``temporary`` children: never restarted.
    - ``await_result(timeout)`` raises ``CallTimeout`` when no result comes in time (the task
      keeps running; ``shutdown()`` stops it).

    Example:
        >>> import beamish
        >>> from beamish.supervision import TaskSupervisor
        >>> async def square(x):
        ...     return x * x
        >>> async def main():
        ...     sup = await TaskSupervisor.start_link()
        ...     task = await TaskSupervisor.async_(sup, square, 7)
        ...     return await task.await_result()
        >>> beamish.run(main)
        49
    """

    @staticmethod
    async def async_(sup: Any, fn: Callable[..., Any], *args: Any) -> Task:
        """Run ``fn(*args)`` under ``sup``, linked to and monitored by the caller."""
        return await _spawn_task(sup, fn, args, link_owner=True)

    @staticmethod
    async def async_nolink(sup: Any, fn: Callable[..., Any], *args: Any) -> Task:
        """Run ``fn(*args)`` under ``sup``, monitored (not linked) by the caller."""
        return await _spawn_task(sup, fn, args, link_owner=False)

    @staticmethod
    async def start_child(sup: Any, fn: Callable[..., Any], *args: Any) -> Pid:  # type: ignore[override]
        """Run ``fn(*args)`` under ``sup`` and forget it (no link, no result)."""
        spec = ChildSpec(
            id="task", start=(_start_task, (self_pid(), None, False, fn, args)), restart="temporary"
        )
        pid = await _start_child(sup, spec)
        assert pid is not None
        return pid


async def _spawn_task(
    sup: Any, fn: Callable[..., Any], args: tuple[Any, ...], link_owner: bool
) -> Task:
    owner = self_pid()
    ref = make_ref()
    spec = ChildSpec(
        id="task", start=(_start_task, (owner, ref, link_owner, fn, args)), restart="temporary"
    )
    pid = await _start_child(sup, spec)
    assert pid is not None
    task = Task(pid, ref, monitor(pid), owner)
    send(pid, _Go(ref))
    return task
