"""What every engine offers the stores: `transaction(operation)` with `?` placeholders, the
deadline of `call_within`, the schema applied on first use, and DatabaseUnavailable for "the
database cannot do this now". Each engine (sqlite.py, postgresql.py) fills in how it begins a
transaction and which of its errors mean "unavailable"."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from shop.db import schema

T = TypeVar("T")


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


class CommitUnanswered(Exception):
    """The commit was sent and failed without an answer (the connection broke, the server hung)."""


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
        except CommitUnanswered as error:
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
        for migration in schema.load_migrations(self.name):
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
