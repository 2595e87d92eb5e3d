"""Post/Redirect/Get (issue 17): a form refused in a browser's navigation (`Sec-Fetch-Mode:
navigate`, sent by every current browser) answers 303 to a page that shows the messages once, so Back
and reload never ask to send a form again; other clients keep the contract's 4xx. Logging out says so."""

import pytest

NAVIGATE = {"Sec-Fetch-Mode": "navigate"}


@pytest.mark.gen_test
async def test_a_refused_cart_quantity_goes_back_to_the_cart_with_its_message_once(client, product_ids):
    await client.add(product_ids[0], 2)
    response = await client.post("/cart/update", {"product_id": product_ids[0], "quantity": "500"}, headers=NAVIGATE)
    assert response.code == 303 and response.headers["Location"] == "/cart"
    page = await client.page("/cart")
    assert "0 to 99" in page.text("field-error")
    assert f'value="500"' in page.html
    assert page.cart_lines == {product_ids[0]: 2}
    again = await client.page("/cart")
    assert again.first("field-error") is None, "the message shows once"


@pytest.mark.gen_test
async def test_without_navigation_a_refusal_keeps_its_4xx(client, product_ids):
    await client.add(product_ids[0], 2)
    response = await client.post("/cart/update", {"product_id": product_ids[0], "quantity": "500"})
    assert response.code == 400


@pytest.mark.gen_test
async def test_a_refused_add_goes_back_to_the_product_with_the_quantity_as_sent(client, product_ids):
    response = await client.post("/cart/add", {"product_id": product_ids[0], "quantity": "150"}, headers=NAVIGATE)
    assert response.code == 303 and response.headers["Location"] == f"/product/{product_ids[0]}"
    page = await client.page(f"/product/{product_ids[0]}")
    assert "1 to 99" in page.text("field-error")
    assert 'value="150"' in page.html


@pytest.mark.gen_test
async def test_a_refused_login_goes_back_to_the_login_page_keeping_next_and_the_username(client):
    response = await client.post("/login", {"username": "demo", "password": "wrong", "next": "/checkout"},
                                 headers=NAVIGATE)
    assert response.code == 303 and response.headers["Location"] == "/login?next=%2Fcheckout"
    page = await client.page("/login?next=%2Fcheckout")
    assert "do not match" in page.text("field-error")
    assert 'name="username" type="text" value="demo"' in page.html
    assert 'name="next" value="/checkout"' in page.html
    assert (await client.page("/login")).first("field-error") is None


@pytest.mark.gen_test
async def test_a_refused_registration_shows_each_message_without_repeating_the_hint(client):
    response = await client.post("/register", {"username": "bad name!", "password": "short"}, headers=NAVIGATE)
    assert response.code == 303
    page = await client.page("/register")
    errors = [error["text"] for error in page.all("field-error")]
    assert any("letters, digits, “.”, “_” and “-”" in error for error in errors)
    assert not any("'" in error for error in errors), "the hint's own quote marks"


@pytest.mark.gen_test
async def test_logging_out_says_so(client, auth):
    await auth.login()
    response = await auth.logout()
    assert response.code == 303
    page = await client.page("/")
    assert page.flash == "You are logged out."
    assert page.current_user is None


@pytest.mark.gen_test
async def test_a_refused_checkout_goes_back_to_the_form_with_what_was_typed(client, auth, product_ids):
    await auth.login()
    await client.add(product_ids[0], 1)
    response = await client.post("/checkout", {"name": "Dana Demo", "street": "", "city": "Portland",
                                               "country": "US", "postcode": "97201"}, headers=NAVIGATE)
    assert response.code == 303 and response.headers["Location"] == "/checkout"
    page = await client.page("/checkout")
    assert page.first("field-error") is not None
    assert 'value="Dana Demo"' in page.html and 'value="Portland"' in page.html
    assert (await client.page("/checkout")).first("field-error") is None, "the messages show once"
