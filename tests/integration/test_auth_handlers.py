"""Log in, register, log out: the same message for a wrong password and an unknown user, a new
session id at login with the cart carried over, `next` only for local paths, logout ends the session."""

import pytest


@pytest.mark.gen_test
async def test_login_page_names_the_demo_account(client):
    page = await client.page("/login")
    assert "demo" in page.html and "demo1234" in page.html
    assert page.first("login-submit") is not None
    assert 'name="_xsrf"' in page.html


@pytest.mark.gen_test
async def test_login_shows_the_user_in_the_header(client, auth):
    response = await auth.login()
    assert response.code == 303
    assert response.headers["Location"] == "/"
    page = await client.page("/")
    assert page.text("current-user") == "demo"
    assert "Welcome back" in page.flash


@pytest.mark.gen_test
async def test_wrong_password_and_unknown_user_get_the_same_message(client, auth):
    wrong_password = await auth.login("demo", "not-the-password")
    unknown_user = await auth.login("nobody-here", "demo1234")
    assert wrong_password.code == unknown_user.code == 400
    first, second = client.page_of(wrong_password), client.page_of(unknown_user)
    assert first.flash == second.flash != ""
    assert 'value="nobody-here"' in second.html  # the username is kept in the form
    assert second.first("current-user") is None


@pytest.mark.gen_test
async def test_login_with_empty_fields_is_400_with_a_message_at_each_field(client, auth):
    response = await auth.login("", "")
    assert response.code == 400
    page = client.page_of(response)
    errors = {element["attrs"]["data-field"]: element["text"] for element in page.all("field-error")}
    assert "enter your username" in errors["username"] and "enter your password" in errors["password"]
    assert "enter your username" in page.flash and "enter your password" in page.flash


@pytest.mark.gen_test
async def test_login_regenerates_the_session_id_and_keeps_the_cart(make_client, product_ids):
    client = make_client()
    await client.add(product_ids[0], 2)
    old_cookie = client.cookies["session"]
    response = await client.post("/login", {"username": "demo", "password": "demo1234"})
    assert response.code == 303
    assert client.cookies["session"] != old_cookie
    assert await client.cart_quantities() == {product_ids[0]: 2}

    # The old id is gone: someone holding it (a planted cookie) gets neither the login nor the cart.
    attacker = make_client()
    attacker.cookies["session"] = old_cookie
    page = await attacker.page("/")
    assert page.first("current-user") is None
    assert await attacker.cart_quantities() == {}


@pytest.mark.gen_test
async def test_a_change_from_another_tab_still_on_the_old_id_is_refused_and_the_login_stays(make_client, product_ids):
    client = make_client()
    await client.add(product_ids[0], 2)
    other_tab = make_client()
    other_tab.cookies = dict(client.cookies)  # the same browser: its request was sent before the login
    other_tab._xsrf = await client.xsrf_token()
    await client.post("/login", {"username": "demo", "password": "demo1234"})

    response = await other_tab.add(product_ids[1], 1)
    assert response.code == 409
    assert "another window" in client.page_of(response).flash
    assert not any(h.startswith("session=") for h in response.headers.get_list("Set-Cookie"))
    page = await client.page("/cart")
    assert page.text("current-user") is not None and "demo" in page.text("current-user")
    assert await client.cart_quantities() == {product_ids[0]: 2}


@pytest.mark.gen_test
async def test_login_without_a_prior_session_creates_one(client, auth):
    await auth.login()
    assert "session" in client.cookies
    assert (await client.page("/")).text("current-user") == "demo"


@pytest.mark.parametrize("next_url, expected", [
    ("/checkout", "/checkout"),
    ("/product/abc?x=1", "/product/abc?x=1"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example/", "/"),
    ("/\t/evil.example/", "/"),
    ("javascript:alert(1)", "/"),
    ("", "/"),
])
@pytest.mark.gen_test
async def test_login_follows_next_only_to_local_paths(auth, next_url, expected):
    response = await auth.login(next=next_url)
    assert response.code == 303
    assert response.headers["Location"] == expected


@pytest.mark.gen_test
async def test_login_form_carries_next_from_the_query(client):
    page = await client.page("/login?next=/orders")
    assert 'name="next" value="/orders"' in page.html
    page = await client.page("/login?next=//evil.example")
    assert "evil.example" not in page.html


@pytest.mark.gen_test
async def test_logout_ends_the_session(make_client, auth, client, product_ids):
    await auth.login()
    await client.add(product_ids[0], 1)
    cookie = client.cookies["session"]
    response = await auth.logout()
    assert response.code == 303
    assert response.headers["Location"] == "/"
    assert "session" not in client.cookies
    page = await client.page("/")
    assert page.first("current-user") is None
    assert page.text("cart-count") == "0"

    # Replaying the old cookie does not bring the session back.
    replay = make_client()
    replay.cookies["session"] = cookie
    assert (await replay.page("/")).first("current-user") is None


@pytest.mark.gen_test
async def test_logout_needs_post_and_a_get_goes_home(client, auth):
    await auth.login()
    response = await client.get("/logout")
    assert response.code == 303 and response.headers["Location"] == "/"
    assert (await client.page("/")).text("current-user") == "demo"


@pytest.mark.gen_test
async def test_logout_without_xsrf_is_403_and_keeps_the_login(client, auth):
    await auth.login()
    response = await client.post("/logout", xsrf=False)
    assert response.code == 403
    assert (await client.page("/")).text("current-user") == "demo"


@pytest.mark.gen_test
async def test_login_without_xsrf_is_403(client):
    response = await client.post("/login", {"username": "demo", "password": "demo1234"}, xsrf=False)
    assert response.code == 403
    assert "reload the page" in client.page_of(response).flash
    assert "session" not in client.cookies


@pytest.mark.gen_test
async def test_register_creates_the_account_and_logs_in(client, auth, product_ids):
    await client.add(product_ids[0], 1)
    old_cookie = client.cookies["session"]
    response = await auth.register("newshopper")
    assert response.code == 303
    assert client.cookies["session"] != old_cookie
    page = await client.page("/")
    assert page.text("current-user") == "newshopper"
    assert await client.cart_quantities() == {product_ids[0]: 1}

    await auth.logout()
    assert (await auth.login("newshopper", "correct horse")).code == 303


@pytest.mark.parametrize("username, password, message", [
    ("ab", "long enough", "Username must be 3 to 32 characters"),
    ("bad name!", "long enough", "Username can only use letters, digits"),
    ("shorty", "short", "Password must be at least 12 characters"),
    ("demo", "a lantern at dusk", "taken"),
    ("toolong", "x" * 200, "at most 128"),
])
@pytest.mark.gen_test
async def test_register_rejects_bad_input_with_a_message(client, auth, username, password, message):
    response = await auth.register(username, password)
    assert response.code == 400
    page = client.page_of(response)
    assert message in page.flash
    assert page.first("current-user") is None
    assert "session" not in client.cookies


@pytest.mark.gen_test
async def test_register_page_has_labelled_fields(client):
    page = await client.page("/register")
    assert '<label for="username">' in page.html and '<label for="password">' in page.html


@pytest.mark.gen_test
async def test_logging_in_as_someone_else_starts_from_an_empty_cart(make_client, product_ids):
    other = make_client()
    assert (await other.post("/register", {"username": "bea", "password": "correct horse"})).code == 303
    shared_computer = make_client()
    assert (await shared_computer.post("/login", {"username": "demo", "password": "demo1234"})).code == 303
    await shared_computer.add(product_ids[0], 2)
    response = await shared_computer.post("/login", {"username": "bea", "password": "correct horse"})
    assert response.code == 303
    assert (await shared_computer.page("/")).text("current-user") == "bea"
    assert await shared_computer.cart_quantities() == {}


@pytest.mark.gen_test
async def test_logging_in_again_as_the_same_person_keeps_the_cart(client, auth, product_ids):
    assert (await auth.login()).code == 303
    await client.add(product_ids[0], 2)
    assert (await auth.login()).code == 303
    assert await client.cart_quantities() == {product_ids[0]: 2}


@pytest.mark.gen_test
async def test_a_username_logs_in_whatever_its_case(client, auth):
    assert (await auth.login("DeMo", "demo1234")).code == 303
    assert (await client.page("/")).text("current-user") == "demo"


@pytest.mark.gen_test
async def test_registering_a_name_taken_in_another_case_is_refused(client, auth):
    response = await auth.register("DEMO", "correct horse")
    assert response.code == 400
    assert "taken" in client.page_of(response).html
