"""Checkout and orders: a message per bad field, the order placed with the cart
emptied, and nobody's orders but one's own."""

import asyncio

import pytest

from tornado.httputil import url_concat

SHIPPING = {"name": "Dana Demo", "street": "1 Harbour Street", "city": "Springfield", "postcode": "12345",
            "country": "DE"}


@pytest.mark.gen_test
async def test_checkout_post_of_a_visitor_without_email_is_400_and_places_nothing(client, app, product_ids):
    await client.add(product_ids[0], 1)
    response = await client.post("/checkout", SHIPPING)
    assert response.code == 400
    errors = {element["attrs"]["data-field"]: element["text"] for element in client.page_of(response).all("field-error")}
    assert set(errors) == {"email"} and "email address" in errors["email"]
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
async def test_login_from_checkout_returns_to_checkout(client, auth, product_ids):
    await client.add(product_ids[0], 1)
    response = await auth.login(next="/checkout")
    assert response.headers["Location"] == "/checkout"
    page = await client.page("/checkout")
    assert page.first("place-order") is not None


@pytest.mark.gen_test
async def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, auth):
    await auth.login()
    response = await client.get("/checkout")
    assert response.code == 303
    assert response.headers["Location"] == "/cart"
    assert (await client.page("/cart")).html.count("Your cart is empty") == 1, "the message shows once"


@pytest.mark.gen_test
async def test_checkout_form_has_a_label_for_every_field(client, auth, product_ids):
    await auth.login()
    await client.add(product_ids[0], 1)
    page = await client.page("/checkout")
    for field in ("name", "street", "city", "postcode", "country"):
        assert f'<label for="ship-{field}">' in page.html
        assert f'id="ship-{field}" name="{field}"' in page.html
    assert '<option value="DE"' in page.html
    assert page.first("place-order") is not None


@pytest.mark.gen_test
async def test_checkout_shows_a_message_per_bad_field_and_keeps_the_cart(client, auth, app, product_ids):
    await auth.login()
    await client.add(product_ids[0], 2)
    response = await client.post("/checkout", {**SHIPPING, "name": "", "postcode": "!", "country": "XX"})
    assert response.code == 400
    page = client.page_of(response)
    errors = {element["attrs"]["data-field"]: element["text"] for element in page.all("field-error")}
    assert set(errors) == {"name", "postcode", "country"}
    assert "Please enter your name." in errors["name"]
    assert page.flash
    assert 'value="1 Harbour Street"' in page.html  # what was typed is kept
    assert await client.cart_quantities() == {product_ids[0]: 2}
    assert await asyncio.get_running_loop().run_in_executor(
        None, app.orders.list_for_user, 1) == []


@pytest.mark.gen_test
async def test_placing_an_order_stores_it_empties_the_cart_and_shows_its_id(client, auth, app, product_ids):
    await auth.login()
    await client.add(product_ids[0], 2)
    await client.add(product_ids[1], 1)
    total = (await client.cart())["total_cents"]
    response = await client.post("/checkout", SHIPPING)
    assert response.code == 303
    location = response.headers["Location"]
    assert location.startswith("/orders/")

    page = await client.page(location)
    order_id = page.text("order-id")
    assert location == f"/orders/{order_id}"
    assert page.html.count("Your order is placed.") == 1
    assert page.text("cart-count") == "0"
    assert await client.cart_quantities() == {}

    order = await asyncio.get_running_loop().run_in_executor(
        None, app.orders.get_for_user, 1, order_id)
    assert order.total_cents == total
    assert {(line.product_id, line.quantity) for line in order.lines} == {(product_ids[0], 2), (product_ids[1], 1)}
    assert order.address.city == "Springfield"


@pytest.mark.gen_test
async def test_two_tabs_placing_at_once_place_the_cart_once(client, auth, app, product_ids):
    await auth.login()
    await client.add(product_ids[0], 1)
    first, second = await asyncio.gather(client.post("/checkout", SHIPPING), client.post("/checkout", SHIPPING))
    locations = sorted(r.headers["Location"] for r in (first, second))
    assert locations[0] == "/cart" and locations[1].startswith("/orders/")
    orders = await asyncio.get_running_loop().run_in_executor(None, app.orders.list_for_user, 1)
    assert len(orders) == 1


@pytest.mark.gen_test
async def test_orders_lists_only_my_orders(make_client, product_ids):
    alice, bob = make_client(), make_client()
    await alice.post("/register", {"username": "alice", "password": "alice lantern harbour"})
    await bob.post("/register", {"username": "bob", "password": "bob lantern harbour"})
    await alice.add(product_ids[0], 1)
    alice_order = (await alice.post("/checkout", SHIPPING)).headers["Location"]
    await bob.add(product_ids[1], 1)
    bob_order = (await bob.post("/checkout", SHIPPING)).headers["Location"]

    page = await alice.page("/orders")
    assert [element["attrs"]["data-order-id"] for element in page.all("order")] == [alice_order.rsplit("/", 1)[1]]
    assert (await alice.get(alice_order)).code == 200
    response = await alice.get(bob_order)
    assert response.code == 404
    assert "could not find that order" in alice.page_of(response).flash


@pytest.mark.parametrize("order_id", ["999999", "abc", "-1", "1.0"])
@pytest.mark.gen_test
async def test_unknown_or_junk_order_id_is_404(client, auth, order_id):
    await auth.login()
    response = await client.get(f"/orders/{order_id}")
    assert response.code == 404


@pytest.mark.gen_test
async def test_orders_needs_login(client):
    response = await client.get("/orders")
    assert response.code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert (await client.get("/orders/1")).code == 302


@pytest.mark.gen_test
async def test_empty_order_list_says_so(client, auth):
    await auth.login()
    page = await client.page("/orders")
    assert page.all("order") == []
    assert "not ordered anything yet" in page.html
