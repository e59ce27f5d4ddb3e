"""OS-process nodes that run ``tests.registry.regnode:main`` (see test_cluster_os.py),
started by the cluster tests' launcher (``tests/cluster/osnodes.py``)."""

from __future__ import annotations

import functools

from osnodes import HOST, WAIT, OsNode
from osnodes import launcher as _launcher

COOKIE = "registry-os-cookie"

launcher = functools.partial(_launcher, app="tests.registry.regnode:main", cookie=COOKIE)

__all__ = ["COOKIE", "HOST", "WAIT", "OsNode", "launcher"]
