"""Every telemetry event the beamish runtime emits, in one list.

>>> PROCESS_SPAWN
('beamish', 'process', 'spawn')

| event | measurements | metadata |
| --- | --- | --- |
| ``PROCESS_SPAWN`` | ``count`` | ``node``, ``pid``, ``parent`` |
| ``PROCESS_EXIT`` | ``count`` | ``node``, ``pid``, ``reason`` |
| ``PROCESS_CRASH`` | ``count`` | ``node``, ``pid``, ``reason`` (the exception), ``kind`` |
| ``MAILBOX_DROP`` | ``count``, ``mailbox_len`` | ``node``, ``pid``, ``policy``, ``message`` |
| ``REPLY_DROP`` | ``count`` | ``node``, ``pid`` (a reply that came after its call ended) |
| ``HANDLER_FAILURE`` | ``count`` | ``handler_id``, ``event``, ``error`` |

``PROCESS_CRASH`` is emitted for the exits that are logged (see ``beamish.actors`` reasons
table): a process whose own code raised.
"""

from __future__ import annotations

from ._handlers import HANDLER_FAILURE, Event

PROCESS_SPAWN: Event = ("beamish", "process", "spawn")
PROCESS_EXIT: Event = ("beamish", "process", "exit")
PROCESS_CRASH: Event = ("beamish", "process", "crash")
MAILBOX_DROP: Event = ("beamish", "mailbox", "drop")
REPLY_DROP: Event = ("beamish", "call", "late_reply_dropped")

ALL_EVENTS: tuple[Event, ...] = (
    PROCESS_SPAWN,
    PROCESS_EXIT,
    PROCESS_CRASH,
    MAILBOX_DROP,
    REPLY_DROP,
    HANDLER_FAILURE,
)
