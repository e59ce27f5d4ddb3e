"""Test support: a node fixture on virtual time, probes that wait on facts, and a fresh node
per Hypothesis example (``run_on_node``, ``ActorMachine``; see ``docs/testing.md``).

>>> from beamish import testing
>>> callable(testing.assert_receive)
True
"""

from .._public import present_as as _present_as
from ._fresh import NodeSession as NodeSession
from ._fresh import run_on_node as run_on_node
from ._plugin import BACKENDS as BACKENDS
from ._plugin import anyio_backend as anyio_backend
from ._plugin import node as node
from ._probes import TelemetryEvent as TelemetryEvent
from ._probes import assert_receive as assert_receive
from ._probes import capture_telemetry as capture_telemetry
from ._probes import refute_receive as refute_receive

_present_as(__name__, globals())
from ._conformance import check_transport as check_transport  # noqa: E402


def __getattr__(name: str) -> object:
    # ActorMachine subclasses Hypothesis's state machine: imported on first use, so the
    # pytest plugin (this package) works without Hypothesis installed.
    if name == "ActorMachine":
        from ._stateful import ActorMachine

        _present_as(__name__, {"ActorMachine": ActorMachine})
        globals()["ActorMachine"] = ActorMachine
        return ActorMachine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
