"""Check every example in ``docs/*.md`` (sybil): the docs are the spec, so they must run.

- A ```` ```python ```` block runs as code; a block that starts with ``>>>`` runs as a
  doctest (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE`` on). Blocks of one page share a
  namespace, top to bottom.
- A ```` ```python test_name.py ```` block is a whole test file: it is written to a temporary
  directory and run by pytest in a subprocess, with the beamish plugin, as a user would.
- A ```` ```python name.py ```` block (any other file name) is a module the page's reader
  saves: it is written to a directory on ``sys.path`` for the rest of the page (and so for
  the worker processes the page starts), then removed.
- Other blocks (``console``, ``text``) are not run; the CLI they show is covered by
  ``tests/test_examples.py``.
"""

from __future__ import annotations

import shutil
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


class ModuleFileParser(CodeBlockParser):
    """```` ```python name.py ```` blocks: a module the rest of the page imports."""

    language = "python"

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexers(document):
            language, _, filename = region.lexemes["arguments"].partition(" ")
            is_module = filename.endswith(".py") and not filename.startswith("test_")
            if language == "python" and is_module:
                region.parsed = (filename, str(region.lexemes["source"]))
                region.evaluator = self.evaluate
                yield region

    def evaluate(self, example: Example) -> str | None:
        filename, source = example.parsed
        (Path(example.namespace[MODULES]) / filename).write_text(source)
        return None


MODULES = "__page_modules__"  # the namespace key of the page's module directory


def make_module_directory(namespace: dict[str, object]) -> None:
    namespace[MODULES] = path = tempfile.mkdtemp(prefix="beamish-docs-")
    sys.path.insert(0, path)


def remove_module_directory(namespace: dict[str, object]) -> None:
    path = str(namespace[MODULES])
    sys.path.remove(path)
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(path):
            del sys.modules[name]
    shutil.rmtree(path, ignore_errors=True)


pytest_collect_file = Sybil(
    parsers=[
        PythonCodeBlockParser(doctest_optionflags=ELLIPSIS | NORMALIZE_WHITESPACE),
        PytestFileParser(),
        ModuleFileParser(),
    ],
    patterns=["*.md"],
    setup=make_module_directory,
    teardown=remove_module_directory,
).pytest()
