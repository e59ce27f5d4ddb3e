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
| ``CLUSTER_NODE_UP`` | ``count`` | ``node``, ``peer`` |
| ``CLUSTER_NODE_DOWN`` | ``count`` | ``node``, ``peer``, ``reason`` |
| ``CLUSTER_HANDSHAKE_FAILED`` | ``count`` | ``node``, ``why`` (wrong cookie, garbage, timeout) |
| ``CLUSTER_BAD_FRAME`` | ``count`` | ``peer``, ``why`` (the connection was closed) |
| ``CLUSTER_MESSAGE_DROPPED`` | ``count`` | ``node``, ``peer``, ``kind``, ``why`` (see below) |
| ``CLUSTER_UNSENDABLE`` | ``count`` | ``node``, ``peer``, ``what``, ``why`` (see below) |
| ``CLUSTER_GLOBAL_CONFLICT`` | ``count`` | ``node``, ``name``, ``winner``, ``loser`` |
| ``CLUSTER_DUPLICATE_NAME`` | ``count`` | ``node``, ``peer``, ``creation`` (of the refused one) |
| ``CLUSTER_SEND_OVERFLOW`` | ``count``, ``bytes`` | ``node``, ``peer``, ``limit`` (it closed) |
| ``CLUSTER_SPAWN_REFUSED`` | ``count`` | ``node``, ``peer``, ``target`` (see ``spawn_modules``) |
| ``WORKER_UP`` | ``count``, ``startup`` (s) | ``pool``, ``worker``, ``os_pid``, ``index`` |
| ``WORKER_DOWN`` | ``count`` | ``pool``, ``worker``, ``os_pid``, ``index``, ``reason`` |
| ``WORKER_OVER_MEMORY`` | ``memory`` (bytes) | ``pool``, ``worker``, ``os_pid``, ``max_memory`` |
| ``WORKER_RECYCLED`` | ``tasks`` | ``pool``, ``worker``, ``os_pid``, ``index`` |
| ``WORKER_TASKS_DROPPED`` | ``count`` | ``pool`` (queued work whose caller had gone) |
| ``LOOP_BLOCKED`` | ``delay`` (s) | ``node``, ``pid`` (or None), ``callback`` (where it blocked) |
| ``SERVER_TRACE`` | ``count`` | ``node``, ``pid``, ``name``, ``kind``, ``message``, ``result`` |

``PROCESS_CRASH`` is emitted for the exits that are logged (see ``beamish.actors`` reasons
table): a process whose own code raised.

``CLUSTER_MESSAGE_DROPPED``: a message from a peer that the node did not deliver, the
connection staying up. ``kind`` is ``"undecodable"`` (a value in it cannot be rebuilt here:
a class only the sender can import, a pickle this node refuses; a call it carried is
answered with the error) or ``"unknown_name"`` (sent to a name nobody holds here: counted,
logged at debug level only, as Erlang drops ``{Name, Node} ! Msg`` silently).

``CLUSTER_UNSENDABLE``: something the runtime sends on its own could not cross (the codec
cannot carry it, or it is over ``max_frame``). ``what`` is ``"reply"`` (the caller gets
``Exited(error)`` instead; the server lives on), ``"exit"`` or ``"down"`` (the signal
crosses with the stand-in reason ``("unsendable", type name, repr)``).

``SERVER_TRACE``: one message a traced server handled (``beamish.actors.trace(pid)``);
``kind`` is ``"call"``, ``"cast"``, ``"info"``, ``"timeout"`` or ``"continue"``, ``result``
what the callback returned.
"""

from __future__ import annotations

from ._handlers import HANDLER_FAILURE, Event

PROCESS_SPAWN: Event = ("beamish", "process", "spawn")
PROCESS_EXIT: Event = ("beamish", "process", "exit")
PROCESS_CRASH: Event = ("beamish", "process", "crash")
MAILBOX_DROP: Event = ("beamish", "mailbox", "drop")
REPLY_DROP: Event = ("beamish", "call", "late_reply_dropped")
CLUSTER_NODE_UP: Event = ("beamish", "cluster", "nodeup")
CLUSTER_NODE_DOWN: Event = ("beamish", "cluster", "nodedown")
CLUSTER_HANDSHAKE_FAILED: Event = ("beamish", "cluster", "handshake_failed")
CLUSTER_BAD_FRAME: Event = ("beamish", "cluster", "bad_frame")
CLUSTER_GLOBAL_CONFLICT: Event = ("beamish", "cluster", "global_conflict")
CLUSTER_MESSAGE_DROPPED: Event = ("beamish", "cluster", "message_dropped")
CLUSTER_UNSENDABLE: Event = ("beamish", "cluster", "unsendable")
CLUSTER_DUPLICATE_NAME: Event = ("beamish", "cluster", "duplicate_name")
CLUSTER_SEND_OVERFLOW: Event = ("beamish", "cluster", "send_overflow")
CLUSTER_SPAWN_REFUSED: Event = ("beamish", "cluster", "spawn_refused")
WORKER_UP: Event = ("beamish", "worker", "up")
WORKER_DOWN: Event = ("beamish", "worker", "down")
WORKER_OVER_MEMORY: Event = ("beamish", "worker", "over_memory")
WORKER_RECYCLED: Event = ("beamish", "worker", "recycled")
WORKER_TASKS_DROPPED: Event = ("beamish", "worker", "tasks_dropped")
LOOP_BLOCKED: Event = ("beamish", "loop", "blocked")
SERVER_TRACE: Event = ("beamish", "server", "trace")

ALL_EVENTS: tuple[Event, ...] = (
    PROCESS_SPAWN,
    PROCESS_EXIT,
    PROCESS_CRASH,
    MAILBOX_DROP,
    REPLY_DROP,
    HANDLER_FAILURE,
    CLUSTER_NODE_UP,
    CLUSTER_NODE_DOWN,
    CLUSTER_HANDSHAKE_FAILED,
    CLUSTER_BAD_FRAME,
    CLUSTER_GLOBAL_CONFLICT,
    CLUSTER_MESSAGE_DROPPED,
    CLUSTER_UNSENDABLE,
    CLUSTER_DUPLICATE_NAME,
    CLUSTER_SEND_OVERFLOW,
    CLUSTER_SPAWN_REFUSED,
    WORKER_UP,
    WORKER_DOWN,
    WORKER_OVER_MEMORY,
    WORKER_RECYCLED,
    WORKER_TASKS_DROPPED,
    LOOP_BLOCKED,
    SERVER_TRACE,
)
