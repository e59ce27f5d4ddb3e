"""Session processes: one supervised process per user session, found by id from any node.

>>> from beamish import sessions
>>> len(sessions.new_id())
32

Put ``Sessions.child_spec(...)`` in your supervision tree, write a ``SessionProcess``
(or use the default ``KeyValueSession``), then ``start``, ``call``, ``cast``, ``touch``,
``stop`` and ``find`` by session id. ``docs/sessions.md`` is the guide; the telemetry
events are listed in ``SESSION_EVENTS`` (table in ``beamish.sessions._telemetry``).
"""

from .._public import present_as as _present_as
from ._api import call as call
from ._api import cast as cast
from ._api import find as find
from ._api import info as info
from ._api import list as list
from ._api import list_by_module as list_by_module
from ._api import snapshot as snapshot
from ._api import start as start
from ._api import started as started
from ._api import stats as stats
from ._api import stop as stop
from ._api import touch as touch
from ._api import unwatch as unwatch
from ._api import watch as watch
from ._errors import InvalidSessionId as InvalidSessionId
from ._errors import RateLimitExceeded as RateLimitExceeded
from ._errors import SessionAlreadyStarted as SessionAlreadyStarted
from ._errors import SessionCrashed as SessionCrashed
from ._errors import SessionError as SessionError
from ._errors import SessionLimitReached as SessionLimitReached
from ._errors import SessionNotFound as SessionNotFound
from ._errors import SessionTimeout as SessionTimeout
from ._errors import SnapshotError as SnapshotError
from ._ids import is_valid_id as is_valid_id
from ._ids import new_id as new_id
from ._middleware import CookieSigner as CookieSigner
from ._middleware import SessionMiddleware as SessionMiddleware
from ._process import KeyValueSession as KeyValueSession
from ._process import SessionChanged as SessionChanged
from ._process import SessionProcess as SessionProcess
from ._ratelimit import SlidingWindow as SlidingWindow
from ._ring import HashRing as HashRing
from ._sessions import Sessions as Sessions
from ._sessions import SessionsConfig as SessionsConfig
from ._snapshots import SnapshotStore as SnapshotStore
from ._telemetry import CALL as CALL
from ._telemetry import CAST as CAST
from ._telemetry import CLEANUP as CLEANUP
from ._telemetry import CLEANUP_ERROR as CLEANUP_ERROR
from ._telemetry import COMMUNICATION_ERROR as COMMUNICATION_ERROR
from ._telemetry import RATE_LIMIT_CHECK as RATE_LIMIT_CHECK
from ._telemetry import RATE_LIMIT_EXCEEDED as RATE_LIMIT_EXCEEDED
from ._telemetry import SESSION_END as SESSION_END
from ._telemetry import SESSION_EVENTS as SESSION_EVENTS
from ._telemetry import SESSION_START as SESSION_START
from ._telemetry import SNAPSHOT_ERROR as SNAPSHOT_ERROR
from ._telemetry import SNAPSHOT_SAVED as SNAPSHOT_SAVED
from ._telemetry import START as START
from ._telemetry import START_ERROR as START_ERROR
from ._telemetry import STOP as STOP

_present_as(__name__, globals())
