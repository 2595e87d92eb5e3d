"""A real `python app.py` killed with SIGKILL and started again on the same DATA_DIR: the file store
keeps the login and the cart, the memory store loses both. Also: SIGTERM is a clean stop (exit 0).

Driven over HTTP like a browser without JavaScript: a cookie jar, the _xsrf token, form posts, and the
contract's data-testid hooks read from the pages.
"""

from __future__ import annotations

import signal

import pytest

from tests.shop_process import Shopper

pytestmark = pytest.mark.timeout(180)


def shop_as_demo(shopper: Shopper) -> tuple[dict[str, int], int]:
    """Log in as demo, put two products in the cart (quantities 2 and 1); returns (lines, count)."""
    page = shopper.post("/login", username="demo", password="demo1234")
    assert page.status == 200, f"login answered {page.status}"
    assert page.current_user is not None and "demo" in page.current_user, "the header does not show demo"

    cards = shopper.get("/").all("product-card")
    assert len(cards) >= 2, "the catalog lists fewer than two product cards"
    first, second = (card["attrs"]["data-product-id"] for card in cards[:2])
    for product_id, quantity in ((first, 2), (second, 1)):
        page = shopper.post("/cart/add", product_id=product_id, quantity=str(quantity))
        assert page.status == 200, f"adding {product_id} answered {page.status}"

    cart = shopper.get("/cart")
    assert cart.cart_lines == {first: 2, second: 1}
    assert cart.cart_count == 3
    assert cart.current_user is not None and "demo" in cart.current_user
    return cart.cart_lines, cart.cart_count


# --- the tests ------------------------------------------------------------------------------------------


def test_file_store_keeps_login_and_cart_across_sigkill(start_app):
    app = start_app("file")
    shopper = Shopper(app.url)
    lines, count = shop_as_demo(shopper)

    assert app.kill9() == -signal.SIGKILL
    app.start()

    cart = shopper.get("/cart")
    assert cart.status == 200
    assert cart.current_user is not None and "demo" in cart.current_user, "the login was lost in the restart"
    assert cart.cart_lines == lines, "the cart changed in the restart"
    assert cart.cart_count == count
    # The same session goes on after the restart, and it can still be changed.
    first = next(iter(lines))
    assert shopper.post("/cart/add", product_id=first, quantity="1").status == 200
    assert shopper.get("/cart").cart_lines[first] == lines[first] + 1


def test_memory_store_loses_login_and_cart_across_sigkill(start_app):
    app = start_app("memory")
    shopper = Shopper(app.url)
    shop_as_demo(shopper)

    assert app.kill9() == -signal.SIGKILL
    app.start()

    cart = shopper.get("/cart")
    assert cart.status == 200, "an unknown session cookie must give a fresh session, not an error"
    assert cart.current_user is None, "memory store: the login survived a SIGKILL"
    assert cart.cart_lines == {}, "memory store: the cart survived a SIGKILL"
    assert cart.cart_count == 0


@pytest.mark.parametrize("backend", ["file", "memory"])
def test_sigterm_exits_zero(start_app, backend):
    app = start_app(backend)
    Shopper(app.url).get("/")
    assert app.stop(signal.SIGTERM) == 0, f"exit status after SIGTERM; output:\n{app.output()}"
