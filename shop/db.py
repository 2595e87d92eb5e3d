"""The shop's SQLite database: opening it, creating the schema, and running transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    created_at     TEXT NOT NULL,
    ship_name      TEXT NOT NULL,
    ship_street    TEXT NOT NULL,
    ship_city      TEXT NOT NULL,
    ship_postcode  TEXT NOT NULL,
    ship_country   TEXT NOT NULL,
    subtotal_cents INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    shipping_cents INTEGER NOT NULL CHECK (shipping_cents >= 0),
    total_cents    INTEGER NOT NULL CHECK (total_cents >= 0),
    item_count     INTEGER NOT NULL CHECK (item_count > 0)
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, id);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id         INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    product_id       TEXT NOT NULL,
    product_name     TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    line_total_cents INTEGER NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, position)
);
"""


class Database:
    """One SQLite file shared by the stores, safe to use from several executor threads.

    It holds a single connection behind a lock rather than one per thread: the shop's queries
    take microseconds and SQLite allows one writer at a time anyway, so a lock costs nothing
    noticeable, whereas per-thread connections would outlive the executor's threads unclosed and
    would turn writer contention into SQLITE_BUSY errors to retry.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: transactions are begun and ended explicitly in transaction().
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._connection.row_factory = sqlite3.Row
        with self._lock:
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA foreign_keys = ON")
            # Another process (a second shop, a maintenance script) may hold the write lock briefly.
            self._connection.execute("PRAGMA busy_timeout = 10000")
            self._connection.executescript(_SCHEMA)
            self._connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction: committed if it ends normally, rolled back if it raises."""
        with self._lock:
            # IMMEDIATE takes the write lock up front, so a read-then-write block cannot fail
            # half-way because another process wrote in between.
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._connection.close()
