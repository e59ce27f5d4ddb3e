"""Three (or more) benchmark nodes as real OS processes, meshed over TCP on 127.0.0.1.

    with Nodes(("n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1")) as nodes:
        nodes.all(op="ping")                      # {name: answer} of every node
        nodes.ask("n1@127.0.0.1", op="ping")      # one node's answer

Each node is ``benchnode.py`` in a :class:`pairs.Child`: one JSON command per line in, one
answer per line out. ``all`` writes the command to every node before it reads any answer,
so the nodes work on it at the same time.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from pairs import Child  # noqa: E402

HOST = "127.0.0.1"
COOKIE = "osbench"
THREE = tuple(f"n{i}@{HOST}" for i in (1, 2, 3))


class Nodes:
    """Started, connected to one another (a full mesh), ready for commands."""

    def __init__(
        self,
        names: Sequence[str] = THREE,
        cookie: str = COOKIE,
        *,
        options: Mapping[str, Sequence[str]] | None = None,
        attach: Callable[[str, str], None] | None = None,
        dial: Mapping[str, str] | None = None,
        src: str | None = None,
    ) -> None:
        """``options``: more ``benchnode.py`` options per node name; ``attach(name,
        address)`` is told each node's listen address once it is up; ``dial``: the address
        to connect to per node, where it is not the one it listens on (a relay); ``src``:
        the beamish source tree the nodes run (default: the installed one)."""
        self.names = tuple(names)
        self.children: dict[str, Child] = {}
        self.addresses: dict[str, str] = {}
        script = [sys.executable, str(HERE / "benchnode.py"), "--cookie", cookie]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if src is not None:
            env["BEAMISH_BENCH_SRC"] = src
        extra = options or {}
        try:
            for name in self.names:
                argv = [*script, "--name", name, *extra.get(name, ())]
                self.children[name] = Child(argv, cwd=HERE.parent, env=env)
            for name in self.names:
                self.addresses[name] = self.children[name].ready()
                if attach is not None:
                    attach(name, self.addresses[name])
            first = self.names[0]
            seed = (dial or {}).get(first, self.addresses[first])
            for name in self.names[1:]:
                self.ask(name, op="connect", address=seed)
            self.all(op="wait", nodes=len(self.names) - 1)
        except BaseException:
            self.close()
            raise

    def pid(self, name: str) -> int:
        """The OS pid of node ``name``."""
        return self.children[name].proc.pid

    def ask(self, name: str, **command: Any) -> Any:
        return self.children[name].ask(**command)

    def all(self, names: Iterable[str] | None = None, **command: Any) -> dict[str, Any]:
        """Send ``command`` to every node (or ``names``), then read every answer."""
        chosen = list(self.names if names is None else names)
        line = json.dumps(command) + "\n"
        for name in chosen:
            stdin = self.children[name].proc.stdin
            assert stdin is not None
            stdin.write(line)
            stdin.flush()
        answers = {}
        for name in chosen:
            stdout = self.children[name].proc.stdout
            assert stdout is not None
            text = stdout.readline()
            if not text:
                raise RuntimeError(f"node {name} exited on {command}")
            answers[name] = json.loads(text)
        return answers

    def close(self) -> None:
        for child in self.children.values():
            child.close()

    def __enter__(self) -> Nodes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
