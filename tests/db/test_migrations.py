"""The schema: versioned migrations applied once, safely when several processes start together, a
database made before migrations existed upgraded in place, and each engine's failure modes turned
into DatabaseUnavailable without the password."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from shop.cart import price_cart
from shop.catalog import Catalog, Category, Product
from shop.db import DatabaseUnavailable, load_migrations, open_database
from shop.addresses import ShippingAddress
from shop.orders import OrderStore, new_checkout_key
from shop.users import PasswordHasher, User, UserStore
from tests.shop_process import REPO_ROOT, free_port

ADDRESS = ShippingAddress("Ada Lovelace", "12 St James's Square", "London", "SW1Y 4JH", "GB")
CATALOG = Catalog([Product("mug", "Mug", "A mug.", 1400, "kitchen", "mug.svg")], [Category("kitchen", "Kitchen")])
LATEST = max(migration.version for migration in load_migrations("sqlite"))

# The schema exactly as the shop created it before migrations existed (shop/db.py at 90013ae).
OLD_SCHEMA = """
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


def applied_versions(db) -> list[int]:
    with db.transaction("read", write=False) as transaction:
        rows = transaction.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [row["version"] for row in rows]


def test_every_engine_has_every_migration():
    versions = {engine: [m.version for m in load_migrations(engine)] for engine in ("sqlite", "postgresql")}
    assert versions["sqlite"] == versions["postgresql"] == list(range(1, LATEST + 1))


def test_migrations_apply_once_and_are_recorded(database_url, db):
    assert db.migrate() == list(range(1, LATEST + 1))
    assert db.migrate() == []
    reopened = open_database(database_url, timeout=5)
    try:
        assert reopened.migrate() == []
        assert applied_versions(reopened) == list(range(1, LATEST + 1))
    finally:
        reopened.close()


_MIGRATE_AT = """
import json, sys, time
from shop.db import open_database
url, start_at = sys.argv[1], float(sys.argv[2])
database = open_database(url, timeout=30)
while time.time() < start_at:
    time.sleep(0.001)
print(json.dumps(database.migrate()))
database.close()
"""


def test_three_processes_migrating_at_once_apply_each_migration_once(database_url, db):
    start_at = time.time() + 2  # all three imported and waiting by then
    processes = [
        subprocess.Popen([sys.executable, "-c", _MIGRATE_AT, database_url, str(start_at)], cwd=REPO_ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(results) == [[], [], list(range(1, LATEST + 1))]
    assert applied_versions(db) == list(range(1, LATEST + 1))


_OPEN_AT = """
import sys, time
from shop.db import open_database
url, start_at = sys.argv[1], float(sys.argv[2])
while time.time() < start_at:
    time.sleep(0.0005)
database = open_database(url, timeout=10)
database.migrate()
database.close()
"""


def test_processes_opening_a_new_sqlite_file_at_once_all_get_it(tmp_path):
    # WORKERS or replicas starting together on a fresh DATA_DIR: they race to switch the new file to
    # WAL, which SQLite refuses the losers at once ("database is locked") rather than waiting.
    for round_ in range(4):
        url = f"sqlite://{tmp_path}/fresh-{round_}.db"
        start_at = time.time() + 1.5
        processes = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, url, str(start_at)], cwd=REPO_ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(6)]
        for process in processes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err


def test_a_database_made_before_migrations_upgrades_in_place(tmp_path):
    path = tmp_path / "shop.db"
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    old.execute("PRAGMA user_version = 1")
    stored_hash = PasswordHasher(n=2**4).hash("old password")
    old.execute("INSERT INTO users (username, password_hash, created_at) VALUES ('Legacy', ?, '2024-01-02T03:04:05+00:00')",
                (stored_hash,))
    old.execute("INSERT INTO orders (user_id, created_at, ship_name, ship_street, ship_city, ship_postcode,"
                " ship_country, subtotal_cents, shipping_cents, total_cents, item_count)"
                " VALUES (1, '2024-01-02T03:04:05+00:00', 'Ada', '1 Road', 'Town', '12345', 'GB', 2800, 495, 3295, 2)")
    old.execute("INSERT INTO order_lines VALUES (1, 0, 'mug', 'Old Mug', 1400, 2, 2800)")
    old.commit()
    old.close()

    db = open_database(f"sqlite://{path}", timeout=5)
    try:
        assert db.migrate() == list(range(1, LATEST + 1))
        users, orders = UserStore(db), OrderStore(db)
        assert users.authenticate("legacy", "old password") == User(id=1, username="Legacy")
        (kept,) = orders.list_for_user(1)
        assert (kept.id, kept.total_cents, kept.address.name) == (1, 3295, "Ada")
        assert [(line.name, line.unit_price_cents, line.quantity) for line in kept.lines] == [("Old Mug", 1400, 2)]
        key = new_checkout_key()
        placed = orders.place(1, price_cart({"mug": 1}, CATALOG), ADDRESS, key)
        assert placed.id == 2
        assert orders.place(1, price_cart({"mug": 1}, CATALOG), ADDRESS, key) == placed
        assert applied_versions(db) == list(range(1, LATEST + 1))
    finally:
        db.close()


# --- SQLite ---------------------------------------------------------------------------------------


def test_sqlite_uses_wal_and_foreign_keys(tmp_path):
    db = open_database(f"sqlite://{tmp_path / 'shop.db'}", timeout=5)
    try:
        with db.transaction("read", write=False) as transaction:
            assert transaction.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert transaction.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        db.close()


def test_sqlite_reads_go_on_while_another_process_holds_the_write_lock(tmp_path):
    """Reads take no write lock; a write that cannot get it within the timeout is DatabaseUnavailable."""
    path = tmp_path / "shop.db"
    db = open_database(f"sqlite://{path}", timeout=1)
    users, orders = UserStore(db, PasswordHasher(n=2**4)), OrderStore(db)
    alice = users.register("alice", "password1")
    placed = orders.place(alice.id, price_cart({"mug": 1}, CATALOG), ADDRESS)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert users.authenticate("alice", "password1") == alice
        assert orders.list_for_user(alice.id) == [placed]
        with pytest.raises(DatabaseUnavailable) as raised:
            orders.place(alice.id, price_cart({"mug": 2}, CATALOG), ADDRESS)
        assert raised.value.operation == "place order"
        assert "SQLITE_BUSY" in raised.value.reason
        with pytest.raises(DatabaseUnavailable):
            users.register("bob", "password2")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert orders.list_for_user(alice.id) == [placed]
    assert users.register("bob", "password2").username == "bob"
    db.close()


# --- PostgreSQL -----------------------------------------------------------------------------------


def test_postgresql_that_is_not_there_is_unavailable_within_the_timeout_and_hides_the_password():
    url = f"postgresql://shop:pa55-w0rd-secret@127.0.0.1:{free_port()}/shop"
    db = open_database(url, timeout=1)
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            UserStore(db).authenticate("demo", "demo1234")
    finally:
        db.close()
    assert time.monotonic() - started < 30  # bounded, not hung (the timeout is 1s; this is slack)
    assert "pa55-w0rd-secret" not in str(raised.value)
    assert raised.value.operation == "migrate"


def test_postgresql_outage_is_unavailable_then_serves_again_without_reopening(postgres_server):
    url = postgres_server.create_database("shop_outage")
    db = open_database(url, timeout=2)
    users = UserStore(db, PasswordHasher(n=2**4))
    alice = users.register("alice", "password1")
    postgres_server.stop()
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            users.authenticate("alice", "password1")
        assert postgres_server.password not in str(raised.value)
    finally:
        postgres_server.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            assert users.authenticate("alice", "password1") == alice
            break
        except DatabaseUnavailable:
            assert time.monotonic() < deadline, "still unavailable a minute after PostgreSQL came back"
            time.sleep(0.5)
    db.close()
