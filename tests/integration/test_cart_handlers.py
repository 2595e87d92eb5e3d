"""The cart: add, update, remove, its page and its JSON; every bad input is a 4xx with a message
that changes nothing."""

import asyncio
import json
import os

import pytest


@pytest.mark.gen_test
async def test_add_defaults_to_one_and_redirects_to_cart(client, product_ids):
    response = await client.post("/cart/add", {"product_id": product_ids[0]})
    assert response.code == 303
    assert response.headers["Location"] == "/cart"
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
async def test_add_adds_to_an_existing_line(client, product_ids):
    await client.add(product_ids[0], 2)
    await client.add(product_ids[0], 3)
    assert await client.cart_quantities() == {product_ids[0]: 5}


@pytest.mark.gen_test
async def test_cart_page_shows_lines_totals_count_and_flash(client, app, product_ids):
    await client.add(product_ids[0], 2)
    await client.add(product_ids[1], 1)
    page = await client.page("/cart")
    assert "Added 1" in page.flash
    lines = {line["attrs"]["data-product-id"]: line["attrs"]["data-quantity"] for line in page.all("cart-line")}
    assert lines == {product_ids[0]: "2", product_ids[1]: "1"}
    assert page.text("cart-count") == "3"
    cart = await client.cart()
    assert page.text("cart-total") == app.template_env.filters["price"](cart["total_cents"])
    assert page.first("checkout") is not None
    # The flash was shown once: the next page no longer has it.
    assert (await client.page("/cart")).first("flash") is None


@pytest.mark.gen_test
async def test_header_count_shows_on_every_page(client, product_ids):
    await client.add(product_ids[0], 4)
    for path in ("/", f"/product/{product_ids[1]}", "/login", "/cart"):
        assert (await client.page(path)).text("cart-count") == "4"


@pytest.mark.gen_test
async def test_api_cart_reports_lines_and_money_in_cents(client, app, product_ids):
    product = app.catalog.get(product_ids[0])
    await client.add(product.id, 2)
    cart = await client.cart()
    assert cart["lines"] == [{
        "product_id": product.id, "name": product.name, "quantity": 2,
        "unit_price_cents": product.price_cents, "line_total_cents": 2 * product.price_cents,
    }]
    assert cart["count"] == 2
    assert cart["subtotal_cents"] == 2 * product.price_cents
    assert cart["total_cents"] == cart["subtotal_cents"] + cart["shipping_cents"]


@pytest.mark.gen_test
async def test_update_sets_the_quantity(client, product_ids):
    await client.add(product_ids[0], 2)
    response = await client.post("/cart/update", {"product_id": product_ids[0], "quantity": "7"})
    assert response.code == 303
    assert await client.cart_quantities() == {product_ids[0]: 7}


@pytest.mark.gen_test
async def test_update_to_zero_removes_the_line(client, product_ids):
    await client.add(product_ids[0], 2)
    await client.add(product_ids[1], 1)
    await client.post("/cart/update", {"product_id": product_ids[0], "quantity": "0"})
    assert await client.cart_quantities() == {product_ids[1]: 1}


@pytest.mark.gen_test
async def test_remove_deletes_the_line(client, product_ids):
    await client.add(product_ids[0], 2)
    response = await client.post("/cart/remove", {"product_id": product_ids[0]})
    assert response.code == 303
    assert await client.cart_quantities() == {}
    assert "Removed" in (await client.page("/cart")).flash


@pytest.mark.parametrize("quantity", ["-1", "0", "100", "abc", "", "1.5", "1e2", "²"])
@pytest.mark.gen_test
async def test_add_rejects_a_bad_quantity_and_changes_nothing(client, product_ids, quantity):
    await client.add(product_ids[0], 2)
    response = await client.add(product_ids[0], quantity)
    assert response.code == 400
    # The product page again, the message at its quantity field and in the summary above.
    page = client.page_of(response)
    assert "Quantity must be a whole number from 1 to 99" in page.text("field-error")
    assert page.first("field-error")["attrs"]["data-field"] == "quantity"
    assert 'aria-describedby="quantity-error" aria-invalid="true"' in page.html
    assert 'href="#quantity"' in page.html
    assert page.first("add-to-cart") is not None
    assert await client.cart_quantities() == {product_ids[0]: 2}


@pytest.mark.gen_test
async def test_add_rejects_going_over_99_in_one_line(client, product_ids):
    await client.add(product_ids[0], 60)
    response = await client.add(product_ids[0], 40)
    assert response.code == 400
    assert "at most 99" in client.page_of(response).text("field-error")
    assert await client.cart_quantities() == {product_ids[0]: 60}


@pytest.mark.gen_test
async def test_add_rejects_an_unknown_product_and_changes_nothing(client, product_ids):
    await client.add(product_ids[0], 1)
    response = await client.add("no-such-product", 1)
    assert response.code == 400
    assert "does not exist" in client.page_of(response).flash
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
async def test_add_without_product_id_is_400_with_message(client):
    response = await client.post("/cart/add", {"quantity": "1"})
    assert response.code == 400
    assert "choose a product" in client.page_of(response).flash
    assert await client.cart_quantities() == {}


@pytest.mark.parametrize("path", ["/cart/add", "/cart/update", "/cart/remove"])
@pytest.mark.gen_test
async def test_post_without_xsrf_is_403_with_message_and_changes_nothing(client, product_ids, path):
    await client.add(product_ids[0], 3)
    response = await client.post(path, {"product_id": product_ids[0], "quantity": "1"}, xsrf=False)
    assert response.code == 403
    assert "reload the page" in client.page_of(response).flash
    assert await client.cart_quantities() == {product_ids[0]: 3}


@pytest.mark.gen_test
async def test_post_with_a_wrong_xsrf_value_is_403(client, product_ids):
    await client.xsrf_token()
    response = await client.post("/cart/add", {"product_id": product_ids[0], "_xsrf": "forged"}, xsrf=False)
    assert response.code == 403
    assert await client.cart_quantities() == {}


@pytest.mark.parametrize("quantity", ["-1", "100", "abc", ""])
@pytest.mark.gen_test
async def test_update_rejects_a_bad_quantity_and_changes_nothing(client, product_ids, quantity):
    await client.add(product_ids[0], 2)
    response = await client.post("/cart/update", {"product_id": product_ids[0], "quantity": quantity})
    assert response.code == 400
    # The cart page again, with the message at that line and the line as it was.
    page = client.page_of(response)
    assert page.cart_lines == {product_ids[0]: 2}
    assert "Quantity must be a whole number from 0 to 99" in page.text("field-error")
    assert f'id="quantity-{product_ids[0]}-error"' in page.html
    assert f'href="#quantity-{product_ids[0]}"' in page.html
    assert await client.cart_quantities() == {product_ids[0]: 2}


@pytest.mark.gen_test
async def test_update_of_a_product_not_in_the_cart_is_400(client, product_ids):
    response = await client.post("/cart/update", {"product_id": product_ids[1], "quantity": "2"})
    assert response.code == 400
    assert "not in your cart" in client.page_of(response).flash
    assert await client.cart_quantities() == {}


@pytest.mark.gen_test
async def test_remove_of_a_product_not_in_the_cart_is_400(client, product_ids):
    await client.add(product_ids[0], 1)
    response = await client.post("/cart/remove", {"product_id": product_ids[1]})
    assert response.code == 400
    assert "not in your cart" in client.page_of(response).flash
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
async def test_error_page_keeps_the_header_of_the_person(client, auth, product_ids):
    await auth.login()
    await client.add(product_ids[0], 2)
    page = client.page_of(await client.add(product_ids[0], "abc"))
    assert page.text("cart-count") == "2"
    assert page.text("current-user") == "demo"


@pytest.mark.gen_test
async def test_fetch_add_answers_json_with_the_new_count(client, product_ids):
    await client.add(product_ids[0], 2)
    response = await client.post(
        "/cart/add", {"product_id": product_ids[1], "quantity": "3"}, headers={"X-Requested-With": "fetch"}
    )
    assert response.code == 200
    body = json.loads(response.body)
    assert body["ok"] is True and body["count"] == 5
    # No flash is kept for the fetch: the script shows the message itself.
    assert "Added 3" not in (await client.page("/cart")).flash


@pytest.mark.gen_test
async def test_fetch_add_error_answers_json_with_the_message(client, product_ids):
    response = await client.post(
        "/cart/add", {"product_id": product_ids[0], "quantity": "100"},
        headers={"X-Requested-With": "fetch", "Accept": "application/json"},
    )
    assert response.code == 400
    assert "Quantity must be" in json.loads(response.body)["error"]


@pytest.mark.gen_test
async def test_fetch_add_accepts_the_xsrf_header(client, product_ids):
    token = await client.xsrf_token()
    response = await client.post(
        "/cart/add", {"product_id": product_ids[0]}, xsrf=False,
        headers={"X-Requested-With": "fetch", "X-XSRFToken": token},
    )
    assert response.code == 200
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
async def test_concurrent_adds_of_one_session_all_count(client, product_ids):
    await client.add(product_ids[0], 1)
    responses = await asyncio.gather(*(client.add(product_ids[0], 1) for _ in range(20)))
    assert {r.code for r in responses} == {303}
    assert await client.cart_quantities() == {product_ids[0]: 21}


@pytest.mark.gen_test
@pytest.mark.parametrize("session_backend", ["file"])
async def test_an_unavailable_session_store_answers_503_with_a_message(client, app, product_ids):
    await client.add(product_ids[0], 1)
    store = app.session_store
    [session_file] = store.directory.glob("*.json")
    aside = session_file.with_name("aside")
    # A real failure that retrying cannot fix: a folder where the session's file should be.
    expires = session_file.stat().st_mtime
    session_file.rename(aside)
    session_file.mkdir()
    os.utime(session_file, (expires, expires))  # as live as the session it stands in for
    try:
        for response in (await client.get("/cart"), await client.add(product_ids[0], 1)):
            assert response.code == 503
            assert "try again in a moment" in client.page_of(response).flash
            assert b"Is a directory" not in response.body
    finally:
        session_file.rmdir()
        aside.rename(session_file)
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
@pytest.mark.parametrize("session_backend", ["file"])
async def test_showing_a_message_does_not_write_the_session(client, app, product_ids):
    await client.add(product_ids[0], 1)
    [session_file] = app.session_store.directory.glob("*.json")
    written = session_file.stat().st_ino  # every save replaces the file with a new one
    page = await client.page("/cart")
    assert "Added 1" in page.flash
    assert session_file.stat().st_ino == written


@pytest.mark.gen_test
async def test_api_cart_is_json_that_cannot_close_a_script_element(client, app, product_ids, monkeypatch):
    # Tornado's json_encode escapes "</" in every JSON answer.
    import dataclasses
    product = app.catalog.get(product_ids[0])
    named = dataclasses.replace(product, name="Café </script><script>alert(1)</script>")
    monkeypatch.setitem(app.catalog._products, product.id, named)
    await client.add(product.id, 1)
    response = await client.fetch("/api/cart")
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert b"</" not in response.body
    assert json.loads(response.body)["lines"][0]["name"] == named.name
