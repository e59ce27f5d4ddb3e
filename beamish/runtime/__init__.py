"""Run a node: ``run(main)`` from a script, ``start()`` inside an existing async app.

>>> from beamish import runtime
>>> runtime.Config().name
'nonode@nohost'
"""

import contextlib

from ._boot import run as run
from ._boot import run_main as run_main
from ._boot import start as start
from ._config import Config as Config
from ._logging import NodeContext as NodeContext
from ._logging import configure_logging as configure_logging

for _name, _value in list(globals().items()):
    if not _name.startswith("_") and getattr(_value, "__module__", "").startswith(__name__ + "."):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = __name__
del _name, _value
