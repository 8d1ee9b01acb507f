"""A cache in one SQLite file (standard library): survives restarts, shared by processes.

WAL journal and a busy timeout let several processes read and write the same file at
once. The connection opens on first use and is reopened in a forked child (a connection
is never used across ``fork``), so a client built before gunicorn forks is safe.

The file holds prompts (hashed) and answers (in full), so it is created with mode 0600
whatever the umask, before SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files
the database's mode. An existing file holding only ailib's table (one an older ailib
created 0644) is set to 0600 with its ``-wal``/``-shm``; any other existing file (a
database of the user's that also holds other tables) keeps its mode, with one warning
when others can read it. Entries an older ailib stored under keys of an earlier format
(which are never looked up again) are deleted when an existing file is opened.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Optional, Union

from .._files import create_private, tighten, warn_if_shared
from .._fork import register_after_fork
from ..errors import ConfigurationError
from ._key import OLD_KEY_PREFIXES
from .memory import _check_ttl

__all__ = ["SQLiteCache"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS ailib_cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, created_at REAL NOT NULL, expires_at REAL)"
_PRUNE_EVERY = 256
_ABANDONED: list[sqlite3.Connection] = []  # connections inherited through fork: never used, never closed in the child


def _use_wal(conn: sqlite3.Connection, patience: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to ``patience`` seconds: while other
    processes open the same new file, switching its journal mode can fail with "database is
    locked" at once, without SQLite calling the busy handler."""
    end = time.monotonic() + patience
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= end:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class SQLiteCache:
    """Entries in the SQLite file ``path``, each living ``ttl`` seconds (forever when None).

    ``max_entries`` (optional) bounds the file: the oldest entries go first. ``clock`` is
    anything with ``time()`` (wall-clock seconds, shared by every process).
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        ttl: Optional[float] = None,
        max_entries: Optional[int] = None,
        busy_timeout: float = 10.0,
        clock: Any = None,
    ) -> None:
        path = os.fspath(path)
        if not path:
            raise ConfigurationError("SQLiteCache needs a file path")
        _check_ttl(ttl)
        if max_entries is not None and (isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1):
            raise ConfigurationError(f"SQLiteCache max_entries must be a positive int, got {max_entries!r}")
        self.path = str(Path(path).expanduser())
        self.ttl = ttl
        self.max_entries = max_entries
        self.busy_timeout = busy_timeout
        self._now = clock.time if clock is not None else time.time
        self._lock = threading.Lock()
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = 0
        self._writes = 0
        register_after_fork(self)  # a lock held by another thread at fork must not stay held in the child

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._conn is not None:  # inherited through fork: leave it alone, open our own
            _ABANDONED.append(self._conn)
        Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        created = create_private(self.path)  # 0600 before SQLite creates it with 0644
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        _use_wal(conn, self.busy_timeout)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        if not created:
            self._private(conn)
            for prefix in OLD_KEY_PREFIXES:  # an older ailib's entries: never looked up again (a range: the key index serves it)
                conn.execute("DELETE FROM ailib_cache WHERE key >= ? AND key < ?", (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)))
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _private(self, conn: sqlite3.Connection) -> None:
        """An existing file: ailib's own (only its table) is set to 0600 with its -wal and
        -shm; another database keeps its mode, with one warning when others can read it."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables == {"ailib_cache"}:
            for path in (self.path, self.path + "-wal", self.path + "-shm"):
                tighten(path)
        else:
            warn_if_shared(self.path, "cached prompts and answers")

    def get(self, key: str) -> Optional[bytes]:
        with self._lock:
            conn = self._connection()
            row = conn.execute("SELECT value, expires_at FROM ailib_cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            value, expires = row
            if expires is not None and expires <= self._now():
                conn.execute("DELETE FROM ailib_cache WHERE key = ? AND expires_at = ?", (key, expires))
                return None
            return bytes(value)

    def set(self, key: str, value: bytes, ttl: Optional[float] = None) -> None:
        ttl = self.ttl if ttl is None else ttl
        now = self._now()
        with self._lock:
            conn = self._connection()
            conn.execute(
                "INSERT OR REPLACE INTO ailib_cache (key, value, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (key, sqlite3.Binary(value), now, None if ttl is None else now + ttl),
            )
            self._writes += 1
            if self._writes % _PRUNE_EVERY == 0 or self.max_entries is not None:
                self._prune(conn, now)

    def _prune(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM ailib_cache WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        if self.max_entries is not None:
            conn.execute(
                "DELETE FROM ailib_cache WHERE key IN (SELECT key FROM ailib_cache ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                (self.max_entries,),
            )

    def delete(self, key: str) -> None:
        with self._lock:
            self._connection().execute("DELETE FROM ailib_cache WHERE key = ?", (key,))

    def clear(self) -> None:
        with self._lock:
            self._connection().execute("DELETE FROM ailib_cache")

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM ailib_cache").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    def _after_fork_in_child(self) -> None:
        """Forget the parent's connection (the next use opens a new one)."""
        if self._conn is not None:
            _ABANDONED.append(self._conn)
        self._conn = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteCache({self.path!r}, ttl={self.ttl})"
