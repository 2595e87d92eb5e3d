"""The schema's migrations: versioned SQL files in shop/migrations/, read for one engine in version
order (Database.migrate applies those a database lacks)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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

