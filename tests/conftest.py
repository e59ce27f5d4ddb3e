"""Every async test runs on asyncio and on trio, with virtual time.

The cluster tests' helpers (``meshkit``: several nodes in one process) are importable from
every test package (pubsub, presence, sessions, registry reuse them).
"""

import sys
from pathlib import Path

from beamish.testing import anyio_backend  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent / "cluster"))
