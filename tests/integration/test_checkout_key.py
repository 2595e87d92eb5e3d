"""The checkout form's one-time key: a resubmit of one form shows the order it placed and never
places a second, even when the cart is still full (its emptying could not be saved); a key of the
wrong shape is refused; a database that refuses the work answers 503 and keeps the cart."""

import asyncio
import re
import sqlite3

import pytest

from tests.conftest import SHIPPING

_CHECKOUT_KEY = re.compile(r'name="checkout_key" value="([^"]+)"')


async def checkout_key(client) -> str:
    page = await client.page("/checkout")
    return _CHECKOUT_KEY.search(page.html).group(1)


async def orders_of(app, user_id: int):
    return await asyncio.get_running_loop().run_in_executor(None, app.orders.list_for_user, user_id)


@pytest.mark.gen_test
async def test_each_checkout_form_carries_its_own_key(client, auth, product_ids):
    await auth.login()
    await client.add(product_ids[0], 1)
    first, second = await checkout_key(client), await checkout_key(client)
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first)


@pytest.mark.gen_test
async def test_a_resubmitted_form_shows_its_order_and_places_no_second(client, auth, app, product_ids):
    await auth.login()
    await client.add(product_ids[0], 2)
    key = await checkout_key(client)
    first = await client.post("/checkout", {**SHIPPING, "checkout_key": key})
    assert first.code == 303
    # The cart full again, as when emptying it could not be saved: the same form must not order it twice.
    await client.add(product_ids[0], 2)
    again = await client.post("/checkout", {**SHIPPING, "checkout_key": key})
    assert again.code == 303
    assert again.headers["Location"] == first.headers["Location"]
    assert len(await orders_of(app, 1)) == 1


@pytest.mark.gen_test
async def test_a_double_submit_says_the_order_was_already_placed(client, auth, app, product_ids):
    await auth.login()
    await client.add(product_ids[0], 1)
    key = await checkout_key(client)
    first = await client.post("/checkout", {**SHIPPING, "checkout_key": key})
    again = await client.post("/checkout", {**SHIPPING, "checkout_key": key})
    assert again.code == 303 and again.headers["Location"] == first.headers["Location"]
    page = await client.page(again.headers["Location"])
    assert "already placed" in page.flash
    assert len(await orders_of(app, 1)) == 1


@pytest.mark.gen_test
@pytest.mark.parametrize("key", ["x", "has spaces in the key!", "k" * 65, "<script>alert(1)</script>"])
async def test_a_malformed_key_is_refused_and_changes_nothing(client, auth, app, product_ids, key):
    await auth.login()
    await client.add(product_ids[0], 1)
    response = await client.post("/checkout", {**SHIPPING, "checkout_key": key})
    assert response.code == 400
    assert "reload the checkout page" in client.page_of(response).flash
    assert await client.cart_quantities() == {product_ids[0]: 1}
    assert await orders_of(app, 1) == []


@pytest.mark.gen_test
async def test_a_rejected_form_keeps_its_key(client, auth, product_ids):
    await auth.login()
    await client.add(product_ids[0], 1)
    key = await checkout_key(client)
    response = await client.post("/checkout", {**SHIPPING, "name": "", "checkout_key": key})
    assert response.code == 400
    assert _CHECKOUT_KEY.search(response.body.decode()).group(1) == key


@pytest.fixture
def config(make_config, backend_environment):
    # A short wait for SQLite's write lock, so that a locked database answers quickly.
    return make_config(**backend_environment, DATABASE_TIMEOUT="1")


@pytest.mark.gen_test(timeout=30)
async def test_a_locked_database_answers_503_and_keeps_the_cart(client, auth, app, config, product_ids):
    await auth.login()
    await client.add(product_ids[0], 2)
    key = await checkout_key(client)
    path = config.database_url.removeprefix("sqlite://")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        response = await client.post("/checkout", {**SHIPPING, "checkout_key": key})
        assert response.code == 503
        assert int(response.headers["Retry-After"]) > 0
        assert "try again" in client.page_of(response).flash
        register = await client.post("/register", {"username": "newcomer", "password": "correct horse"})
        assert register.code == 503
        assert (await client.get("/")).code == 200
        assert await client.cart_quantities() == {product_ids[0]: 2}
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert await orders_of(app, 1) == []
    response = await client.post("/checkout", {**SHIPPING, "checkout_key": key})
    assert response.code == 303
    assert len(await orders_of(app, 1)) == 1
