"""Functions that act on the current process, Erlang style (``self()`` is implicit).

>>> import beamish
>>> async def main():
...     async def echo():
...         sender, text = await beamish.receive()
...         beamish.send(sender, text.upper())
...     pid = beamish.spawn(echo)
...     beamish.send(pid, (beamish.self(), "hi"))
...     return await beamish.receive()
>>> beamish.run(main)
'HI'

Each function finds the node through the current process; code outside any process (an
ASGI handler, a test body inside ``runtime.start``) reaches the node it runs under, and
functions that need a process of their own (``link``, ``trap_exits``) raise
``NotInProcess`` there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ._checks import check_async_function, check_pid, check_seconds, check_timeout
from ._context import current_node, current_process
from ._errors import NotInProcess, SelfExit
from ._mailbox import Match, Overflow
from ._names import Dest
from ._node import Node
from ._pid import Pid, Ref
from ._process import Process, ProcessInfo
from ._reasons import KILL, KILLED, NORMAL, Reason, is_normal

AsyncFn = Callable[..., Coroutine[Any, Any, Any]]


NO_NODE = (
    "no beamish node runs here: start one with beamish.run(main) or "
    "`async with beamish.runtime.start() as node:`; code in a task the node did not start "
    "(a web request handler) enters a running node with `with node:`"
)


def this_node() -> Node:
    """The node the calling code runs on.

    Inside a process, that process's node; outside any process, the node entered with
    ``with node:`` in this task (see :meth:`Node.__enter__`).

    Raises:
        NotInProcess: no node runs here. Its message says how to start or enter one.

    >>> this_node()  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    beamish.NotInProcess: no beamish node runs here: start one with beamish.run(main) or
    `async with beamish.runtime.start() as node:`; code in a task the node did not start
    (a web request handler) enters a running node with `with node:`
    """
    proc = current_process.get(None)
    if proc is not None:
        return proc._node
    node = current_node.get(None)
    if node is None:
        raise NotInProcess(NO_NODE)
    return node


def current() -> Process:
    proc = current_process.get(None)
    if proc is None:
        raise NotInProcess("this needs to run inside a beamish process")
    return proc


def self() -> Pid:
    """The pid of the calling process (Erlang's ``self()``).

    Raises:
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     return beamish.self().node
        >>> beamish.run(main, name="app@localhost")
        'app@localhost'
    """
    proc = current_process.get(None)
    if proc is None:
        raise NotInProcess("self() needs to run inside a beamish process")
    return proc.pid


def _check_spawnable(fn: Any, what: str) -> None:
    if fn is receive:  # it returns a wait on the *caller's* mailbox, not a new process's
        raise TypeError(
            "spawn(receive) would wait on the spawner's mailbox: wrap it in an async def"
        )
    check_async_function(fn, what)


def spawn(
    fn: AsyncFn, *args: Any, mailbox_limit: int | None = None, overflow: Overflow = "drop_newest"
) -> Pid:
    """Start ``fn(*args)`` as a new process and return its pid at once (Erlang's
    ``spawn``).

    The process runs concurrently with its parent, as one task of the event loop, and
    exits when ``fn`` returns (reason ``"normal"``), raises (the exception is the reason,
    logged with its traceback), or gets an exit signal. Nothing links or monitors it:
    use :func:`spawn_link` or :func:`spawn_monitor` to hear of its exit.

    Args:
        fn: an ``async`` function; its return value is discarded.
        *args: passed to ``fn``.
        mailbox_limit: the most messages the mailbox holds; ``None`` (the default) for no
            bound.
        overflow: what a full mailbox does with one more message: ``"drop_newest"`` drops
            it, ``"drop_oldest"`` drops the oldest waiting one, ``"exit"`` makes the
            receiver exit with ``MailboxFull``. Every drop is counted in telemetry
            (``MAILBOX_DROP``).

    Returns:
        The new process's pid.

    Raises:
        TypeError: ``fn`` is not an async function (checked before anything runs:
            a plain function is not called, a class is not instantiated).
        NotInProcess: no node runs here.

    Example:
        >>> import beamish
        >>> async def main():
        ...     async def worker(n):
        ...         await beamish.sleep(0.01)
        ...         beamish.send(parent, n * 2)
        ...     parent = beamish.self()
        ...     beamish.spawn(worker, 21)
        ...     return await beamish.receive(timeout=1)
        >>> beamish.run(main)
        42
    """
    _check_spawnable(fn, "spawn")
    proc = current_process.get(None)
    node = proc._node if proc is not None else this_node()
    return node._spawn(
        fn, args, None, mailbox_limit, overflow, proc.pid if proc is not None else None, proc
    )


def spawn_link(
    fn: AsyncFn, *args: Any, mailbox_limit: int | None = None, overflow: Overflow = "drop_newest"
) -> Pid:
    """Like :func:`spawn`, linked to the calling process before the new one runs.

    A link is two-way: when either process exits with an abnormal reason, the other gets
    the exit signal and exits with the same reason, unless it traps exits
    (:func:`trap_exits`), in which case it receives ``Exit(pid, reason)``.

    Raises:
        TypeError: ``fn`` is not an async function (checked before anything runs:
            a plain function is not called, a class is not instantiated).
        NotInProcess: the caller is not a process (there is nothing to link to).

    Example:
        >>> import beamish
        >>> async def main():
        ...     async def child():
        ...         beamish.exit(beamish.self(), "boom")
        ...     async def parent():
        ...         beamish.spawn_link(child)
        ...         await beamish.sleep(60)
        ...     pid, ref = beamish.spawn_monitor(parent)
        ...     return (await beamish.receive()).reason  # the linked child took it down
        >>> beamish.run(main)
        'boom'
    """
    _check_spawnable(fn, "spawn_link")
    proc = current()
    return proc._node._spawn(fn, args, proc, mailbox_limit, overflow, proc.pid, proc)


def spawn_monitor(
    fn: AsyncFn, *args: Any, mailbox_limit: int | None = None, overflow: Overflow = "drop_newest"
) -> tuple[Pid, Ref]:
    """Like :func:`spawn`, monitored by the calling process from before it runs.

    Returns:
        ``(pid, ref)``: ``Down(ref, pid, reason)`` arrives once when the process exits.

    Raises:
        TypeError: ``fn`` is not an async function (checked before anything runs:
            a plain function is not called, a class is not instantiated).
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     pid, ref = beamish.spawn_monitor(beamish.sleep, 0)
        ...     down = await beamish.receive()
        ...     return down == beamish.Down(ref, pid, "normal")
        >>> beamish.run(main)
        True
    """
    _check_spawnable(fn, "spawn_monitor")
    proc = current()
    node = proc._node
    pid = node._spawn(fn, args, None, mailbox_limit, overflow, proc.pid, proc)
    return pid, node._monitor(proc, pid)


def send(dest: Dest, message: Any) -> None:
    """Send ``message`` to a process (Erlang's ``!``).

    Never blocks and never waits for the receiver. Messages from one sender to one
    receiver arrive in the order they were sent. A message to a dead pid is dropped, as in
    Erlang: monitor the receiver to know it is gone. Local messages are passed as they are
    (share nothing mutable); messages to another node are copied over the wire. A process
    that an exit signal has ended (``is_alive`` is False) sends nothing, even from code
    that catches the cancellation.

    Args:
        dest: a pid, a name registered on this node, ``(name, node)``, or
            ``via(resolver, key)``.
        message: any value.

    Raises:
        NoProc: ``dest`` is a name that nobody registered (a ``LookupError``).
        NotInProcess: no node runs here.

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.send(beamish.self(), "hello")
        ...     return await beamish.receive()
        >>> beamish.run(main)
        'hello'
    """
    proc = current_process.get(None)
    if proc is not None:
        if proc._pending_reason is not None:
            return  # an exit signal has ended the sender: a dead process sends nothing
        node = proc._node
    else:
        node = this_node()
    if type(dest) is Pid and dest[0] == node.name and dest[2] == node.creation:
        target = node._table.get(dest[1])  # Node.send's local fast path, inlined
        if target is not None and target.alive:
            target._deliver(message)
        return
    node.send(dest, message)


def receive(match: Match | None = None, timeout: float | None = None) -> Awaitable[Any]:
    """Take a message from the calling process's mailbox, waiting for one if need be
    (Erlang's ``receive``).

    Without ``match``, the oldest message. With ``match``, the oldest message for which
    ``match(message)`` is true; every other message stays where it was (Erlang's save
    queue), so a later ``receive()`` still sees them in arrival order.

    While messages are waiting, ``receive`` returns without yielding to the event loop,
    except once every 64 messages: a process draining a full mailbox runs fast, yet cannot
    starve the others, and still sees cancellation.

    One task per process waits in ``receive``: a second task of the same process that would
    wait too gets ``RuntimeError`` at once. To wait on the mailbox and on something else (a
    socket), let a helper task of the process forward the other events with
    ``send(self(), event)``. Once an exit signal has ended the process, ``receive`` no
    longer waits, even inside a user's shield.

    Args:
        match: a predicate on messages; ``None`` takes any message.
        timeout: seconds on the node clock (virtual under ``beamish.testing``); ``None``
            waits forever, ``0`` only looks at what is there.

    Returns:
        The message, removed from the mailbox.

    Raises:
        TimeoutError: no matching message came within ``timeout``.
        NotInProcess: the caller is not a process (code under ``with node:`` or inside
            ``runtime.start`` has no mailbox).

    Example:
        >>> import beamish
        >>> async def main():
        ...     me = beamish.self()
        ...     for message in ("a", 1, "b", 2):
        ...         beamish.send(me, message)
        ...     first_int = await beamish.receive(lambda m: isinstance(m, int))
        ...     rest = [await beamish.receive() for _ in range(3)]
        ...     try:
        ...         await beamish.receive(timeout=0.1)
        ...     except TimeoutError:
        ...         return first_int, rest
        >>> beamish.run(main)
        (1, ['a', 'b', 2])
    """
    proc = current_process.get(None)
    if proc is None:
        raise NotInProcess("receive() needs to run inside a beamish process")
    if timeout is not None:
        check_timeout(timeout)
    elif match is None:
        return proc.receive_any()
    return proc.receive(match, timeout)


def receive_nowait(match: Match | None = None) -> Any:
    """Like :func:`receive`, but never waits: takes a message that is already there.

    Raises:
        WouldBlock: no (matching) message is waiting.
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.send(beamish.self(), "here")
        ...     first = beamish.receive_nowait()
        ...     try:
        ...         beamish.receive_nowait()
        ...     except beamish.WouldBlock:
        ...         return first
        >>> beamish.run(main)
        'here'
    """
    return current().receive_nowait(match)


def link(pid: Pid) -> None:
    """Link the calling process with ``pid``, both ways (Erlang's ``link``).

    From then on, when either exits with an abnormal reason, the other gets the exit
    signal: it exits with the same reason, or, if it traps exits, receives
    ``Exit(pid, reason)``. Linking to a process that is not alive sends the caller the exit
    signal ``"noproc"`` at once; over a lost connection, ``"noconnection"``.

    Raises:
        TypeError: ``pid`` is a name, not a pid (Erlang's ``badarg``): use ``whereis``.
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.trap_exits(True)
        ...     pid = beamish.spawn(beamish.sleep, 0.01)
        ...     beamish.link(pid)
        ...     return await beamish.receive()  # Exit, "normal" included, when trapping
        >>> beamish.run(main).reason
        'normal'
    """
    check_pid(pid, "link")
    proc = current()
    proc._node._link(proc, pid)


def unlink(pid: Pid) -> None:
    """Remove the link between the calling process and ``pid``, both ways.

    No exit signal from ``pid`` arrives after this returns. Unlinking a process that is
    not linked does nothing.

    Raises:
        TypeError: ``pid`` is a name, not a pid (Erlang's ``badarg``): use ``whereis``.
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     pid = beamish.spawn_link(beamish.sleep, 60)
        ...     beamish.unlink(pid)
        ...     beamish.exit(pid, "boom")  # the caller, no longer linked, lives on
        ...     return beamish.process_info(beamish.self()).links
        >>> beamish.run(main)
        ()
    """
    check_pid(pid, "unlink")
    proc = current()
    proc._node._unlink(proc, pid)


def monitor(dest: Dest) -> Ref:
    """Watch ``dest`` one way: one ``Down(ref, pid, reason)`` message arrives when it exits
    (Erlang's ``monitor``).

    A monitor fires exactly once: when the process exits, or at once with ``"noproc"`` if it
    is not alive, or with ``"noconnection"`` if its node's connection is lost. Unlike a
    link it never kills the watcher, and each call makes a new, independent monitor.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.

    Returns:
        The monitor's reference, the ``ref`` of its ``Down`` and the argument of
        :func:`demonitor`.

    Raises:
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     pid = beamish.spawn(beamish.sleep, 0.01)
        ...     ref = beamish.monitor(pid)
        ...     down = await beamish.receive()
        ...     return down.ref == ref, down.reason
        >>> beamish.run(main)
        (True, 'normal')
    """
    proc = current()
    return proc._node._monitor(proc, dest)


def demonitor(ref: Ref, flush: bool = False) -> bool:
    """Stop a monitor made by :func:`monitor` (Erlang's ``demonitor``).

    Args:
        ref: the monitor's reference.
        flush: also remove the monitor's ``Down`` if it is already in the mailbox.

    Returns:
        ``True`` if the monitor was active, ``False`` if it had fired or was unknown.

    Raises:
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     pid = beamish.spawn(beamish.sleep, 0)
        ...     ref, other = beamish.monitor(pid), beamish.monitor(pid)
        ...     await beamish.receive(lambda m: m.ref == other)  # the exit sent both Downs
        ...     beamish.demonitor(ref, flush=True)  # takes ref's Down out of the mailbox
        ...     return beamish.process_info(beamish.self()).message_queue_len
        >>> beamish.run(main)
        0
    """
    proc = current()
    return proc._node._demonitor(proc, ref, flush)


def exit(dest: Dest, reason: Reason) -> None:
    """Send an exit signal to ``dest`` (Erlang's ``exit/2``).

    What the target does with it:

    - ``"kill"``: exits ``"killed"``, whether or not it traps exits.
    - it traps exits: receives ``Exit(sender, reason)`` and goes on.
    - ``"normal"``: ignored, unless the target is the caller itself, which then exits
      ``"normal"``.
    - any other reason: exits with that reason.

    Args:
        dest: a pid, a registered name, ``(name, node)`` or ``via(resolver, key)``.
        reason: the exit reason, or ``"kill"``.

    Example:
        >>> import beamish
        >>> async def main():
        ...     pid, ref = beamish.spawn_monitor(beamish.sleep, 60)
        ...     beamish.exit(pid, "kill")
        ...     return (await beamish.receive()).reason
        >>> beamish.run(main)
        'killed'
    """
    proc = current_process.get(None)
    node = proc._node if proc is not None else this_node()
    if proc is not None:
        target = node.resolve(dest)
        if target == proc.pid:
            if isinstance(reason, str) and reason == KILL:
                raise SelfExit(KILLED)
            if not proc.trap_exits:
                raise SelfExit(NORMAL if is_normal(reason) else reason)
    node.exit(proc.pid if proc is not None else node.system_pid, dest, reason)


def trap_exits(flag: bool = True) -> bool:
    """Turn exit signals into ``Exit(pid, reason)`` messages (``True``), or back (Erlang's
    ``process_flag(trap_exit, ...)``).

    A process that traps exits survives the death of the processes it is linked to, and
    hears of it as a message; only ``"kill"`` still kills it. Servers started with
    ``start_link`` that trap exits stop gracefully (running ``terminate``) when their parent
    exits.

    Args:
        flag: trap (``True``) or not (``False``).

    Returns:
        The previous setting.

    Raises:
        NotInProcess: the caller is not a process.

    Example:
        >>> import beamish
        >>> async def main():
        ...     async def crash():
        ...         raise ValueError("boom")
        ...     beamish.trap_exits(True)
        ...     pid = beamish.spawn_link(crash)
        ...     exit_message = await beamish.receive()
        ...     return exit_message.pid == pid, repr(exit_message.reason)
        >>> beamish.run(main)
        (True, "ValueError('boom')")
    """
    proc = current()
    old = proc.trap_exits
    proc.trap_exits = flag
    return old


def register(name: str, pid: Pid | None = None) -> None:
    """Give a live local process a name (Erlang's ``register``).

    ``send``, ``call``, ``cast``, ``monitor`` and ``exit`` then accept the name wherever they
    accept the pid, and ``(name, node)`` reaches it from other nodes. A process has at most
    one name, and a name belongs to one process; the name vanishes when the process exits.

    Args:
        name: the name.
        pid: the process to name; the caller by default.

    Raises:
        NameTaken: the name is registered, or the process already has a name.
        NoProc: ``pid`` is not alive.

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.register("main")
        ...     beamish.send("main", "by name")
        ...     return await beamish.receive()
        >>> beamish.run(main)
        'by name'
    """
    if pid is None:
        pid = self()
    else:
        check_pid(pid, "register")
    this_node().register(name, pid)


def unregister(name: str) -> bool:
    """Remove a local name (Erlang's ``unregister``); the process keeps running.

    Returns:
        ``False`` if the name was not registered.

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.register("main")
        ...     return beamish.unregister("main"), beamish.unregister("main")
        >>> beamish.run(main)
        (True, False)
    """
    return this_node().unregister(name)


def whereis(name: str) -> Pid | None:
    """The pid registered as ``name`` on the local node, or ``None`` (Erlang's ``whereis``).

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.register("main")
        ...     found = beamish.whereis("main") == beamish.self()
        ...     beamish.unregister("main")
        ...     return found, beamish.whereis("main")
        >>> beamish.run(main)
        (True, None)
    """
    proc = current_process.get(None)
    return (proc._node if proc is not None else this_node())._names.get(name)


def send_after(dest: Dest, message: Any, seconds: float) -> Ref:
    """Send ``message`` to ``dest`` after ``seconds`` on the node clock (Erlang's
    ``erlang:send_after``).

    A timer aimed at a pid dies with that pid. Under ``beamish.testing`` the clock is
    virtual, so a one-hour timer fires at once.

    Args:
        dest: a pid or any other destination; a name is resolved when the timer fires
            (and the message dropped if nobody has the name then).
        message: any value.
        seconds: the delay.

    Returns:
        The timer's reference, for :func:`cancel_timer`.

    Raises:
        TypeError: ``seconds`` is not a number.

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.send_after(beamish.self(), "late", 0.05)
        ...     beamish.send(beamish.self(), "now")
        ...     return [await beamish.receive(), await beamish.receive()]
        >>> beamish.run(main)
        ['now', 'late']
    """
    check_seconds(seconds)
    return this_node().send_after(dest, message, seconds)


def cancel_timer(ref: Ref) -> float | None:
    """Cancel a :func:`send_after` timer (Erlang's ``erlang:cancel_timer``).

    Returns:
        The seconds it had left, or ``None`` if it had fired already (its message may
        then be in the mailbox) or was unknown.

    Example:
        >>> import beamish
        >>> async def main():
        ...     ref = beamish.send_after(beamish.self(), "never", 10)
        ...     left = beamish.cancel_timer(ref)
        ...     return 9 < left <= 10, beamish.cancel_timer(ref)
        >>> beamish.run(main)
        (True, None)
    """
    return this_node().cancel_timer(ref)


async def sleep(seconds: float) -> None:
    """Sleep ``seconds`` on the node clock.

    Unlike ``anyio.sleep``, this follows the node's clock, which is virtual under
    ``beamish.testing`` (and with ``virtual_time=True``): a test's hour passes at once.
    The mailbox is not read meanwhile; use ``receive(timeout=...)`` to wait for a message
    or a deadline.

    Raises:
        TypeError: ``seconds`` is not a number.

    Example:
        >>> import beamish
        >>> async def main():
        ...     await beamish.sleep(3600)  # virtual time: no real hour passes
        ...     return "later"
        >>> beamish.run(main, virtual_time=True)
        'later'
    """
    check_seconds(seconds)
    await this_node().sleep(seconds)


def make_ref() -> Ref:
    """A new reference, unique on this node and across nodes (Erlang's ``make_ref``).

    Tag a request with one to match its answer in ``receive``.

    Example:
        >>> import beamish
        >>> async def main():
        ...     ref = beamish.make_ref()
        ...     beamish.send(beamish.self(), ("other", beamish.make_ref()))
        ...     beamish.send(beamish.self(), ("answer", ref))
        ...     return await beamish.receive(lambda m: m[1] == ref)
        >>> beamish.run(main)[0]
        'answer'
    """
    return this_node().make_ref()


def process_info(pid: Pid) -> ProcessInfo | None:
    """A snapshot of a local process: status, name, mailbox length, links, monitors
    (Erlang's ``process_info``).

    Returns:
        A ``ProcessInfo``, or ``None`` if ``pid`` is not alive.

    Raises:
        TypeError: ``pid`` is a name, not a pid (Erlang's ``badarg``): use ``whereis``.

    Example:
        >>> import beamish
        >>> async def main():
        ...     beamish.register("main")
        ...     beamish.send(beamish.self(), "waiting")
        ...     info = beamish.process_info(beamish.self())
        ...     return info.name, info.message_queue_len
        >>> beamish.run(main)
        ('main', 1)
    """
    check_pid(pid, "process_info")
    return this_node().process_info(pid)


def is_alive(pid: Pid) -> bool:
    """``True`` while the local process ``pid`` has not started exiting.

    Raises:
        TypeError: ``pid`` is a name, not a pid (Erlang's ``badarg``): use ``whereis``.

    Example:
        >>> import beamish
        >>> async def main():
        ...     pid, ref = beamish.spawn_monitor(beamish.sleep, 0)
        ...     alive = beamish.is_alive(pid)
        ...     await beamish.receive()
        ...     return alive, beamish.is_alive(pid)
        >>> beamish.run(main)
        (True, False)
    """
    check_pid(pid, "is_alive")
    return this_node().is_alive(pid)
