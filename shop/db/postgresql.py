"""PostgreSQL through psycopg's connection pool: every wait bounded, a commit without an answer told
apart, advisory locks for named locks and migrations."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shop.db.database import CommitUnanswered, Database, Transaction
from shop.db.masking import mask_password

# Any constant shared by every replica: the key of PostgreSQL's advisory lock around migrations.
_MIGRATION_LOCK_KEY = 0x5_40B_DB


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
            raise ValueError(mask_password(reason, password)) from None

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
                    raise CommitUnanswered("the commit got no answer") from error
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
        return mask_password(cause, self._password)

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
