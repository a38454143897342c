"""A SQLite file shared safely by threads and processes (WAL, one connection per thread)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.errors import TransientError


class _Lease:
    """A pooled connection held by one thread; back to the pool when the thread ends.

    The thread-local that holds the lease is cleared as its thread exits, which drops the last
    reference (CPython frees it there and then) and runs ``__del__``.
    """

    def __init__(self, conn: sqlite3.Connection, idle: list[sqlite3.Connection]) -> None:
        self.conn = conn
        self._idle = idle

    def __del__(self) -> None:
        self._idle.append(self.conn)  # list.append is atomic under the GIL


class SqliteDatabase:
    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._writer = threading.Lock()
        # Connections outlive the threads that used them: a server that starts a thread per request
        # (Werkzeug's, the local stack's) would otherwise open, and set up, a new one per request.
        self._idle: list[sqlite3.Connection] = []
        self._connection().executescript(schema)

    def _open(self) -> sqlite3.Connection:
        # autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE below;
        # check_same_thread=False because a connection moves to another thread between leases
        # (one thread at a time)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is None:
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self._open()
            lease = self._local.lease = _Lease(conn, self._idle)
        return lease.conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: takes the write lock up front so read-then-write is atomic."""
        conn = self._connection()
        # Writers of this process queue here rather than in SQLite's busy handler, which sleeps 1 ms,
        # 2 ms, 5 ms... between retries; writers of other processes still meet the busy timeout.
        with self._writer:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # database is locked past the timeout
                raise TransientError(f"state store busy: {exc}") from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        return self._connection()
