"""Test support: a node fixture on virtual time, probes that wait on facts.

>>> from beamish import testing
>>> callable(testing.assert_receive)
True
"""

from .._public import present_as as _present_as
from ._plugin import BACKENDS as BACKENDS
from ._plugin import anyio_backend as anyio_backend
from ._plugin import node as node
from ._probes import TelemetryEvent as TelemetryEvent
from ._probes import assert_receive as assert_receive
from ._probes import capture_telemetry as capture_telemetry
from ._probes import refute_receive as refute_receive

_present_as(__name__, globals())
from ._conformance import check_transport as check_transport  # noqa: E402
