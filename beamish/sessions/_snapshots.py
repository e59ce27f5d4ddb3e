"""Session snapshots in SQLite (stdlib ``sqlite3``): saved off the event loop, atomically.

>>> store = SnapshotStore.from_url("sqlite::memory:")
>>> store.decode(store.encode({"cart": (1, 2), "seen": {3}}))
{'cart': (1, 2), 'seen': {3}}

Semantics
---------
- ``snapshots="sqlite:/path/to/file.db"`` in ``Sessions.child_spec``. The database is in WAL
  mode; each save is one ``INSERT OR REPLACE`` in its own transaction, so a reader sees the
  old snapshot or the new one, never a part of either, and a process killed mid-write leaves
  the last committed snapshot intact (SQLite's journal rolls the torn write back).
- Reads and writes run in a worker thread (``anyio.to_thread``), one at a time per store,
  in the order they were asked for: the event loop never waits on the disk, and a save then
  a load of one id on one node sees the save.
- Several nodes on one host may share the file: a session saved by one is restored by
  another (SQLite's locking; ``busy_timeout`` waits out a writer).
- State goes through the cluster's codec without pickle: ``None``, ``bool``, ``int``,
  ``float``, ``str``, ``bytes``, ``tuple``, ``list``, ``dict``, ``set``, ``frozenset``, pids
  and refs. Anything else is a ``SnapshotError`` when the state is *saved*, naming the type,
  never a pickle that a later reader would have to trust.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import anyio

from ..cluster import Codec, DecodeError, EncodeError
from ._errors import SnapshotError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS beamish_sessions (
    id TEXT PRIMARY KEY,
    module TEXT NOT NULL,
    state BLOB NOT NULL,
    saved_at REAL NOT NULL
)
"""


class SnapshotStore:
    """One SQLite file of session snapshots (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._codec = Codec()  # used on the event loop's thread only
        self._local = threading.local()
        self._limiter: anyio.CapacityLimiter | None = None
        self._memory: sqlite3.Connection | None = None  # ":memory:" is one shared connection
        self._opened: list[sqlite3.Connection] = []  # every connection, to close them all
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> SnapshotStore:
        """``"sqlite:<path>"`` (``"sqlite::memory:"`` for a private in-memory store)."""
        if not isinstance(url, str) or not url.startswith("sqlite:") or len(url) == 7:
            raise ValueError(f"snapshots must be 'sqlite:<path>', got {url!r}")
        return cls(url[len("sqlite:") :])

    # -- the codec (event loop thread) --

    def encode(self, state: Any) -> bytes:
        """The bytes of ``state``; ``SnapshotError`` if the codec cannot carry a value in it."""
        try:
            return self._codec.encode(state)
        except EncodeError as exc:
            raise SnapshotError(
                f"cannot snapshot this session state: {exc}. Keep session state to plain "
                "data (None, bool, int, float, str, bytes, tuple, list, dict, set), or turn "
                "snapshots off for this Sessions"
            ) from exc

    def decode(self, data: bytes) -> Any:
        """The state in ``data``; ``SnapshotError`` if it is not a snapshot this codec wrote."""
        try:
            return self._codec.decode(data)
        except DecodeError as exc:
            raise SnapshotError(f"stored snapshot is unreadable: {exc}") from exc

    # -- the disk (a worker thread) --

    async def save(self, session_id: str, module: str, data: bytes) -> None:
        """Store ``data`` as ``session_id``'s snapshot (replacing the previous one)."""
        await self._run(self._save_sync, session_id, module, data)

    async def load(self, session_id: str) -> bytes | None:
        """The stored snapshot of ``session_id``, or None."""
        return await self._run(self._load_sync, session_id)  # type: ignore[no-any-return]

    async def delete(self, session_id: str) -> None:
        """Forget ``session_id``'s snapshot."""
        await self._run(self._delete_sync, session_id)

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        try:
            # abandon_on_cancel: a session killed while it waits on the disk still dies at
            # once; the write finishes (or not) on its own, atomically either way
            return await anyio.to_thread.run_sync(
                fn, *args, limiter=self._limiter, abandon_on_cancel=True
            )
        except sqlite3.Error as exc:
            raise SnapshotError(f"snapshot store {self.path!r} failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            if self._memory is None:
                self._memory = self._open()
            return self._memory
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def close(self) -> None:
        """Close every connection the store opened (its ``Sessions`` is stopping)."""
        with self._lock:
            opened, self._opened = self._opened, []
            self._local = threading.local()
            self._memory = None
        for conn in opened:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            self._opened.append(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        return conn

    def _save_sync(self, session_id: str, module: str, data: bytes) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO beamish_sessions (id, module, state, saved_at) "
            "VALUES (?, ?, ?, ?)",
            (session_id, module, data, time.time()),
        )

    def _load_sync(self, session_id: str) -> bytes | None:
        row = (
            self._connection()
            .execute("SELECT state FROM beamish_sessions WHERE id = ?", (session_id,))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def _delete_sync(self, session_id: str) -> None:
        self._connection().execute("DELETE FROM beamish_sessions WHERE id = ?", (session_id,))
