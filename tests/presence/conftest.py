"""The presence tests reuse the cluster tests' helpers for several nodes in one process."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cluster"))
