"""beamish: Erlang/OTP-grade processes, supervisors and messaging for Python, on anyio.

>>> import beamish
>>> async def main():
...     pid, ref = beamish.spawn_monitor(beamish.sleep, 0)
...     return await beamish.receive()
>>> beamish.run(main).reason
'normal'
"""

from . import runtime as runtime
from . import telemetry as telemetry
from ._public import present_as as _present_as
from .actors import KILL as KILL
from .actors import KILLED as KILLED
from .actors import NOCONNECTION as NOCONNECTION
from .actors import NOPROC as NOPROC
from .actors import NORMAL as NORMAL
from .actors import SHUTDOWN as SHUTDOWN
from .actors import Actor as Actor
from .actors import CallCycle as CallCycle
from .actors import Caller as Caller
from .actors import CallTimeout as CallTimeout
from .actors import Continue as Continue
from .actors import Down as Down
from .actors import Exit as Exit
from .actors import Exited as Exited
from .actors import Hibernate as Hibernate
from .actors import Ignore as Ignore
from .actors import MailboxFull as MailboxFull
from .actors import NameTaken as NameTaken
from .actors import Node as Node
from .actors import NoProc as NoProc
from .actors import NoReply as NoReply
from .actors import NotInProcess as NotInProcess
from .actors import Pid as Pid
from .actors import Ref as Ref
from .actors import Reply as Reply
from .actors import StartError as StartError
from .actors import Stop as Stop
from .actors import Timeout as Timeout
from .actors import WouldBlock as WouldBlock
from .actors import call as call
from .actors import cancel_timer as cancel_timer
from .actors import cast as cast
from .actors import demonitor as demonitor
from .actors import exit as exit
from .actors import is_alive as is_alive
from .actors import link as link
from .actors import make_ref as make_ref
from .actors import monitor as monitor
from .actors import process_info as process_info
from .actors import receive as receive
from .actors import receive_nowait as receive_nowait
from .actors import register as register
from .actors import reply as reply
from .actors import self as self
from .actors import send as send
from .actors import send_after as send_after
from .actors import sleep as sleep
from .actors import spawn as spawn
from .actors import spawn_link as spawn_link
from .actors import spawn_monitor as spawn_monitor
from .actors import stop as stop
from .actors import this_node as this_node
from .actors import trap_exits as trap_exits
from .actors import unlink as unlink
from .actors import unregister as unregister
from .actors import via as via
from .actors import whereis as whereis
from .runtime import run as run

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "CallCycle",
    "CallTimeout",
    "Caller",
    "Continue",
    "Down",
    "Exit",
    "Exited",
    "Hibernate",
    "Ignore",
    "KILL",
    "KILLED",
    "MailboxFull",
    "NOCONNECTION",
    "NOPROC",
    "NORMAL",
    "NameTaken",
    "NoProc",
    "NoReply",
    "Node",
    "NotInProcess",
    "Pid",
    "Ref",
    "Reply",
    "SHUTDOWN",
    "StartError",
    "Stop",
    "Timeout",
    "WouldBlock",
    "call",
    "cancel_timer",
    "cast",
    "demonitor",
    "exit",
    "is_alive",
    "link",
    "make_ref",
    "monitor",
    "process_info",
    "receive",
    "receive_nowait",
    "register",
    "reply",
    "run",
    "self",
    "send",
    "send_after",
    "sleep",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "stop",
    "this_node",
    "trap_exits",
    "unlink",
    "unregister",
    "via",
    "whereis",
]

_present_as(__name__, globals())
