"""The cart page's one form (issue 17): every quantity saved by Update or by Check out, Update coming
back at its line, Remove apart from Update with an Undo that puts the line back, and the product
page's "You may also like" and delivery lines. Browsers without JavaScript, over HTTP."""

import json
import urllib.parse

import pytest

NAVIGATE = {"Sec-Fetch-Mode": "navigate"}


async def post_pairs(client, path: str, pairs: list[tuple[str, str]], headers: dict | None = None):
    """A form whose fields repeat (product_id and quantity once per line), as the cart page sends it."""
    body = urllib.parse.urlencode([*pairs, ("_xsrf", await client.xsrf_token())])
    return await client.fetch(path, method="POST", body=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})


@pytest.mark.gen_test
async def test_update_saves_every_line_of_the_form_and_comes_back_at_the_pressed_line(client, product_ids):
    first, second = product_ids[:2]
    await client.add(first, 1)
    await client.add(second, 1)
    response = await post_pairs(client, "/cart/update", [
        ("product_id", first), ("quantity", "3"), ("product_id", second), ("quantity", "5"), ("line", second)])
    assert response.code == 303
    assert response.headers["Location"] == f"/cart#line-{second}"
    assert await client.cart_quantities() == {first: 3, second: 5}
    page = await client.page("/cart")
    assert f'id="line-{second}"' in page.html


@pytest.mark.gen_test
async def test_check_out_saves_a_quantity_typed_but_not_updated_then_goes_on(client, product_ids):
    await client.add(product_ids[0], 1)
    response = await post_pairs(client, "/cart/update", [
        ("product_id", product_ids[0]), ("quantity", "4"), ("next", "/checkout")])
    assert response.code == 303 and response.headers["Location"] == "/checkout"
    assert await client.cart_quantities() == {product_ids[0]: 4}
    page = await client.page("/cart")
    assert page.first("checkout")["tag"] == "button", "Check out must post the quantities"
    assert page.first("checkout")["attrs"].get("name") == "next"


@pytest.mark.gen_test
async def test_one_bad_line_of_the_form_saves_none(client, product_ids):
    first, second = product_ids[:2]
    await client.add(first, 1)
    await client.add(second, 1)
    response = await post_pairs(client, "/cart/update", [
        ("product_id", first), ("quantity", "3"), ("product_id", second), ("quantity", "500")])
    assert response.code == 400
    assert await client.cart_quantities() == {first: 1, second: 1}
    assert f'id="quantity-{second}-error"' in response.body.decode()


@pytest.mark.gen_test
async def test_remove_offers_an_undo_that_puts_the_line_back_with_its_quantity(client, product_ids):
    await client.add(product_ids[0], 3)
    await client.add(product_ids[1], 1)
    assert (await client.post("/cart/remove", {"product_id": product_ids[0]})).code == 303
    page = await client.page("/cart")
    assert "Removed Stoneware Mug." in page.flash
    undo = page.first("undo-remove")
    assert undo is not None and undo["text"].startswith("Undo")
    html = page.html[page.html.index('class="flash flash-success flash-undo"'):]
    form = html[:html.index("</form>")]
    assert 'action="/cart/add"' in form and f'value="{product_ids[0]}"' in form and 'name="quantity" value="3"' in form
    assert (await client.add(product_ids[0], 3)).code == 303  # what the Undo form posts
    assert await client.cart_quantities() == {product_ids[1]: 1, product_ids[0]: 3}
    assert (await client.page("/cart")).first("undo-remove") is None, "the message shows once"


@pytest.mark.gen_test
async def test_remove_and_update_are_apart_in_the_page(client, product_ids):
    await client.add(product_ids[0], 1)
    page = await client.page("/cart")
    line = page.html[page.html.index('data-testid="cart-line"'):]
    line = line[:line.index("</li>")]
    # Remove submits its own form (outside the cart form), never the cart form with a formaction.
    assert f'form="remove-{product_ids[0]}"' in line and "formaction" not in line
    assert f'<form id="remove-{product_ids[0]}" method="post" action="/cart/remove" hidden>' in page.html


@pytest.mark.parametrize("path", ["/cart/add", "/cart/update", "/cart/remove"])
@pytest.mark.gen_test
async def test_a_get_of_a_cart_form_address_goes_to_the_cart(client, path):
    response = await client.get(path)
    assert response.code == 303 and response.headers["Location"] == "/cart"


@pytest.mark.gen_test
async def test_fetch_update_answers_the_line_and_the_summary(client, app, product_ids):
    await client.add(product_ids[0], 1)
    response = await client.post("/cart/update", {"product_id": product_ids[0], "quantity": "3"},
                                 headers={"X-Requested-With": "fetch"})
    body = json.loads(response.body)
    assert body["quantity"] == 3 and body["count"] == 3
    price = app.catalog.get(product_ids[0]).price_cents
    assert body["line_total"] == app.template_env.filters["price"](3 * price)
    assert 'data-testid="cart-total"' in body["totals_html"]


@pytest.mark.gen_test
async def test_product_page_suggests_the_same_category_and_says_delivery_and_returns(client, app, product_ids):
    product = app.catalog.get(product_ids[0])
    page = await client.page(f"/product/{product.id}")
    related = [card["attrs"]["data-product-id"] for card in page.all("product-card")]
    assert 1 <= len(related) <= 4 and product.id not in related
    assert all(app.catalog.get(each).category == product.category for each in related)
    assert "You may also like" in page.html
    promises = page.text("delivery-returns")
    assert "Delivery:" in promises and "Returns:" in promises
    assert f'<meta name="description" content="{product.name}' in page.html


@pytest.mark.gen_test
async def test_prices_show_their_currency(client, product_ids):
    page = await client.page("/")
    assert page.html.count(" USD</p>") >= 12
