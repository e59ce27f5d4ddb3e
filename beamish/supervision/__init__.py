"""Supervision trees: Supervisor, DynamicSupervisor, TaskSupervisor, child specs.

>>> from beamish import supervision
>>> supervision.restart_plan("rest_for_one", ["a", "b", "c"], "b", {"a", "b", "c"})
(['c'], ['b', 'c'])
"""

from .._public import present_as as _present_as
from ._dynamic import DynamicSupervisor as DynamicSupervisor
from ._errors import AlreadyPresent as AlreadyPresent
from ._errors import AlreadyStarted as AlreadyStarted
from ._errors import ChildNotFound as ChildNotFound
from ._errors import ChildRunning as ChildRunning
from ._errors import InvalidChildSpec as InvalidChildSpec
from ._errors import MaxChildren as MaxChildren
from ._intensity import add_restart as add_restart
from ._intensity import backoff_delay as backoff_delay
from ._intensity import record_restart as record_restart
from ._shutdown import shutdown_child as shutdown_child
from ._spec import ChildSpec as ChildSpec
from ._spec import Placement as Placement
from ._spec import child_spec as child_spec
from ._strategy import restart_plan as restart_plan
from ._strategy import should_restart as should_restart
from ._supervisor import ChildCounts as ChildCounts
from ._supervisor import ChildInfo as ChildInfo
from ._supervisor import Supervisor as Supervisor
from ._supervisor import SupervisorOptions as SupervisorOptions
from ._supervisor import count_children as count_children
from ._supervisor import delete_child as delete_child
from ._supervisor import restart_child as restart_child
from ._supervisor import start_child as start_child
from ._supervisor import terminate_child as terminate_child
from ._supervisor import which_children as which_children
from ._tasks import Task as Task
from ._tasks import TaskReply as TaskReply
from ._tasks import TaskSupervisor as TaskSupervisor

_present_as(__name__, globals())
