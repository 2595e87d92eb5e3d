"""SQLite: one file, one connection behind a lock, WAL mode; its result codes that mean "not now"."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from shop.db.database import Database

# Primary result codes that mean "not now" rather than "wrong SQL".
_SQLITE_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
}


class SQLiteDatabase(Database):
    """One SQLite file, safe to use from several executor threads.

    It holds a single connection behind a lock rather than one per thread: the shop's queries take
    microseconds and SQLite allows one writer at a time anyway, so a lock costs nothing noticeable,
    whereas per-thread connections would outlive the executor's threads unclosed.
    """

    name = "sqlite"
    embedded = True

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(timeout)
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: transactions are begun and ended explicitly in _begin().
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=timeout)
        self._connection.row_factory = sqlite3.Row
        with self._lock:
            self._use_wal(timeout)
            self._connection.execute("PRAGMA foreign_keys = ON")
            # Another process (a second shop, a maintenance script) may hold the write lock briefly.
            self._connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

    def _use_wal(self, timeout: float) -> None:
        """Switch the file to WAL (once per file; a no-op after). Several processes opening a new
        file at once (WORKERS, replicas) race for that switch, and SQLite answers the losers "database
        is locked" at once instead of waiting its busy timeout: so wait here, jittered, bounded."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(0.005, 0.05))

    @classmethod
    def check_url(cls, url: str) -> None:
        sqlite_path(url)

    @contextmanager
    def _begin(self, write: bool) -> Iterator[sqlite3.Connection]:
        if not self._lock.acquire(timeout=self.time_left()):
            raise TimeoutError(f"the connection stayed busy for {self.timeout:g}s")
        try:
            connection = self._connection
            # Another process's write lock is waited for no longer than this work may take.
            connection.execute(f"PRAGMA busy_timeout = {int(self.time_left() * 1000)}")
            # IMMEDIATE takes the write lock up front, so a read-then-write block cannot fail
            # half-way because another process wrote in between. A read needs no write lock: in
            # WAL mode it sees a consistent snapshot and never waits for writers.
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does); the first error is the one to report.
                if connection.in_transaction:
                    with suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise
        finally:
            self._lock.release()

    def _unavailable_reason(self, error: BaseException) -> str | None:
        if isinstance(error, TimeoutError):
            return str(error)
        if type(error) in (sqlite3.OperationalError, sqlite3.DatabaseError):
            code = getattr(error, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _SQLITE_UNAVAILABLE:
                return f"{getattr(error, 'sqlite_errorname', code)} ({error})"
        return None

    def _unavailable_kind(self, error: BaseException) -> str:
        code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            return "full"
        if isinstance(error, TimeoutError) or code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return "timeout"
        return "unavailable"

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:///absolute/path URL; ValueError for anything else."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path)
    if parts.netloc or parts.query or parts.fragment or not path.startswith("/") or path.endswith("/"):
        raise ValueError("expected sqlite:///absolute/path/to/file.db")
    return Path(path)

