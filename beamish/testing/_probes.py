"""Wait on facts, not on sleeps: ``assert_receive``, ``refute_receive``, telemetry capture.

>>> TelemetryEvent(("a",), {}, {}).event
('a',)

``assert_receive`` waits on the node clock: under ``beamish.testing`` that clock is
virtual, so a generous timeout costs nothing when the message comes and fails in
microseconds of real time when it never does.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from .. import telemetry
from ..actors import receive, this_node
from ..actors import self as self_pid
from ..actors.lowlevel import current_node, current_pid, mailbox_messages

_ids = itertools.count()


def _matcher(pattern: Any) -> Any:
    if pattern is None:
        return lambda message: True
    if isinstance(pattern, type):
        return lambda message: isinstance(message, pattern)
    if callable(pattern):
        return pattern
    return lambda message: message == pattern


async def assert_receive(pattern: Any = None, timeout: float = 5.0) -> Any:
    """Wait for a message matching ``pattern`` (a value, a type or a predicate) and return
    it; fail with the mailbox's contents if none comes within ``timeout`` seconds."""
    try:
        return await receive(_matcher(pattern), timeout)
    except TimeoutError:
        pending = _mailbox_snapshot()
        raise AssertionError(
            f"no message matching {pattern!r} within {timeout}s; mailbox: {pending!r}"
        ) from None


async def refute_receive(pattern: Any = None, timeout: float = 0.1) -> None:
    """Fail if a message matching ``pattern`` arrives within ``timeout`` seconds."""
    try:
        message = await receive(_matcher(pattern), timeout)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message {message!r}")


def _mailbox_snapshot() -> list[Any]:
    node, pid = current_node(), current_pid()
    return list(mailbox_messages(node, pid)) if node is not None and pid is not None else []


class TelemetryEvent(NamedTuple):
    """A telemetry event forwarded to a process by :func:`capture_telemetry`."""

    event: tuple[str, ...]
    measurements: Mapping[str, Any]
    metadata: Mapping[str, Any]


@contextlib.contextmanager
def capture_telemetry(*events: tuple[str, ...]) -> Iterator[None]:
    """Forward ``events`` to the calling process as ``TelemetryEvent`` messages.

    Use with ``assert_receive(TelemetryEvent)`` to wait for a runtime fact (a crash, a
    drop) instead of guessing how long it takes.
    """
    node = this_node()
    me = self_pid()
    handler_id = f"beamish.testing.capture.{next(_ids)}"

    def forward(event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        node.send(me, TelemetryEvent(event, dict(measurements), dict(metadata)))

    telemetry.attach_many(handler_id, events, forward)
    try:
        yield
    finally:
        telemetry.detach(handler_id)
