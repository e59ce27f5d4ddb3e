"""The context variables that make ``self()`` and the current node implicit."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._node import Node
    from ._process import Process

current_process: ContextVar[Process] = ContextVar("beamish.current_process")
current_node: ContextVar[Node] = ContextVar("beamish.current_node")
