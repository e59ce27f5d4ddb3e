"""The kernel's low-level API, for the layers built on it (as ``trio.lowlevel`` is).

>>> from beamish.actors import lowlevel
>>> lowlevel.Replied(1), lowlevel.TimedOut()
(Replied(value=1), TimedOut())

Distribution, process pools, the runtime and the test kit act on processes from outside
any process: a peer's exit signal or ``Down`` arrives on a connection, a pool asks whether
a caller still waits, a test body runs as a process. They do it through this module and
never through the kernel's private names (ruff's ``SLF001`` and an import-linter contract
keep it so). Application code rarely needs it: ``beamish`` has the everyday API.

Signals, watches and links from outside a process
    :func:`deliver_exit`, :func:`deliver_down`, :func:`deliver_reply`, :func:`watch`,
    :func:`unwatch`, :func:`is_watched`, :func:`add_link`, :func:`remove_link`,
    :func:`actor_of`, :func:`mailbox_messages`.
Calls with typed outcomes
    :func:`call_outcome`, :func:`open_call` (a :class:`PendingCall`), and the outcomes
    :class:`Replied`, :class:`CallExited`, :class:`TimedOut` (:data:`CallOutcome`).
Start acknowledgements
    :func:`ack_start` with :class:`Started`, :class:`StartFailed`, :class:`StartIgnored`
    (:data:`StartAck`).
Borrowing a process
    :func:`borrow_process` (a :class:`BorrowedProcess`); :class:`SelfExit`, what
    ``exit(self(), reason)`` raises to end the calling process.
The node and its loop
    :func:`current_pid`, :func:`current_node`, :func:`start_system_task`,
    :func:`running_pid`, :func:`waiter_factory`.
Server envelopes (what the wire codec carries)
    :class:`CallRequest`, :class:`CastRequest`, :class:`StopRequest`.
"""

from .._public import present_as as _present_as
from ._call import StopRequest as StopRequest
from ._errors import SelfExit as SelfExit
from ._lowlevel import BorrowedProcess as BorrowedProcess
from ._lowlevel import PendingCall as PendingCall
from ._lowlevel import ack_start as ack_start
from ._lowlevel import actor_of as actor_of
from ._lowlevel import add_link as add_link
from ._lowlevel import borrow_process as borrow_process
from ._lowlevel import call_outcome as call_outcome
from ._lowlevel import current_node as current_node
from ._lowlevel import current_pid as current_pid
from ._lowlevel import deliver_down as deliver_down
from ._lowlevel import deliver_exit as deliver_exit
from ._lowlevel import deliver_reply as deliver_reply
from ._lowlevel import is_watched as is_watched
from ._lowlevel import mailbox_messages as mailbox_messages
from ._lowlevel import open_call as open_call
from ._lowlevel import remove_link as remove_link
from ._lowlevel import running_pid as running_pid
from ._lowlevel import start_system_task as start_system_task
from ._lowlevel import unwatch as unwatch
from ._lowlevel import waiter_factory as waiter_factory
from ._lowlevel import watch as watch
from ._messages import CallRequest as CallRequest
from ._messages import CastRequest as CastRequest
from ._outcomes import CallExited as CallExited
from ._outcomes import CallOutcome as CallOutcome
from ._outcomes import Replied as Replied
from ._outcomes import StartAck as StartAck
from ._outcomes import Started as Started
from ._outcomes import StartFailed as StartFailed
from ._outcomes import StartIgnored as StartIgnored
from ._outcomes import TimedOut as TimedOut

_present_as(__name__, globals())
