"""Real `python app.py` processes on one PostgreSQL (the file session store on a shared SESSION_DIR):
an account made on one is there on the other, one cart checked out twice at once is one order, and a
PostgreSQL outage answers 503 for database work, loses nothing, and heals without a restart."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.error

import pytest

from tests.pages import Page
from tests.shop_process import Shopper

pytestmark = pytest.mark.timeout(240)

COOKIE_SECRET = "a-shared-secret-for-both-shops-0123456789"
SHIPPING = {"name": "Dana Demo", "street": "1 Harbour Street", "city": "Springfield", "postcode": "12345",
            "country": "DE"}
_CHECKOUT_KEY = re.compile(r'name="checkout_key" value="([^"]+)"')
_names = itertools.count(1)


@pytest.fixture
def shop_url(postgres_server):
    return postgres_server.create_database(f"shop_app_{next(_names)}")


@pytest.fixture
def start_shop(start_app, tmp_path, shop_url):
    """start_shop(name) -> a `python app.py` on the shared PostgreSQL and sessions folder, with a
    DATA_DIR of its own (so nothing but PostgreSQL can share the accounts)."""

    def start(name: str):
        return start_app(
            "file", tmp_path / f"data-{name}", DATABASE_URL=shop_url, DATABASE_TIMEOUT="2",
            SESSION_DIR=str(tmp_path / "sessions"), COOKIE_SECRET=COOKIE_SECRET,
        )

    return start


def register(shopper: Shopper) -> str:
    username = f"shopper{next(_names)}"
    page = shopper.post("/register", username=username, password="correct horse")
    assert page.status == 200 and page.current_user and username in page.current_user, page.flash
    return username


def fill_cart(shopper: Shopper, quantity: int = 2) -> str:
    product_id = shopper.get("/").all("product-card")[0]["attrs"]["data-product-id"]
    assert shopper.post("/cart/add", product_id=product_id, quantity=str(quantity)).status == 200
    return product_id


def checkout_key(shopper: Shopper) -> str:
    page = shopper.get("/checkout")
    assert page.status == 200, page.flash
    return _CHECKOUT_KEY.search(page.html).group(1)


def order_ids(shopper: Shopper) -> list[int]:
    page = shopper.get("/orders")
    assert page.status == 200, f"/orders answered {page.status}: {page.flash}"
    return [int(order["attrs"]["data-order-id"]) for order in page.all("order")]


def post_raw(shopper: Shopper, path: str, **fields: str) -> tuple[int, dict[str, str], Page | None]:
    """One form post, redirects not followed: (status, headers, page)."""
    request = shopper._form(path, fields)
    shopper.jar.add_cookie_header(request)
    try:
        with shopper._unredirected.open(request, timeout=60) as response:
            return response.status, dict(response.headers), None
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        return error.code, dict(error.headers), Page(body, status=error.code)


def test_an_account_made_on_one_shop_logs_in_and_orders_on_the_other(start_shop):
    a, b = start_shop("a"), start_shop("b")
    first = Shopper(a.url)
    username = register(first)

    second = Shopper(b.url)
    page = second.post("/login", username=username, password="correct horse")
    assert page.status == 200 and username in (page.current_user or ""), page.flash
    fill_cart(second)
    page = second.post("/checkout", checkout_key=checkout_key(second), **SHIPPING)
    assert page.status == 200 and "/orders/" in page.url, page.flash
    order_id = int(page.text("order-id"))

    assert order_ids(first) == [order_id]
    assert first.get(f"/orders/{order_id}").status == 200


@pytest.mark.parametrize("same_form", [True, False], ids=["one-form-twice", "two-forms"])
def test_two_simultaneous_checkouts_of_one_cart_place_one_order(start_shop, same_form):
    a, b = start_shop("a"), start_shop("b")
    shopper = Shopper(a.url)
    register(shopper)
    fill_cart(shopper)
    keys = [checkout_key(shopper)] * 2 if same_form else [checkout_key(shopper), checkout_key(shopper)]
    tabs = [shopper, shopper.at(b.url)]
    barrier = threading.Barrier(2)
    statuses: list = [None, None]

    def submit(index: int) -> None:
        barrier.wait()
        statuses[index] = tabs[index].post_without_redirect("/checkout", checkout_key=keys[index], **SHIPPING).status

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303, 303]
    assert len(order_ids(shopper)) == 1
    assert shopper.get("/cart").cart_lines == {}


def test_postgresql_stopped_mid_session_answers_503_then_checkout_works_with_the_same_cookie(
        start_shop, postgres_server):
    shop = start_shop("a")
    shopper = Shopper(shop.url)
    username = register(shopper)
    product_id = fill_cart(shopper, quantity=3)
    key = checkout_key(shopper)

    postgres_server.stop()
    try:
        status, headers, page = post_raw(shopper, "/checkout", checkout_key=key, **SHIPPING)
        assert status == 503
        assert int(headers["Retry-After"]) > 0
        assert "try again" in page.flash
        assert shopper.get("/orders").status == 503
        assert Shopper(shop.url).post("/login", username=username, password="correct horse").status == 503
        assert Shopper(shop.url).post("/register", username="newcomer", password="correct horse").status == 503
        # The process itself is healthy (200): the database's state is in the body, for an alert.
        health = json.loads(shopper.get("/healthz").html)
        assert (health["database_engine"], health["database"], health["session_store"]) == (
            "postgresql", "unavailable", "ok")
        # Browsing and the cart need no database.
        assert shopper.get("/").status == 200
        assert shopper.get("/cart").cart_lines == {product_id: 3}
        other = shopper.get("/").all("product-card")[1]["attrs"]["data-product-id"]
        assert shopper.post("/cart/add", product_id=other, quantity="1").status == 200
    finally:
        postgres_server.start()
    assert shopper.get("/cart").cart_lines == {product_id: 3, other: 1}

    deadline = time.monotonic() + 60
    while True:
        status, headers, _ = post_raw(shopper, "/checkout", checkout_key=key, **SHIPPING)
        if status != 503:
            break
        assert time.monotonic() < deadline, "checkout still 503 a minute after PostgreSQL came back"
        time.sleep(0.5)
    assert status == 303
    assert json.loads(shopper.get("/healthz").html)["database"] == "ok"
    (order_id,) = order_ids(shopper)
    assert headers["Location"] == f"/orders/{order_id}"
    assert shopper.get(f"/orders/{order_id}").status == 200
    assert shopper.get("/cart").cart_lines == {}
    assert postgres_server.password not in shop.output()


def test_a_shop_started_before_postgresql_serves_once_it_is_there(start_app, tmp_path, postgres_server):
    url = postgres_server.create_database(f"shop_late_{next(_names)}")
    postgres_server.stop()
    try:
        # It polls the login until the demo account exists: those early "wrong password" answers
        # are not a guesser, so the login throttle (not what this test is about) is lifted.
        shop = start_app("file", tmp_path / "data-late", DATABASE_URL=url, DATABASE_TIMEOUT="1",
                         LOGIN_THROTTLE_FAILURES="1000")
        shopper = Shopper(shop.url)
        assert shopper.get("/").status == 200
        assert shopper.post("/login", username="demo", password="demo1234").status == 503
    finally:
        postgres_server.start()
    deadline = time.monotonic() + 60
    while True:
        page = shopper.post("/login", username="demo", password="demo1234")
        if page.status == 200:
            break
        assert page.status in (400, 503), page.status  # 400: not seeded yet
        assert time.monotonic() < deadline, "the demo account did not appear a minute after PostgreSQL came"
        time.sleep(0.5)
    assert "demo" in (page.current_user or "")
    assert postgres_server.password not in shop.output()
