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
BORDER = re.compile(r"^ *=+( +=+)+ *$")


def simple_tables(text: str) -> str:
    """reST simple tables (``===  ===`` borders, one header row) become Markdown tables; a
    row whose first cell is empty continues the row above.

    >>> print(simple_tables("==  ===\\nab  cd\\n==  ===\\n1   x\\n    y\\n==  ==="))
    | ab | cd |
    | --- | --- |
    | 1 | x y |
    """
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not BORDER.match(lines[i]) or i + 2 >= len(lines) or not BORDER.match(lines[i + 2]):
            out.append(lines[i])
            i += 1
            continue
        starts = [m.start() for m in re.finditer(r"=+", lines[i])]
        rows = [_cells(lines[i + 1], starts)]
        i += 3
        body: list[list[str]] = []
        while i < len(lines) and not BORDER.match(lines[i]):
            row = _cells(lines[i], starts)
            if body and not row[0]:
                body[-1] = [f"{a} {b}".strip() for a, b in zip(body[-1], row, strict=True)]
            else:
                body.append(row)
            i += 1
        i += 1  # the closing border
        out += ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(starts)]
        out += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(out)


def _cells(line: str, starts: list[int]) -> list[str]:
    bounds = [*starts[1:], None]
    return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]


def to_markdown(text: str) -> str:
    """Roles become code spans; a doctest at the left margin becomes a ``pycon`` block."""
    out: list[str] = []
    fenced = doctest = False
    for line in simple_tables(ROLE.sub(r"`\1`", text)).splitlines():
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
