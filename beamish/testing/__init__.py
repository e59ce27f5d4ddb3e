"""Test support: a node fixture on virtual time, probes that wait on facts, and a fresh node
per Hypothesis example (``run_on_node``, ``ActorMachine``; see ``docs/testing.md``).

>>> from beamish import testing
>>> callable(testing.assert_receive)
True
"""

import contextlib

from ._fresh import NodeSession as NodeSession
from ._fresh import run_on_node as run_on_node
from ._plugin import BACKENDS as BACKENDS
from ._plugin import anyio_backend as anyio_backend
from ._plugin import node as node
from ._probes import TelemetryEvent as TelemetryEvent
from ._probes import assert_receive as assert_receive
from ._probes import capture_telemetry as capture_telemetry
from ._probes import refute_receive as refute_receive

for _name, _value in list(globals().items()):
    if not _name.startswith("_") and getattr(_value, "__module__", "").startswith(__name__ + "."):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = __name__
del _name, _value
from ._conformance import check_transport as check_transport  # noqa: E402


def __getattr__(name: str) -> object:
    # ActorMachine subclasses Hypothesis's state machine: imported on first use, so the
    # pytest plugin (this package) works without Hypothesis installed.
    if name == "ActorMachine":
        from ._stateful import ActorMachine

        ActorMachine.__module__ = __name__
        globals()["ActorMachine"] = ActorMachine
        return ActorMachine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
