"""Process-pool workers: CPU-bound functions and actors in child OS processes.

>>> from beamish.workers import WorkerPool, is_worker_death
>>> WorkerPool(size=2).size
2

See ``docs/workers.md`` for when to use them.
"""

from .._public import present_as as _present_as
from ._pool import PoolInfo as PoolInfo
from ._pool import WorkerInfo as WorkerInfo
from ._pool import WorkerPool as WorkerPool
from ._reasons import is_worker_death as is_worker_death
from ._reasons import worker_died as worker_died

_present_as(__name__, globals())
