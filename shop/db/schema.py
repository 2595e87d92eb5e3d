"""The schema's migrations: versioned SQL files in shop/migrations/, read for one engine and
applied once per database, in version order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shop.db.database import Transaction

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# NNNN_name.sql for every engine, NNNN_name.<engine>.sql where an engine needs its own SQL.
_MIGRATION_FILE = re.compile(r"([0-9]{4})_([a-z0-9_]+?)(?:\.([a-z]+))?\.sql")


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


def apply_migrations(transaction: Transaction, engine: str) -> list[int]:
    """Apply, in transaction, the migrations of engine that the database lacks; the versions applied."""
    transaction.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row["version"] for row in transaction.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for migration in load_migrations(engine):
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
