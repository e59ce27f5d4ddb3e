"""Check every example in ``docs/*.md`` (sybil): the docs are the spec, so they must run.

- A ```` ```python ```` block runs as code; a block that starts with ``>>>`` runs as a
  doctest (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE`` on). Blocks of one page share a
  namespace, top to bottom.
- A ```` ```python test_name.py ```` block is a whole test file: it is written to a temporary
  directory and run by pytest in a subprocess, with the beamish plugin, as a user would.
- Other blocks (``console``, ``text``) are not run; the CLI they show is covered by
  ``tests/test_examples.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterable
from doctest import ELLIPSIS, NORMALIZE_WHITESPACE
from pathlib import Path

from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser


class PytestFileParser(CodeBlockParser):
    """```` ```python test_x.py ```` blocks: run as a test file by pytest in a subprocess."""

    language = "python"

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexers(document):
            language, _, filename = region.lexemes["arguments"].partition(" ")
            if language == "python" and filename.startswith("test_") and filename.endswith(".py"):
                region.parsed = (filename, str(region.lexemes["source"]))
                region.evaluator = self.evaluate
                yield region

    def evaluate(self, example: Example) -> str | None:
        filename, source = example.parsed
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            path.write_text(source)
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            done = subprocess.run(
                [*command, "-o", "timeout=30", str(path)],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=120,
            )
        if done.returncode != 0:
            return f"pytest exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return None


pytest_collect_file = Sybil(
    parsers=[
        PythonCodeBlockParser(doctest_optionflags=ELLIPSIS | NORMALIZE_WHITESPACE),
        PytestFileParser(),
    ],
    patterns=["*.md"],
).pytest()
