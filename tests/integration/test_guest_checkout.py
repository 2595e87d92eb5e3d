"""Guest checkout and addresses by country (issue 17): a visitor checks out with an email address,
sees the order and "your orders" for as long as the session lasts (on the file store across a
restart, on memory not), nobody else does; the address form follows the chosen country."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest

from tests.shop_process import Shopper

GUEST = {"email": "dana@example.com", "name": "Dana Demo", "street": "1 SW Main St", "city": "Portland",
         "country_area": "OR", "postcode": "97201", "country": "US"}


def field_errors(page) -> dict[str, str]:
    return {element["attrs"]["data-field"]: element["text"] for element in page.all("field-error")}


def address_text(page) -> list[str]:
    """The lines of the order page's shipping address."""
    block = re.search(r'<address data-testid="ship-address">(.*?)</address>', page.html, re.S).group(1)
    return [" ".join(line.split()) for line in block.split("<br>")]


async def guest_order(client, product_id, **changes) -> str:
    """Check out the product as a guest; returns the order page's path."""
    await client.add(product_id, 1)
    response = await client.post("/checkout", {**GUEST, **changes})
    assert response.code == 303, client.page_of(response).html[:2000]
    return response.headers["Location"]


@pytest.mark.gen_test
async def test_a_visitor_at_checkout_chooses_between_logging_in_and_an_email(client, product_ids):
    await client.add(product_ids[0], 1)
    page = await client.page("/checkout")
    assert page.first("checkout-login")["attrs"]["href"] == "/login?next=%2Fcheckout"
    guest = page.first("checkout-as-guest")
    assert guest is not None and 'name="email"' in page.html and '<label for="ship-email">' in page.html
    assert page.first("place-order") is not None


@pytest.mark.gen_test
async def test_logging_in_from_checkout_keeps_the_cart_and_drops_the_email(client, auth, product_ids):
    await client.add(product_ids[0], 2)
    response = await auth.login(next="/checkout")
    assert response.headers["Location"] == "/checkout"
    page = await client.page("/checkout")
    assert page.first("checkout-as-guest") is None and 'name="email"' not in page.html
    assert await client.cart_quantities() == {product_ids[0]: 2}


@pytest.mark.gen_test
async def test_the_login_page_says_why_an_account_helps(client):
    page = await client.page("/login?next=%2Fcheckout")
    assert "every device" in page.text("why-account") and "cart" in page.text("why-account")
    assert 'href="/checkout"' in page.html


@pytest.mark.parametrize("email", ["", "dana", "dana@", "@example.com", "dana@example", "da na@example.com",
                                   "x" * 250 + "@example.com"])
@pytest.mark.gen_test
async def test_a_guest_needs_a_real_looking_email(client, app, product_ids, email):
    await client.add(product_ids[0], 1)
    response = await client.post("/checkout", {**GUEST, "email": email})
    assert response.code == 400
    assert set(field_errors(client.page_of(response))) == {"email"}
    assert await client.cart_quantities() == {product_ids[0]: 1}
    assert await asyncio.get_running_loop().run_in_executor(None, app.orders.list_for_guest, list(range(1, 20))) == []


@pytest.mark.gen_test
async def test_a_guest_checks_out_with_email_sees_the_order_and_finds_it_in_their_orders(client, product_ids):
    location = await guest_order(client, product_ids[0])
    page = await client.page(location)
    order_id = page.text("order-id")
    assert location == f"/orders/{order_id}"
    assert page.html.count("Your order is placed.") == 1
    assert "email" not in page.text("guest-note") and "order confirmation" not in page.html  # none is sent
    assert "dana@example.com" in page.html
    assert "session" in page.text("guest-note")
    assert page.text("cart-count") == "0"
    orders = await client.page("/orders")
    assert [o["attrs"]["data-order-id"] for o in orders.all("order")] == [order_id]
    assert orders.text("guest-note")


@pytest.mark.gen_test
async def test_another_session_cannot_see_a_guests_order(make_client, product_ids):
    guest, other = make_client(), make_client()
    location = await guest_order(guest, product_ids[0])
    # Another guest with an order of their own: someone else's order is a 404.
    other_location = await guest_order(other, product_ids[1])
    response = await other.get(location)
    assert response.code == 404
    assert "Dana" not in response.body.decode()
    assert location.rsplit("/", 1)[1] not in [o["attrs"]["data-order-id"] for o in (await other.page("/orders")).all("order")]
    assert (await guest.get(other_location)).code == 404
    # A visitor with no orders at all is asked to log in, as before.
    stranger = make_client()
    assert (await stranger.get(location)).headers["Location"].startswith("/login?next=")


@pytest.mark.gen_test
async def test_an_account_cannot_see_a_guests_order(make_client, product_ids):
    guest = make_client()
    location = await guest_order(guest, product_ids[0])
    demo = make_client()
    await demo.post("/login", {"username": "demo", "password": "demo1234"})
    assert (await demo.get(location)).code == 404


@pytest.mark.gen_test
async def test_a_guest_resubmitting_the_form_sees_the_same_order(client, product_ids):
    await client.add(product_ids[0], 1)
    page = client.page_of(await client.get("/checkout"))
    key = re.search(r'name="checkout_key" value="([^"]+)"', page.html).group(1)
    first = await client.post("/checkout", {**GUEST, "checkout_key": key})
    again = await client.post("/checkout", {**GUEST, "checkout_key": key})
    assert first.headers["Location"] == again.headers["Location"]


# --- addresses by country ---------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_us_address_needs_a_state_and_prints_portland_or_97201(client, product_ids):
    await client.add(product_ids[0], 1)
    page = await client.page("/checkout?country=US")
    assert '<label for="ship-country_area">State</label>' in page.html
    assert '<label for="ship-postcode">ZIP code</label>' in page.html
    response = await client.post("/checkout", {**GUEST, "country_area": ""})
    assert response.code == 400
    assert field_errors(client.page_of(response)) == {"country_area": "Error: Please choose a state."}
    bad_zip = await client.post("/checkout", {**GUEST, "postcode": "9720"})
    assert set(field_errors(client.page_of(bad_zip))) == {"postcode"}
    location = await guest_order(client, product_ids[0])
    assert address_text(await client.page(location)) == ["Dana Demo", "1 SW Main St", "Portland, OR 97201",
                                                         "United States"]


@pytest.mark.gen_test
async def test_canada_asks_for_a_province_and_a_postal_code(client, product_ids):
    await client.add(product_ids[0], 1)
    page = await client.page("/checkout?country=CA")
    assert '<label for="ship-country_area">Province</label>' in page.html
    assert '<label for="ship-postcode">Postal code</label>' in page.html
    assert '<option value="ON"' in page.html and 'name="country" value="CA"' in page.html
    location = await guest_order(client, product_ids[0], country="CA", city="Toronto", country_area="ON",
                                 postcode="m5v 2t6")
    assert address_text(await client.page(location))[2:] == ["Toronto ON M5V 2T6", "Canada"]


@pytest.mark.gen_test
async def test_the_uk_asks_for_a_county_and_a_postcode_and_prints_the_postcode_last(client, product_ids):
    await client.add(product_ids[0], 1)
    page = await client.page("/checkout?country=GB")
    assert '<label for="ship-country_area">County (optional)</label>' in page.html
    assert '<label for="ship-postcode">Postcode</label>' in page.html
    location = await guest_order(client, product_ids[0], country="GB", city="Bristol", country_area="",
                                 postcode="BS1 4DJ")
    assert address_text(await client.page(location))[2:] == ["Bristol", "BS1 4DJ", "United Kingdom"]


@pytest.mark.gen_test
async def test_an_unknown_country_in_the_url_is_400_with_a_message(client, product_ids):
    await client.add(product_ids[0], 1)
    response = await client.get("/checkout?country=XX")
    assert response.code == 400
    assert "do not ship to that country" in client.page_of(response).html


@pytest.mark.gen_test
async def test_an_order_placed_before_states_existed_still_prints(client, auth, app, product_ids):
    def store_old_order() -> int:
        with app.database.transaction("an order of before") as transaction:
            row = transaction.execute(
                "INSERT INTO orders (user_id, created_at, ship_name, ship_street, ship_city, ship_postcode,"
                " ship_country, subtotal_cents, shipping_cents, total_cents, item_count)"
                " VALUES (1, '2025-01-02T03:04:05+00:00', 'Ada', '1 Road', 'Bristol', 'BS1 4DJ', 'GB',"
                " 1400, 495, 1895, 1) RETURNING id").fetchone()
            transaction.execute("INSERT INTO order_lines VALUES (?, 0, 'mug', 'Old Mug', 1400, 1, 1400)", (row["id"],))
            return row["id"]

    order_id = await asyncio.get_running_loop().run_in_executor(None, store_old_order)
    await auth.login()
    page = await client.page(f"/orders/{order_id}")
    assert address_text(page) == ["Ada", "1 Road", "Bristol", "BS1 4DJ", "United Kingdom"]
    assert "Old Mug" in page.html


# --- a real shop process, restarted ------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend, kept", [("file", True), ("memory", False)])
def test_a_guests_orders_last_as_long_as_the_session_across_a_restart(start_app, backend, kept):
    app = start_app(backend)
    shopper = Shopper(app.url)
    product_id = shopper.get("/").all("product-card")[0]["attrs"]["data-product-id"]
    assert shopper.post("/cart/add", product_id=product_id, quantity="1").status == 200
    order = shopper.post("/checkout", **GUEST)
    assert order.status == 200 and order.text("order-id"), order.html[:2000]
    order_path = f"/orders/{order.text('order-id')}"
    memory_note = "ends if the shop restarts" in order.text("guest-note")
    assert memory_note is (backend == "memory")  # the page says which

    assert app.kill9() == -signal.SIGKILL
    app.start()

    again = shopper.get(order_path)
    if kept:
        assert again.status == 200 and again.text("order-id") == order.text("order-id")
        assert [o["attrs"]["data-order-id"] for o in shopper.get("/orders").all("order")] == [order.text("order-id")]
    else:
        assert again.status == 200 and again.first("login-submit") is not None  # asked to log in
        assert again.first("order-id") is None
