"""Test support: a node fixture on virtual time, probes that wait on facts.

>>> from beamish import testing
>>> callable(testing.assert_receive)
True
"""

from ._plugin import BACKENDS as BACKENDS
from ._plugin import anyio_backend as anyio_backend
from ._plugin import node as node
from ._probes import TelemetryEvent as TelemetryEvent
from ._probes import assert_receive as assert_receive
from ._probes import capture_telemetry as capture_telemetry
from ._probes import refute_receive as refute_receive
