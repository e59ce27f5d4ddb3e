"""Run a node: ``run(main)`` from a script, ``start()`` inside an existing async app.

>>> from beamish import runtime
>>> runtime.Config().name
'nonode@nohost'
"""

from .._public import present_as as _present_as
from ._boot import run as run
from ._boot import run_main as run_main
from ._boot import start as start
from ._config import Config as Config

_present_as(__name__, globals())
