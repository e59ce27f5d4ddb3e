"""Attach, detach and execute telemetry handlers (a leaf: stdlib only).

The contract is in ``beamish.telemetry``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Event = tuple[str, ...]
Handler = Callable[[Event, Mapping[str, Any], Mapping[str, Any], Any], None]

HANDLER_FAILURE: Event = ("beamish", "telemetry", "handler_failure")

_log = logging.getLogger("beamish.telemetry")


@dataclass(frozen=True, slots=True)
class _Attached:
    handler_id: str
    events: tuple[Event, ...]
    handler: Handler
    config: Any


class HandlerExists(ValueError):
    """Raised by :func:`attach` when ``handler_id`` is already attached."""


# event -> handlers in attach order. Process-wide, as in Erlang's :telemetry: events carry
# the node in their metadata, so several nodes in one interpreter share one handler table.
_by_event: dict[Event, tuple[_Attached, ...]] = {}
_by_id: dict[str, _Attached] = {}


def attach(handler_id: str, event: Event, handler: Handler, config: Any = None) -> None:
    """Attach ``handler`` to one event under ``handler_id``.

    >>> attach("doc-one", ("app", "x"), lambda *a: None)
    >>> detach("doc-one")
    True
    """
    attach_many(handler_id, [event], handler, config)


def attach_many(
    handler_id: str, events: Iterable[Event], handler: Handler, config: Any = None
) -> None:
    """Attach ``handler`` to several events under one ``handler_id``.

    >>> attach_many("doc-many", [("a",), ("b",)], lambda *a: None)
    >>> detach("doc-many")
    True
    """
    if handler_id in _by_id:
        raise HandlerExists(f"telemetry handler {handler_id!r} is already attached")
    entry = _Attached(handler_id, tuple(tuple(e) for e in events), handler, config)
    _by_id[handler_id] = entry
    for event in entry.events:
        _by_event[event] = (*_by_event.get(event, ()), entry)


def detach(handler_id: str) -> bool:
    """Detach a handler; returns False if no handler had that id.

    >>> detach("never-attached")
    False
    """
    entry = _by_id.pop(handler_id, None)
    if entry is None:
        return False
    for event in entry.events:
        rest = tuple(h for h in _by_event.get(event, ()) if h is not entry)
        if rest:
            _by_event[event] = rest
        else:
            _by_event.pop(event, None)
    return True


def list_handlers(prefix: Event = ()) -> list[str]:
    """Ids of the handlers attached to events that start with ``prefix``.

    >>> list_handlers(("no", "such"))
    []
    """
    n = len(prefix)
    return [h.handler_id for h in _by_id.values() if any(e[:n] == prefix for e in h.events)]


def has_handlers(event: Event) -> bool:
    """True when at least one handler listens to ``event`` (lets hot paths skip work).

    >>> has_handlers(("nobody", "listens"))
    False
    """
    return event in _by_event


def execute(
    event: Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
) -> None:
    """Emit ``event`` to every attached handler; a failing handler is detached and logged.

    >>> execute(("nobody", "listens"), {"count": 1})
    """
    handlers = _by_event.get(event)
    if not handlers:
        return
    meta = metadata if metadata is not None else {}
    for entry in handlers:
        try:
            entry.handler(event, measurements, meta, entry.config)
        except Exception as exc:
            detach(entry.handler_id)
            _log.error(
                "telemetry handler %r failed on %r and was detached",
                entry.handler_id,
                event,
                exc_info=exc,
            )
            if event != HANDLER_FAILURE:
                execute(
                    HANDLER_FAILURE,
                    {"count": 1},
                    {"handler_id": entry.handler_id, "event": event, "error": exc},
                )


@contextmanager
def span(prefix: Event, metadata: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Emit ``prefix + ("start",)`` then ``("stop",)`` or ``("exception",)`` with a duration.

    The yielded dict is merged into the stop event's metadata.

    >>> with span(("app", "work"), {"job": 1}) as extra:
    ...     extra["result"] = "done"
    """
    meta = dict(metadata or {})
    start = time.monotonic()
    execute((*prefix, "start"), {"monotonic_time": start}, meta)
    extra: dict[str, Any] = {}
    try:
        yield extra
    except BaseException as exc:
        execute(
            (*prefix, "exception"),
            {"duration": time.monotonic() - start},
            {**meta, **extra, "kind": type(exc).__name__, "reason": exc},
        )
        raise
    execute((*prefix, "stop"), {"duration": time.monotonic() - start}, {**meta, **extra})
