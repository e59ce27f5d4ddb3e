"""The kernel: processes, mailboxes, links, monitors, names, timers and the Actor behaviour.

>>> from beamish import actors
>>> actors.Pid("a@h", 1, 0)
<a@h.1.0>

Exit reasons
------------
A process exits with a *reason*: a plain value, as in Erlang. One table says what each
reason does, and links, supervisors and logging all follow it (``is_normal``,
``is_shutdown``, ``is_abnormal``, ``is_logged``):

=================================  ========  ==================  ============================
reason                             logged?   transient restart?  non-trapping linked process
=================================  ========  ==================  ============================
``"normal"``                       no        no                  unaffected
``"shutdown"``                     no        no                  exits with the same reason
``("shutdown", term)``             no        no                  exits with the same reason
``"killed"`` (after ``kill``)      no        yes                 exits ``"killed"``
``"noproc"``, ``"noconnection"``   no        yes                 exits with the same reason
an exception (a crash)             yes       yes                 exits with the same reason
any other term                     yes       yes                 exits with the same reason
=================================  ========  ==================  ============================

``"kill"`` is a *signal*, not a reason: sent with ``exit(pid, "kill")`` it cannot be
trapped and the victim exits ``"killed"``. A trapping process turns every other exit
signal into an ``Exit(pid, reason)`` message, ``"normal"`` included.

"Logged" means the process whose own code produced the reason logs it with its traceback
and emits ``beamish.telemetry.PROCESS_CRASH``; processes that die because a linked
process died do not log again.

>>> actors.is_abnormal("normal"), actors.is_abnormal(("shutdown", "bye"))
(False, False)
>>> actors.is_abnormal(ValueError())
True
"""

from .._public import present_as as _present_as
from ._actor import Actor as Actor
from ._actor import StartName as StartName
from ._api import cancel_timer as cancel_timer
from ._api import demonitor as demonitor
from ._api import exit as exit
from ._api import is_alive as is_alive
from ._api import link as link
from ._api import make_ref as make_ref
from ._api import monitor as monitor
from ._api import process_info as process_info
from ._api import receive as receive
from ._api import receive_nowait as receive_nowait
from ._api import register as register
from ._api import self as self
from ._api import send as send
from ._api import send_after as send_after
from ._api import sleep as sleep
from ._api import spawn as spawn
from ._api import spawn_link as spawn_link
from ._api import spawn_monitor as spawn_monitor
from ._api import this_node as this_node
from ._api import trap_exits as trap_exits
from ._api import unlink as unlink
from ._api import unregister as unregister
from ._api import whereis as whereis
from ._backends import current_async_library as current_async_library
from ._backends import current_backend as current_backend
from ._call import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._call import call as call
from ._call import cast as cast
from ._call import reply as reply
from ._call import stop as stop
from ._checks import check_async_function as check_async_function
from ._checks import check_start_name as check_start_name
from ._checks import check_timeout as check_timeout
from ._clock import Clock as Clock
from ._clock import HeapClock as HeapClock
from ._clock import LoopClock as LoopClock
from ._clock import VirtualClock as VirtualClock
from ._context import current_node as current_node
from ._errors import CallCycle as CallCycle
from ._errors import CallTimeout as CallTimeout
from ._errors import Exited as Exited
from ._errors import MailboxFull as MailboxFull
from ._errors import NameTaken as NameTaken
from ._errors import NoProc as NoProc
from ._errors import NotInProcess as NotInProcess
from ._errors import StartError as StartError
from ._errors import WouldBlock as WouldBlock
from ._mailbox import OVERFLOW_POLICIES as OVERFLOW_POLICIES
from ._mailbox import Overflow as Overflow
from ._messages import Caller as Caller
from ._messages import Down as Down
from ._messages import Exit as Exit
from ._names import Dest as Dest
from ._names import Resolver as Resolver
from ._names import Via as Via
from ._names import via as via
from ._node import Node as Node
from ._node import RemoteHook as RemoteHook
from ._pid import Pid as Pid
from ._pid import Ref as Ref
from ._process import ProcessInfo as ProcessInfo
from ._reasons import KILL as KILL
from ._reasons import KILLED as KILLED
from ._reasons import NOCONNECTION as NOCONNECTION
from ._reasons import NOPROC as NOPROC
from ._reasons import NORMAL as NORMAL
from ._reasons import SHUTDOWN as SHUTDOWN
from ._reasons import describe as describe
from ._reasons import is_abnormal as is_abnormal
from ._reasons import is_logged as is_logged
from ._reasons import is_normal as is_normal
from ._reasons import is_shutdown as is_shutdown
from ._server import Continue as Continue
from ._server import Hibernate as Hibernate
from ._server import Ignore as Ignore
from ._server import NoReply as NoReply
from ._server import Reply as Reply
from ._server import Stop as Stop
from ._server import Timeout as Timeout
from ._system import ServerStatistics as ServerStatistics
from ._system import get_state as get_state
from ._system import replace_state as replace_state
from ._system import resume as resume
from ._system import statistics as statistics
from ._system import suspend as suspend
from ._system import trace as trace

_present_as(__name__, globals())
