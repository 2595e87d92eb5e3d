"""Fixtures for the domain's unit tests."""
import pytest

from shop.db import Database


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "shop.sqlite3")
    yield database
    database.close()
