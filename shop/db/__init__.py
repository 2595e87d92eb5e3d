"""The shop's database: the one place where SQLite and PostgreSQL differ.

`open_database(url, timeout)` picks the engine from the URL's scheme (engines.py: ENGINES, one line
per engine). Every engine gives the stores the same thing (database.py): `transaction(operation)`,
a block that commits when it ends and rolls back when it raises, in which SQL is written with `?`
placeholders. The schema lives in versioned files in shop/migrations/, applied on first use, once
per database, under a lock that holds across processes (schema.py). A database that cannot be
reached, is full, locked or failing raises DatabaseUnavailable, naming the operation and the cause;
the password never appears in it (masking.py).

`call_within(deadline, function)` runs database work that must be over by a deadline (a request
that answers 503 after DATABASE_TIMEOUT): every wait inside it is bounded by the time left, and a
transaction that would commit after the deadline rolls back instead, so nothing commits after the
request's answer.

    database.py    DatabaseUnavailable, Transaction, Database: what every engine offers the stores
    schema.py      the migrations in shop/migrations/: read, and applied once
    sqlite.py      SQLiteDatabase          postgresql.py  PostgresDatabase
    engines.py     ENGINES (scheme -> engine), open_database, check_database_url
    masking.py     mask_password: no password in a message or a log line
    check.py       DatabaseCheck: whether it answers, for /healthz, one ping at a time
"""

from shop.db.check import DATABASE_CHECK_SECONDS, DatabaseCheck
from shop.db.database import Database, DatabaseObserver, DatabaseUnavailable, Transaction
from shop.db.engines import ENGINES, check_database_url, open_database
from shop.db.masking import mask_password
from shop.db.postgresql import PostgresDatabase
from shop.db.schema import MIGRATIONS_DIR, Migration, load_migrations
from shop.db.sqlite import SQLiteDatabase, sqlite_path

__all__ = [
    "DATABASE_CHECK_SECONDS", "ENGINES", "MIGRATIONS_DIR", "Database", "DatabaseCheck", "DatabaseObserver",
    "DatabaseUnavailable", "Migration",
    "PostgresDatabase", "SQLiteDatabase", "Transaction", "check_database_url", "load_migrations",
    "mask_password", "open_database", "sqlite_path",
]
