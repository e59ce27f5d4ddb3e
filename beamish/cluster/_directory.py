"""The host's runtime directory: how nodes of one host find each other, with no daemon.

>>> default_directory().name.startswith("beamish-")
True

Each distributed node that listens has a file there named after it, holding the address
its peers dial. The node holds an exclusive ``flock`` on its file for as long as it runs:

- a second node of the same name on this host cannot take the lock, and does not start
  (:class:`NameInUse`), as Erlang's epmd refuses a name in use; the first node's entry
  stays as it was;
- an entry whose node died without withdrawing it (``kill -9``) holds no lock: other nodes
  skip it, and the next node of that name takes it over;
- a node that stops removes its file.

The directory is per user (mode ``0700``), so only one user's nodes meet.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

__all__ = ["Entry", "NameInUse", "default_directory", "discover"]


class NameInUse(RuntimeError):
    """A node of this name is already running on this host (its entry in the runtime
    directory is held by a live process): the second one does not start."""


def default_directory() -> Path:
    """Where the nodes of this host announce their addresses (per user, no daemon)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"beamish-{os.getuid()}"


class Entry:
    """This node's file in ``directory``, claimed (locked) until :meth:`withdraw`."""

    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / name
        self._fd = self._claim(name)

    def _claim(self, name: str) -> int:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise NameInUse(
                    f"a node named {name} is already running on this host ({self.path})"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    return fd
            os.close(fd)  # withdrawn by the node that held it while we opened it: again

    def announce(self, address: str) -> None:
        """Write the address peers dial."""
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, address.encode(), 0)

    def withdraw(self) -> None:
        """Remove the file and let go of the name (idempotent)."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # ours: we hold its lock
        os.close(self._fd)
        self._fd = -1


def discover(directory: Path | None, own_name: str) -> dict[str, str]:
    """The live nodes announced in ``directory`` (name -> address), ``own_name`` excluded."""
    if directory is None or not directory.is_dir():
        return {}
    found = {}
    for entry in directory.iterdir():
        if entry.name != own_name:
            with contextlib.suppress(OSError):
                address = _live_address(entry)
                if address:
                    found[entry.name] = address
    return found


def _live_address(entry: Path) -> str | None:
    """The address in an entry, if a live node holds it (its lock): None for the entry a
    node that died left behind."""
    fd = os.open(entry, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its node is running
            return os.pread(fd, 4096, 0).decode().strip()
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
