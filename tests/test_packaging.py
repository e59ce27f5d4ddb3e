"""What a user gets from `pip install beamish`: its dependencies, its types, its help, and the
two set-up commands of the README. `.ci/install-check` does the real install into a fresh
venv; these tests pin the same facts in the suite."""

from __future__ import annotations

import importlib.resources
import pydoc
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import beamish

ROOT = Path(__file__).resolve().parent.parent

# Everything beamish imports must come from these (and the standard library).
RUNTIME_DEPENDENCIES = {"anyio", "msgpack", "cloudpickle", "psutil"}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_runtime_dependencies_are_the_declared_four() -> None:
    """pyproject declares anyio, msgpack, cloudpickle and psutil, and nothing else."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    assert names == RUNTIME_DEPENDENCIES


def test_a_node_runs_without_sniffio() -> None:
    """anyio no longer installs sniffio: beamish imports, runs a node and starts its workers'
    modules with sniffio unimportable."""
    done = run_python(
        "import sys\n"
        "sys.modules['sniffio'] = None  # import sniffio now raises ImportError\n"
        "import beamish, beamish.workers, beamish.cluster, beamish.pubsub, beamish.runtime\n"
        "async def main():\n"
        "    return beamish.actors.current_async_library()\n"
        "print(beamish.run(main))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "asyncio"


def test_the_type_marker_ships() -> None:
    """`py.typed` is in the package and in its package data, so mypy reads beamish's types."""
    assert importlib.resources.files("beamish").joinpath("py.typed").is_file()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["beamish"]


def test_help_lists_the_api() -> None:
    """`help(beamish)` documents the classes and functions, not only the constants."""
    text = pydoc.render_doc(beamish, renderer=pydoc.plaintext)
    assert re.search(r"^    class Actor\b", text, re.M)
    assert re.search(r"^    async call\(dest", text, re.M)
    assert "beamish.actors._" not in text


def test_readme_has_two_setup_commands_and_ci_runs_its_test_command() -> None:
    """The README's set-up block is `make demo` and `make test`; .ci/run runs `make test`
    and the clean install check."""
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1]
    block = re.search(r"```sh\n(.*?)```", setup, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\b", ci, re.M)
    assert re.search(r"^\s*bash \.ci/install-check\b", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M)
    assert re.search(r"^test:", makefile, re.M)


def test_the_readme_names_no_file_outside_the_repository() -> None:
    """Every relative path the README and docs/ link to or name exists in the repository."""
    missing = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            if not (page.parent / target).exists():
                missing.append(f"{page.name}: {target}")
        for target in re.findall(r"`(\.\./[^`]+|docs/[^`]+\.md|examples/[^` ]+\.py)`", text):
            base = page.parent if target.startswith("..") else ROOT
            if not (base / target).exists():
                missing.append(f"{page.name}: {target}")
    assert missing == []


def test_the_api_reference_covers_every_public_subpackage() -> None:
    """`make docs` (part of `make test`) renders a reference page for each public package."""
    packages = ["actors", "supervision", "cluster", "pubsub", "workers", "runtime", "testing"]
    for name in ["beamish", *(f"beamish.{p}" for p in [*packages, "telemetry"])]:
        page = ROOT / "docs" / "reference" / f"{name.rpartition('.')[2] or name}.md"
        assert f"::: {name}\n" in page.read_text(), page
        assert f"reference/{page.name}" in (ROOT / "mkdocs.yml").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\bdocs\b", makefile, re.M)
    assert "mkdocs build --strict" in makefile


def test_the_docs_examples_import_nothing_from_the_repository() -> None:
    """The guides' code runs wherever a reader pastes it: it imports beamish, the standard
    library and modules the page itself gives, never `examples` or `tests`."""
    offenders = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```python[^\n]*\n(.*?)```", page.read_text(), re.S):
            offenders += [
                f"{page.name}: {line.strip()}"
                for line in block.splitlines()
                if re.match(r"\s*(from|import) (examples|tests)\b", line)
            ]
    assert offenders == []
