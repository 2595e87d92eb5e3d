"""The shop's database: the one place where SQLite and PostgreSQL differ.

`open_database(url, timeout)` picks the engine from the URL's scheme (ENGINES, one line per engine).
Every engine gives the stores the same thing: `transaction(operation)`, a block that commits when it
ends and rolls back when it raises, in which SQL is written with `?` placeholders. The schema lives
in versioned files in shop/migrations/, applied on first use, once per database, under a lock that
holds across processes. A database that cannot be reached, is full, locked or failing raises
DatabaseUnavailable, naming the operation and the cause; the password never appears in it.

`call_within(deadline, function)` runs database work that must be over by a deadline (a request
that answers 503 after DATABASE_TIMEOUT): every wait inside it is bounded by the time left, and a
transaction that would commit after the deadline rolls back instead, so nothing commits after the
request's answer.
"""

from __future__ import annotations

import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlite3

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# NNNN_name.sql for every engine, NNNN_name.<engine>.sql where an engine needs its own SQL.
_MIGRATION_FILE = re.compile(r"([0-9]{4})_([a-z0-9_]+?)(?:\.([a-z]+))?\.sql")
# Any constant shared by every replica: the key of PostgreSQL's advisory lock around migrations.
_MIGRATION_LOCK_KEY = 0x5_40B_DB


class DatabaseUnavailable(Exception):
    """The database cannot do the work right now (down, refusing, full, locked, failing I/O, no
    connection free within the timeout). Nothing of the transaction was committed, unless
    `outcome_unknown`: the commit was sent and its answer never came, so it may have been made."""

    def __init__(self, operation: str, reason: str, kind: str = "unavailable", *,
                 outcome_unknown: bool = False) -> None:
        super().__init__(f"{operation}: {reason}")
        self.operation = operation
        self.reason = reason
        # For an operator's counts: "unavailable" (down, refusing, failing), "timeout" (no answer or
        # no free connection in time, a lock held too long), "full" (out of disk or memory).
        self.kind = kind
        self.outcome_unknown = outcome_unknown


# Told of every transaction: its operation ("place order"), its seconds, and the kind of its
# DatabaseUnavailable (None when it did not fail that way). Called from the thread that ran it.
DatabaseObserver = Callable[[str, float, "str | None"], None]


class _CommitUnanswered(Exception):
    """The commit was sent and failed without an answer (the connection broke, the server hung)."""


def mask_password(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    masked = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", masked)


def check_database_url(url: str) -> str:
    """The engine's name for a valid URL; ValueError with the reason (never the password) otherwise."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    engine = ENGINES.get(scheme)
    if engine is None:
        raise ValueError(f"expected a URL starting with {', '.join(f'{s}://' for s in ENGINES)}")
    engine.check_url(url)
    return engine.name


def open_database(url: str, timeout: float) -> Database:
    """The database at url; no connection is made yet (see Database.migrate). timeout bounds every wait."""
    check_database_url(url)
    return ENGINES[url.split(":", 1)[0].lower()](url, timeout)


class Transaction:
    """A connection inside a transaction, taking SQL with `?` placeholders whatever the engine."""

    def __init__(self, connection: Any, placeholder: str) -> None:
        self._connection = connection
        self._placeholder = placeholder

    def execute(self, sql: str, parameters: tuple | list | None = None) -> Any:
        """Run one statement; the result has fetchone() and fetchall(), rows indexed by column name."""
        if parameters is None:
            return self._connection.execute(sql)
        return self._connection.execute(self._sql(sql), parameters)

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        self._connection.cursor().executemany(self._sql(sql), rows)

    def _sql(self, sql: str) -> str:
        # The stores' SQL holds no literal '?': every one is a parameter.
        return sql if self._placeholder == "?" else sql.replace("?", self._placeholder)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def load_migrations(engine: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations for an engine, in version order: its own file for a version where it has one."""
    chosen: dict[int, tuple[str, Path]] = {}
    for path in sorted(directory.iterdir()):
        match = _MIGRATION_FILE.fullmatch(path.name)
        if match is None:
            continue
        version, name, file_engine = int(match[1]), match[2], match[3]
        if file_engine is None:
            chosen.setdefault(version, (name, path))
        elif file_engine == engine:
            chosen[version] = (name, path)
    migrations = []
    for version, (name, path) in sorted(chosen.items()):
        text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("--"))
        # Statements end with ';' at the end of a line; the files hold no ';' elsewhere.
        statements = tuple(s.strip() for s in re.split(r";[ \t]*(?:\n|$)", text) if s.strip())
        migrations.append(Migration(version, name, statements))
    return migrations


class Database:
    """What every engine offers the stores. Blocking: call from an executor thread."""

    name = ""
    embedded = False  # True when opening it waits on no network (SQLite's file)
    placeholder = "?"
    # Set by the application to count the calls (see DatabaseObserver); None: nobody counts.
    observer: DatabaseObserver | None = None

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._migrated = False
        self._migrating = threading.Lock()
        # The deadline of the work on this thread (call_within), as time.monotonic(); None: none.
        self._deadline = threading.local()

    def call_within(self, deadline: float, function: Callable[..., T], *args: Any) -> T:
        """function(*args), database work on this thread that must be over by deadline (a
        time.monotonic()): refused if it is past already (a request that gave up waiting for a
        thread), every wait inside bounded by the time left, and no commit after it."""
        if time.monotonic() >= deadline:
            raise DatabaseUnavailable("start", "the request stopped waiting before a thread was free", "timeout")
        self._deadline.at = deadline
        try:
            return function(*args)
        finally:
            self._deadline.at = None

    def time_left(self) -> float:
        """Seconds this thread's work may still wait: the timeout, or less under call_within."""
        deadline = getattr(self._deadline, "at", None)
        return self.timeout if deadline is None else max(0.0, deadline - time.monotonic())

    @contextmanager
    def transaction(self, operation: str, *, write: bool = True) -> Iterator[Transaction]:
        """One transaction, committed if the block ends normally, rolled back if it raises.

        operation names the work in a DatabaseUnavailable ("place order"). write=False promises
        the block only reads, so it need not wait for (or hold up) writers.
        """
        started = time.monotonic()
        failure = None
        try:
            self.migrate()
            with self._unavailable_as(operation), self._begin(write) as connection:
                yield Transaction(connection, self.placeholder)
                if self.time_left() <= 0:
                    # Raised inside the transaction: rolled back, never committed after the answer.
                    raise TimeoutError(f"not committed: past the deadline of {self.timeout:g}s")
        except DatabaseUnavailable as error:
            failure = error.kind
            raise
        finally:
            if self.observer is not None:
                self.observer(operation, time.monotonic() - started, failure)

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks; the versions applied. Once per process; safe
        when several processes start at once (they wait for one another)."""
        if self._migrated:
            return []
        with self._migrating:
            if self._migrated:
                return []
            with self._unavailable_as("migrate"), self._begin(True) as connection:
                applied = self._apply_migrations(Transaction(connection, self.placeholder))
            self._migrated = True
            return applied

    def ping(self) -> bool:
        """Whether the database answers now, waiting at most the timeout."""
        try:
            with self.transaction("ping", write=False) as transaction:
                transaction.execute("SELECT 1")
        except DatabaseUnavailable:
            return False
        return True

    def close(self) -> None:
        raise NotImplementedError

    # --- what each engine provides ------------------------------------------------------------
    @classmethod
    def check_url(cls, url: str) -> None:
        raise NotImplementedError

    def _begin(self, write: bool):
        """A context manager: a connection inside a transaction, committed or rolled back at its end."""
        raise NotImplementedError

    def _lock_migrations(self, transaction: Transaction) -> None:
        """Make other processes' migrations wait until this transaction ends."""

    def lock_name(self, transaction: Transaction, name: str) -> None:
        """Hold name until the transaction ends: another transaction locking the same name waits
        for this one to commit or roll back (even one sent before a hang and finished after it)."""

    def _unavailable_reason(self, error: BaseException) -> str | None:
        """Why the database is unavailable, if error says it is; None for an error in the work itself."""
        raise NotImplementedError

    def _unavailable_kind(self, error: BaseException) -> str:
        """The kind of an error _unavailable_reason accepted: "unavailable", "timeout" or "full"."""
        return "timeout" if isinstance(error, TimeoutError) else "unavailable"

    # --- shared ---------------------------------------------------------------------------------
    @contextmanager
    def _unavailable_as(self, operation: str) -> Iterator[None]:
        try:
            yield
        except _CommitUnanswered as error:
            reason = self._unavailable_reason(error.__cause__) or str(error.__cause__)
            raise DatabaseUnavailable(operation, f"commit unanswered: {reason}", "timeout",
                                      outcome_unknown=True) from error
        except Exception as error:
            reason = self._unavailable_reason(error)
            if reason is None:
                raise
            raise DatabaseUnavailable(operation, reason, self._unavailable_kind(error)) from error

    def _apply_migrations(self, transaction: Transaction) -> list[int]:
        self._lock_migrations(transaction)
        transaction.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row["version"] for row in transaction.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for migration in load_migrations(self.name):
            if migration.version in done:
                continue
            for statement in migration.statements:
                transaction.execute(statement)
            transaction.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
            applied.append(migration.version)
        return applied


# --- SQLite ---------------------------------------------------------------------------------------

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


# --- PostgreSQL -----------------------------------------------------------------------------------


class PostgresDatabase(Database):
    """PostgreSQL through a psycopg_pool ConnectionPool, opened on first use (so a shop can start
    while PostgreSQL is away, and a forked worker opens its own). Every wait for a connection is
    bounded by the timeout; a connection that fails its check on the way out of the pool is replaced."""

    name = "postgresql"
    placeholder = "%s"
    MAX_CONNECTIONS = 8

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(timeout)
        self._url = url
        self._password = urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")
        self._pool = None
        self._opening = threading.Lock()

    @classmethod
    def check_url(cls, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535")
        query = urllib.parse.parse_qs(parts.query)
        if not parts.hostname and "host" not in query:
            raise ValueError("expected postgresql://user:password@host:port/database")
        if not parts.path.strip("/") and "dbname" not in query:
            raise ValueError("expected a database name: postgresql://user:password@host:port/database")
        try:
            from psycopg.conninfo import conninfo_to_dict
        except ImportError:
            raise ValueError("PostgreSQL needs psycopg (pip install -r requirements.txt)") from None
        password = urllib.parse.unquote(parts.password or "")
        try:
            conninfo_to_dict(url)
        except Exception as error:  # psycopg.ProgrammingError: libpq's reason for refusing it
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(_without(reason, password)) from None

    def _pool_opened(self):
        if self._pool is None:
            with self._opening:
                if self._pool is None:
                    from psycopg.rows import dict_row
                    from psycopg_pool import ConnectionPool

                    pool = ConnectionPool(
                        self._url,
                        min_size=1,
                        max_size=self.MAX_CONNECTIONS,
                        open=False,
                        timeout=self.timeout,
                        # A failed connection is retried with a growing delay; give up on it after
                        # a while, so that once PostgreSQL is back the next request starts afresh.
                        reconnect_timeout=max(10.0, 2 * self.timeout),
                        check=ConnectionPool.check_connection,
                        kwargs={"row_factory": dict_row, **self._connection_options()},
                        name="shop",
                    )
                    # wait=False: connections are made in the background; a request waits for
                    # one at most `timeout` seconds.
                    pool.open(wait=False)
                    self._pool = pool
        return self._pool

    def _connection_options(self) -> dict[str, Any]:
        """libpq's and the server's bounds on every wait, so that a hung server (stopped, or a
        network that drops everything) costs a request DATABASE_TIMEOUT, not forever: the connect
        (libpq counts whole seconds), a statement, a transaction left idle by a client that gave up
        (the server rolls it back), and TCP keepalives and tcp_user_timeout, which notice a peer
        that stopped answering the network and so free a thread stuck reading from it."""
        milliseconds = max(1, round(self.timeout * 1000))
        return {
            "connect_timeout": max(2, round(self.timeout)),
            "options": f"-c statement_timeout={milliseconds} -c idle_in_transaction_session_timeout={milliseconds}",
            "keepalives": 1,
            "keepalives_idle": max(1, round(self.timeout)),
            "keepalives_interval": 1,
            "keepalives_count": 3,
            "tcp_user_timeout": milliseconds,
        }

    @contextmanager
    def _begin(self, write: bool) -> Iterator[Any]:
        import psycopg

        with self._pool_opened().connection(timeout=self.time_left()) as connection:
            committing = False
            try:
                with connection.transaction():
                    yield connection
                    committing = True
            except psycopg.Error as error:
                if committing:
                    # The commit was sent: whether it was made, only the database knows now.
                    raise _CommitUnanswered("the commit got no answer") from error
                raise

    def lock_name(self, transaction: Transaction, name: str) -> None:
        transaction.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))

    def _lock_migrations(self, transaction: Transaction) -> None:
        # Released when the transaction ends: replicas starting together migrate one after another.
        transaction.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK_KEY,))

    def _unavailable_reason(self, error: BaseException) -> str | None:
        import psycopg

        if isinstance(error, TimeoutError):
            return str(error)
        # PoolTimeout is an OperationalError; so are a refused connection, a server shutting down,
        # a full disk (SQLSTATE class 53) and a statement cancelled by statement_timeout (57014).
        if not isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
            return None
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        sqlstate = getattr(error, "sqlstate", None)
        cause = f"{type(error).__name__}{f' {sqlstate}' if sqlstate else ''}: {first_line}"
        return _without(cause, self._password)

    def _unavailable_kind(self, error: BaseException) -> str:
        from psycopg_pool import PoolTimeout

        sqlstate = getattr(error, "sqlstate", None) or ""
        # Class 53: insufficient resources (53100 disk full, 53200 out of memory); 57014: a
        # statement cancelled by statement_timeout.
        if sqlstate in ("53100", "53200"):
            return "full"
        if isinstance(error, (PoolTimeout, TimeoutError)) or sqlstate == "57014":
            return "timeout"
        return "unavailable"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close(timeout=5)


def _without(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


# scheme -> engine. Adding an engine is a class above and a line here.
ENGINES: dict[str, type[Database]] = {
    "sqlite": SQLiteDatabase,
    "postgresql": PostgresDatabase,
    "postgres": PostgresDatabase,
}
