"""Log lines that name their node and process.

>>> import logging
>>> record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", None, None)
>>> NodeContext().filter(record), record.node, record.pid
(True, '-', '-')

:class:`NodeContext` is a ``logging.Filter`` for handlers: it sets ``record.node`` and
``record.pid`` from the node and process that logged (``-`` outside any), so a format
can show them: ``"%(node)s %(pid)s %(name)s: %(message)s"``. A record that already
carries them (``extra={"node": ..., "pid": ...}``, as the loop watchdog's do) keeps its
own. ``python -m beamish run`` logs this way; an application that configures its own
logging adds the filter to its handlers::

    handler.addFilter(beamish.runtime.NodeContext())
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from ..actors.lowlevel import current_node, current_pid

LOG_FORMAT = "%(asctime)s %(levelname)s %(node)s %(pid)s %(name)s: %(message)s"


class NodeContext(logging.Filter):
    """Adds ``node`` and ``pid`` to every record that passes (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "node"):
            node = current_node()
            record.node = node.name if node is not None else "-"
        if not hasattr(record, "pid"):
            pid = current_pid()
            record.pid = repr(pid) if pid is not None else "-"
        elif not isinstance(record.pid, str):
            record.pid = "-" if record.pid is None else repr(record.pid)
        return True


def configure_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) at ``level``, each line naming its node and process."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(NodeContext())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
