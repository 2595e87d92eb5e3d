"""Forms sent twice against a real `python app.py`: a checkout form submitted again after more was
added to the cart (Back, then Place order), and a cart change retried with its one-time key (the
forms' `idempotency_key` field, the JSON API's `Idempotency-Key` header). Each is applied once; the
second answer is the first's."""

from __future__ import annotations

import json

from tests.faults.kit import Browser, assert_no_tracebacks, checkout, hidden


def test_a_resubmitted_checkout_form_shows_its_order_and_keeps_the_newer_cart(start_app):
    app = start_app("file")
    shopper = Browser(app.url)
    assert shopper.login().status == 303
    assert shopper.post("/cart/add", product_id="stoneware-mug").status == 303
    placed, fields = checkout(shopper)
    assert placed.status == 303, placed.status
    order_url = placed.headers["Location"]
    assert shopper.post("/cart/add", product_id="chefs-knife").status == 303

    # Back to the old checkout page, Place order again: the same form, the same key.
    again = shopper.post("/checkout", **fields)
    assert again.status == 303 and again.headers["Location"] == order_url, (again.status, again.headers)
    assert "already placed" in shopper.get(order_url).flash
    assert shopper.cart() == {"chefs-knife": 1}
    assert len(shopper.order_ids()) == 1
    shopper.no_500()
    assert_no_tracebacks(app)


def test_a_cart_form_sent_again_with_its_key_is_applied_once_and_answered_alike(start_app):
    app = start_app("file")
    shopper = Browser(app.url)
    key = hidden(shopper.get("/product/stoneware-mug").html, "idempotency_key")
    assert key, "the product page's add-to-cart form carries no idempotency_key"
    first = shopper.post("/cart/add", product_id="stoneware-mug", quantity="2", idempotency_key=key)
    first_message = shopper.get("/cart").flash
    second = shopper.post("/cart/add", product_id="stoneware-mug", quantity="2", idempotency_key=key)
    assert (first.status, first.headers["Location"]) == (second.status, second.headers["Location"]) == (303, "/cart")
    assert shopper.get("/cart").flash == first_message
    assert shopper.cart() == {"stoneware-mug": 2}

    # The catalog's one form carries one key for every product: another product is another change.
    grid_key = hidden(shopper.get("/").html, "idempotency_key")
    for product in ("chefs-knife", "chefs-knife", "wool-throw"):
        assert shopper.post("/cart/add", product_id=product, idempotency_key=grid_key).status == 303
    assert shopper.cart() == {"stoneware-mug": 2, "chefs-knife": 1, "wool-throw": 1}

    # Each line's form: update and remove, each retried.
    line_key = hidden(shopper.get("/cart").html, "idempotency_key")
    for _ in range(2):
        assert shopper.post("/cart/update", product_id="stoneware-mug", quantity="5", idempotency_key=line_key).status == 303
        assert shopper.post("/cart/remove", product_id="wool-throw", idempotency_key=line_key).status == 303
    assert shopper.cart() == {"stoneware-mug": 5, "chefs-knife": 1}

    # Without a key, a change is applied every time, as the contract has it.
    for _ in range(2):
        assert shopper.post("/cart/add", product_id="chefs-knife").status == 303
    assert shopper.cart() == {"stoneware-mug": 5, "chefs-knife": 3}

    # A key that is not one of ours changes nothing.
    refused = shopper.post("/cart/add", product_id="chefs-knife", idempotency_key="not a key!")
    assert refused.status == 400 and refused.flash, refused.status
    assert shopper.cart() == {"stoneware-mug": 5, "chefs-knife": 3}
    shopper.no_500()
    assert_no_tracebacks(app)


def test_the_json_api_takes_an_idempotency_key_header(start_app):
    app = start_app("file")
    shopper = Browser(app.url)
    answers = [shopper.request("POST", "/cart/add", {"product_id": "stoneware-mug"},
                               headers={"Idempotency-Key": "retried-add-0000000001", "Accept": "application/json"})
               for _ in range(3)]
    assert [page.status for page in answers] == [200, 200, 200]
    assert len({json.loads(page.html)["message"] for page in answers}) == 1
    assert shopper.cart() == {"stoneware-mug": 1}
    shopper.no_500()


def test_every_cart_form_carries_a_one_time_key(start_app):
    app = start_app("file")
    shopper = Browser(app.url)
    assert shopper.post("/cart/add", product_id="stoneware-mug").status == 303
    assert shopper.post("/cart/add", product_id="chefs-knife").status == 303
    for path in ("/", "/product/stoneware-mug", "/cart"):
        html = shopper.get(path).html
        forms = html.count(' action="/cart/')
        keys = [part.split('"', 1)[0] for part in html.split('name="idempotency_key" value="')[1:]]
        assert forms and len(keys) == forms, (path, forms, keys)
        assert len(set(keys)) == len(keys), f"{path}: two forms share a key"
    # Every view of a kept cart line gets a fresh key.
    assert hidden(shopper.get("/cart").html, "idempotency_key") != hidden(shopper.get("/cart").html, "idempotency_key")
