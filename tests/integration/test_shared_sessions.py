"""Two real `python app.py` processes on one shared session store (every backend whose sessions are
not tied to one process: the file store on one DATA_DIR, hence one sessions folder; the redis store
on one redis-server) and one database and cookie secret: a session is one session in both.
Simultaneous changes sent to both lose nothing (the session is locked across processes), and a
logout on one ends the session on the other.
"""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from sessions import registry
from tests.shop_process import Shopper

BURST = 50
SHARED_BACKENDS = [name for name in registry.names() if not registry.backend(name).process_local]

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=SHARED_BACKENDS)
def two_shops(request, start_app, tmp_path):
    """Processes A and B sharing one DATA_DIR (and, for redis, one Redis). A starts first and
    generates the cookie secret that B then reads, so that a cookie signed by either is valid on both."""
    backend, environ = request.param, {}
    if backend == "redis":
        environ = {"REDIS_URL": request.getfixturevalue("redis_server").url,
                   "SESSION_REDIS_PREFIX": f"test:{request.node.name}:{tmp_path.name}:"}
    data_dir = tmp_path / "shared-data"
    a = start_app(backend, data_dir, **environ)
    b = start_app(backend, data_dir, **environ)
    return a, b


def healthz(url: str) -> dict:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def log_in_as_demo_with_one_product(shopper: Shopper) -> str:
    """Log in as demo, add the first product once; returns its id."""
    page = shopper.post("/login", username="demo", password="demo1234")
    assert page.status == 200, f"login answered {page.status}"
    assert page.current_user is not None and "demo" in page.current_user, "the header does not show demo"
    product_id = shopper.get("/").all("product-card")[0]["attrs"]["data-product-id"]
    page = shopper.post("/cart/add", product_id=product_id, quantity="1")
    assert page.status == 200, f"adding {product_id} answered {page.status}"
    assert shopper.get("/cart").cart_lines == {product_id: 1}
    return product_id


def add_all_at_once(shoppers: list[Shopper], product_id: str) -> list[int | str]:
    """Send one add-to-cart (quantity 1) per shopper, all released together by a barrier; returns
    the answers' statuses (or the error, where none came)."""
    barrier = threading.Barrier(len(shoppers))
    statuses: list[int | str] = [0] * len(shoppers)

    def add(index: int) -> None:
        barrier.wait()
        try:
            answer = shoppers[index].post_without_redirect("/cart/add", product_id=product_id, quantity="1")
            statuses[index] = answer.status
        except OSError as error:
            statuses[index] = repr(error)

    threads = [threading.Thread(target=add, args=(index,)) for index in range(len(shoppers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_a_login_on_one_process_is_seen_by_the_other(two_shops):
    a, b = two_shops
    on_a = Shopper(a.url)
    product_id = log_in_as_demo_with_one_product(on_a)
    cart_on_b = on_a.at(b.url).get("/cart")
    assert cart_on_b.cart_lines == {product_id: 1}, "B does not see the cart A filled"
    assert "demo" in (cart_on_b.current_user or ""), "B does not see the login made on A"
    assert healthz(a.url)["instance"] != healthz(b.url)["instance"]


def test_simultaneous_adds_split_over_two_processes_lose_no_update(two_shops):
    a, b = two_shops
    on_a = Shopper(a.url)
    product_id = log_in_as_demo_with_one_product(on_a)
    on_b = on_a.at(b.url)

    statuses = add_all_at_once([on_a if index % 2 == 0 else on_b for index in range(BURST)], product_id)

    acknowledged = statuses.count(303)
    assert acknowledged == BURST, f"only {acknowledged} of {BURST} adds were answered 303: {statuses}"
    for name, shopper in (("A", on_a), ("B", on_b)):
        cart = shopper.get("/cart")
        assert cart.status == 200
        assert cart.cart_lines == {product_id: 1 + acknowledged}, (
            f"{name} shows the cart {cart.cart_lines} after {acknowledged} acknowledged adds to 1: updates were lost"
        )
        assert cart.current_user is not None and "demo" in cart.current_user, f"{name} no longer shows demo"


def test_logout_on_one_process_ends_the_session_on_the_other(two_shops):
    a, b = two_shops
    on_a = Shopper(a.url)
    product_id = log_in_as_demo_with_one_product(on_a)
    on_b = on_a.at(b.url)
    cart_on_b = on_b.get("/cart")
    assert cart_on_b.cart_lines == {product_id: 1}, "B does not see the session A created"
    assert cart_on_b.current_user is not None and "demo" in cart_on_b.current_user
    # What a request sent before the logout still carries: the old session cookie.
    sent_before_logout = on_a.copy_at(a.url)
    assert "demo" in (sent_before_logout.get("/cart").current_user or ""), "the copied cookies do not carry the login"

    assert on_b.post("/logout").status == 200

    for who, shopper in (("the browser that logged out", on_a), ("the old session cookie", sent_before_logout)):
        cart = shopper.get("/cart")
        assert cart.status == 200, "an ended session must give a fresh session, not an error"
        assert cart.current_user is None, f"A still shows a login to {who} after the logout on B"
        assert cart.cart_lines == {}, f"A still shows the cart to {who} after the logout on B"
