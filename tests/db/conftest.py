"""The database suite runs every test against each engine: SQLite in a temporary file, and a real
PostgreSQL started once per session (tests/postgres_server.py) with a fresh database per test.
A missing PostgreSQL skips its half with the reason; under CI=true that is a failure."""

from __future__ import annotations

import itertools

import pytest

from shop.db import open_database
from tests.availability import unavailable
from tests.postgres_server import PostgresServer, missing_reason

ENGINES = ("sqlite", "postgresql")
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server():
    reason = missing_reason()
    if reason is not None:
        unavailable(reason)
    server = PostgresServer.start_new()
    yield server
    server.destroy()


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def make_database_url(engine, tmp_path, request):
    """make_database_url() -> the URL of a new, empty database of this test's engine."""

    def make() -> str:
        number = next(_database_numbers)
        if engine == "sqlite":
            return f"sqlite://{tmp_path / f'shop-{number}.sqlite3'}"
        return request.getfixturevalue("postgres_server").create_database(f"shop_test_{number}")

    return make


@pytest.fixture
def database_url(make_database_url):
    return make_database_url()


@pytest.fixture
def db(database_url):
    database = open_database(database_url, timeout=5)
    yield database
    database.close()
