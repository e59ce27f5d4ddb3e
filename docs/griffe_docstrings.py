"""The API reference's griffe extension: beamish's docstrings are plain text with reST touches
(``code``, :func:`name` roles, doctest examples); this renders them as Markdown.

>>> to_markdown("Calls :func:`stop`.\\n\\n>>> 1 + 1\\n2\\n\\nDone.").splitlines()
['Calls `stop`.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|meth|class|attr|data|mod|exc|obj):`~?([^`]+)`")


def to_markdown(text: str) -> str:
    """Roles become code spans; a doctest at the left margin becomes a ``pycon`` block."""
    out: list[str] = []
    fenced = doctest = False
    for line in ROLE.sub(r"`\1`", text).splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and not doctest and line.startswith(">>>"):
            out.append("```pycon")
            doctest = True
        elif doctest and not line.strip():
            out.append("```")
            doctest = False
        out.append(line)
    if doctest:
        out.append("```")
    return "\n".join(out)


class DocstringsAsMarkdown(griffe.Extension):
    """Rewrites every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
