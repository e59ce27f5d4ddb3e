"""Every async test runs on asyncio and on trio, with virtual time.

The cluster tests' helpers (``meshkit``: several nodes in one process) are importable from
every test package (pubsub, presence, sessions, registry reuse them).
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from beamish.testing import anyio_backend  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent / "cluster"))

# Nodes started with discovery announce themselves in $XDG_RUNTIME_DIR/beamish-<uid>
# (beamish.cluster.default_directory). Each test process (each pytest-xdist worker) gets its
# own, inherited by the OS-process nodes it starts: concurrent runs never see each other's.
_RUNTIME_DIR = tempfile.mkdtemp(prefix="beamish-tests-")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME_DIR
atexit.register(shutil.rmtree, _RUNTIME_DIR, ignore_errors=True)
