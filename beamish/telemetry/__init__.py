"""Telemetry: attach handlers to named events; the runtime reports through it.

Modelled on Erlang's ``:telemetry``: an *event* is a tuple of strings such as
``("beamish", "process", "spawn")``; a *handler* is a callable
``handler(event, measurements, metadata, config)`` attached under a unique id.
``ALL_EVENTS`` lists every event the runtime emits.

>>> from beamish import telemetry
>>> telemetry.PROCESS_CRASH in telemetry.ALL_EVENTS
True
>>> seen = []
>>> telemetry.attach("doc-example", ("app", "tick"), lambda e, m, md, c: seen.append(m["n"]))
>>> telemetry.execute(("app", "tick"), {"n": 1})
>>> telemetry.detach("doc-example")
True
>>> telemetry.execute(("app", "tick"), {"n": 2})
>>> seen
[1]

Semantics
---------
- Handlers run synchronously in the emitting task, in the order they were attached.
- A handler that raises is detached, the failure is logged and reported as the event
  ``("beamish", "telemetry", "handler_failure")``; the emitter never sees the exception.
- Emitting an event nobody listens to costs one dictionary lookup.
"""

from .._public import present_as as _present_as
from ._events import ALL_EVENTS as ALL_EVENTS
from ._events import CLUSTER_BAD_FRAME as CLUSTER_BAD_FRAME
from ._events import CLUSTER_DUPLICATE_NAME as CLUSTER_DUPLICATE_NAME
from ._events import CLUSTER_GLOBAL_CONFLICT as CLUSTER_GLOBAL_CONFLICT
from ._events import CLUSTER_HANDSHAKE_FAILED as CLUSTER_HANDSHAKE_FAILED
from ._events import CLUSTER_MESSAGE_DROPPED as CLUSTER_MESSAGE_DROPPED
from ._events import CLUSTER_NODE_DOWN as CLUSTER_NODE_DOWN
from ._events import CLUSTER_NODE_UP as CLUSTER_NODE_UP
from ._events import CLUSTER_SEND_OVERFLOW as CLUSTER_SEND_OVERFLOW
from ._events import CLUSTER_SPAWN_REFUSED as CLUSTER_SPAWN_REFUSED
from ._events import CLUSTER_UNSENDABLE as CLUSTER_UNSENDABLE
from ._events import LOOP_BLOCKED as LOOP_BLOCKED
from ._events import MAILBOX_DROP as MAILBOX_DROP
from ._events import PROCESS_CRASH as PROCESS_CRASH
from ._events import PROCESS_EXIT as PROCESS_EXIT
from ._events import PROCESS_SPAWN as PROCESS_SPAWN
from ._events import REPLY_DROP as REPLY_DROP
from ._events import SERVER_TRACE as SERVER_TRACE
from ._events import WORKER_DOWN as WORKER_DOWN
from ._events import WORKER_OVER_MEMORY as WORKER_OVER_MEMORY
from ._events import WORKER_RECYCLED as WORKER_RECYCLED
from ._events import WORKER_TASKS_DROPPED as WORKER_TASKS_DROPPED
from ._events import WORKER_UP as WORKER_UP
from ._handlers import HANDLER_FAILURE as HANDLER_FAILURE
from ._handlers import Event as Event
from ._handlers import Handler as Handler
from ._handlers import HandlerExists as HandlerExists
from ._handlers import attach as attach
from ._handlers import attach_many as attach_many
from ._handlers import detach as detach
from ._handlers import execute as execute
from ._handlers import has_handlers as has_handlers
from ._handlers import list_handlers as list_handlers
from ._handlers import span as span

_present_as(__name__, globals())
