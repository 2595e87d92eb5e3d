"""The engines by URL scheme: which one a DATABASE_URL names, whether it is valid, and opening it."""

from __future__ import annotations

from shop.db.database import Database
from shop.db.postgresql import PostgresDatabase
from shop.db.sqlite import SQLiteDatabase

# scheme -> engine. Adding an engine is a module beside this one and a line here.
ENGINES: dict[str, type[Database]] = {
    "sqlite": SQLiteDatabase,
    "postgresql": PostgresDatabase,
    "postgres": PostgresDatabase,
}


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
