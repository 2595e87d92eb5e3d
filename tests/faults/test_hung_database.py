"""PostgreSQL hung (its postmaster and every backend stopped with SIGSTOP: a hang, not a refusal)
while shoppers check out and read their orders, through nginx in front of two real `python app.py`
replicas (tests/nginx_server.py, the shipped deploy/nginx/nginx.conf). Every answer comes within
DATABASE_TIMEOUT + 1 s (a margin more for a loaded machine), the ones that need the database as a
503; the catalog answers 200 throughout, without waiting on the database; after SIGCONT every order
in the database was acknowledged or settled at the shopper's next visit, and every acknowledged add
was ordered or is still in the cart, exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter

import pytest

from tests.availability import unavailable
from tests.faults.kit import SHIPPING, Browser, assert_no_tracebacks, hidden
from tests.nginx_server import NginxServer
from tests.postgres_server import PostgresServer, missing_reason
from tests.shop_process import AppProcess, free_port

DATABASE_TIMEOUT = 3
# The bound is DATABASE_TIMEOUT + 1 s; one more second for a loaded machine.
ANSWER_WITHIN = DATABASE_TIMEOUT + 2
PASSWORD = "quiet-harbour-lantern-42"
PRODUCT = "stoneware-mug"


@pytest.fixture
def postgres():
    reason = missing_reason()
    if reason:
        unavailable(reason)
    server = PostgresServer.start_new()
    yield server
    _signal_all(server, signal.SIGCONT)  # whatever the test did, it can be stopped
    server.destroy()


def _pids(server: PostgresServer) -> list[int]:
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    with open(f"/proc/{postmaster}/task/{postmaster}/children") as children:
        return [postmaster, *(int(pid) for pid in children.read().split())]


def _signal_all(server: PostgresServer, sig: int) -> None:
    for pid in _pids(server):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Shopper(threading.Thread):
    """Adds one mug, checks out, and again, until stopped; keeps what the shop acknowledged."""

    def __init__(self, base_url: str, username: str) -> None:
        super().__init__()
        self.browser = Browser(base_url)
        self.username = username
        self.acknowledged_adds = 0
        self.orders_seen: set[int] = set()  # acknowledged, or shown at a visit that settled one
        self.slow: list[tuple[str, int, float]] = []
        self.stop = threading.Event()

    def timed(self, method: str, path: str, fields: dict | None = None):
        started = time.monotonic()
        page = self.browser.request(method, path, fields)
        took = time.monotonic() - started
        if took > ANSWER_WITHIN:
            self.slow.append((f"{method} {path}", page.status, took))
        if page.status == 303 and page.headers["Location"].startswith("/orders/"):
            self.orders_seen.add(int(page.headers["Location"].rsplit("/", 1)[1]))
        return page

    def run(self) -> None:
        while not self.stop.is_set():
            if self.timed("POST", "/cart/add", {"product_id": PRODUCT}).status == 303:
                self.acknowledged_adds += 1
            form = self.timed("GET", "/checkout")
            if form.status == 200:
                self.timed("POST", "/checkout", {**SHIPPING, "checkout_key": hidden(form.html, "checkout_key")})
            self.timed("GET", "/orders")


def test_a_hung_postgresql_answers_503_in_time_keeps_the_catalog_up_and_loses_no_order(postgres, tmp_path):
    url = postgres.create_database("shop_hung")
    environ = {"DATABASE_URL": url, "DATABASE_TIMEOUT": str(DATABASE_TIMEOUT), "WORKERS": "1",
               "COOKIE_SECRET": "hung-database-test-secret", "TRUSTED_PROXIES": "127.0.0.1",
               "REGISTER_PER_MINUTE": "100"}
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    replicas = [AppProcess(data_dir, "file", free_port(), tmp_path / f"replica{n}.log", environ) for n in range(2)]
    nginx = None
    try:
        for replica in replicas:
            replica.start()
        nginx = NginxServer(tmp_path / "nginx", [replica.port for replica in replicas]).start()
        shoppers = [Shopper(nginx.url, f"hung{n}") for n in range(3)]
        for shopper in shoppers:
            page = shopper.browser.post("/register", username=shopper.username, password=PASSWORD)
            assert page.status == 303, (page.status, page.flash)
        bystander = Browser(nginx.url)
        browsing, stop_browsing = [], threading.Event()

        def browse() -> None:
            while not stop_browsing.is_set():
                for path in ("/", "/product/cast-iron-teapot", "/cart", "/?q=tea"):
                    started = time.monotonic()
                    status = bystander.get(path).status
                    browsing.append((path, status, time.monotonic() - started))

        walker = threading.Thread(target=browse)
        walker.start()
        for shopper in shoppers:
            shopper.start()
        time.sleep(1.5)
        _signal_all(postgres, signal.SIGSTOP)  # the postmaster and every backend: a hang
        try:
            time.sleep(DATABASE_TIMEOUT * 2 + 2)
            # While it hangs: a login, the orders page, a checkout, each a 503 in time.
            visitor = Browser(nginx.url)
            for method, path, fields in (("POST", "/login", {"username": "hung0", "password": PASSWORD}),):
                started = time.monotonic()
                page = visitor.request(method, path, fields)
                assert page.status == 503 and page.headers.get("Retry-After"), (path, page.status)
                assert time.monotonic() - started <= ANSWER_WITHIN
            during = [page for page in browsing if page[1] != 200]
            assert not during, during[:5]
        finally:
            _signal_all(postgres, signal.SIGCONT)
        time.sleep(2)
        for shopper in shoppers:
            shopper.stop.set()
        for shopper in shoppers:
            shopper.join()
        stop_browsing.set()
        walker.join()

        # The next visit settles what is still pending.
        for shopper in shoppers:
            for _ in range(2):
                shopper.timed("GET", "/cart")
        carts = {shopper.username: shopper.browser.cart() for shopper in shoppers}

        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT u.username, o.id, l.quantity FROM orders o JOIN users u ON u.id = o.user_id"
                " JOIN order_lines l ON l.order_id = o.id WHERE l.product_id = %s", (PRODUCT,)).fetchall()
        ordered = Counter()
        for username, order_id, quantity in rows:
            ordered[username] += quantity
            shopper = next(s for s in shoppers if s.username == username)
            assert order_id in shopper.orders_seen, f"order {order_id} of {username} was never acknowledged or shown"
        for shopper in shoppers:
            in_cart = carts[shopper.username].get(PRODUCT, 0)
            # Every acknowledged add is in exactly one place: an order or the cart.
            assert ordered[shopper.username] + in_cart == shopper.acknowledged_adds, (
                shopper.username, ordered[shopper.username], in_cart, shopper.acknowledged_adds)
            assert not shopper.slow, shopper.slow
            shopper.browser.no_500()
        statuses = Counter(status for shopper in shoppers for status in shopper.browser.statuses)
        assert statuses[503] > 0, statuses  # the hang was met
        assert {status for _, status, _ in browsing} == {200}
        # The catalog never waited on the database.
        assert max(took for _, _, took in browsing) < DATABASE_TIMEOUT, max(browsing, key=lambda page: page[2])
        bystander.no_500()
        for replica in replicas:
            assert_no_tracebacks(replica)
    finally:
        if nginx is not None:
            nginx.stop()
        for replica in replicas:
            replica.kill9()


def test_a_page_that_settles_a_pending_checkout_waits_for_a_hung_database_once(postgres, tmp_path):
    # GET /orders first settles a checkout whose answer was lost, then lists the orders: two reads
    # of the database. While it hangs, the first one's timeout must be the page's answer, not the
    # start of a second full wait (the test above met a 6 s answer once).
    url = postgres.create_database("shop_hung_settle")
    sessions = tmp_path / "sessions"
    environ = {"DATABASE_URL": url, "DATABASE_TIMEOUT": str(DATABASE_TIMEOUT), "WORKERS": "1",
               "COOKIE_SECRET": "hung-database-test-secret", "SESSION_DIR": str(sessions)}
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = AppProcess(data_dir, "file", free_port(), tmp_path / "app.log", environ)
    app.start()
    try:
        shopper = Browser(app.url)
        assert shopper.post("/register", username="settle1", password=PASSWORD).status == 303
        assert shopper.post("/cart/add", product_id=PRODUCT).status == 303
        asyncio.run(_plant_pending_checkout(sessions))
        _signal_all(postgres, signal.SIGSTOP)
        try:
            for path in ("/orders", "/orders/1"):
                started = time.monotonic()
                page = shopper.get(path)
                took = time.monotonic() - started
                assert page.status == 503 and page.headers.get("Retry-After"), (path, page.status)
                assert took < DATABASE_TIMEOUT * 1.5, (path, took)
        finally:
            _signal_all(postgres, signal.SIGCONT)
        assert shopper.get("/orders").status == 200  # settled now: nothing was placed under that key
        assert shopper.cart() == {PRODUCT: 1}
        shopper.no_500()
        assert_no_tracebacks(app)
    finally:
        app.kill9()


async def _plant_pending_checkout(directory):
    """What a checkout whose commit went unanswered leaves in the account's record (handlers/checkout.py):
    in the record of the one account that has a cart."""
    from sessions import FileStore, SessionManager
    store = FileStore(directory, writer_process=False)
    manager = SessionManager(store, ttl=3600)
    try:
        for user_id in range(1, 10):
            async with manager.owner_record(str(user_id), ttl=3600) as record:
                if record.get("cart") == {PRODUCT: 1}:
                    record["pending_checkout"] = {"key": "a-key-whose-answer-was-lost", "user_id": user_id}
                    return
        raise AssertionError("no account record with the cart")
    finally:
        await store.close()
