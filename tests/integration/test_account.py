"""Sessions that belong to a person (issue 16), on every backend, with two cookie jars as two
devices: the account's cart on both, sessions listed and ended, a password change that ends the
others, an absolute lifetime, and a form sent after the session ended that lands on login and back."""
import asyncio
import re
import time
import unicodedata

import pytest

from tests.conftest import DEMO_PASSWORD, SHIPPING

NEW_PASSWORD = "lantern harbour tide 42"


async def logged_in(make_client, auth_class=None, username="demo", password=DEMO_PASSWORD):
    device = make_client()
    response = await device.post("/login", {"username": username, "password": password})
    assert response.code == 303, response.body
    return device


def handles(page):
    return [row["attrs"]["data-session"] for row in page.all("session-row")]


def current_handle(page):
    [row] = [row for row in page.all("session-row") if row["attrs"].get("data-current") == "true"]
    return row["attrs"]["data-session"]


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_the_cart_made_on_one_device_is_on_the_other(make_client, product_ids):
    laptop = await logged_in(make_client)
    await laptop.add(product_ids[0], 2)
    phone = await logged_in(make_client)
    assert await phone.cart_quantities() == {product_ids[0]: 2}
    await phone.add(product_ids[1], 1)
    assert await laptop.cart_quantities() == {product_ids[0]: 2, product_ids[1]: 1}
    assert (await laptop.page("/cart")).cart_count == 3


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_logout_keeps_the_cart_for_the_account_and_shows_it_to_nobody(make_client, product_ids):
    laptop = await logged_in(make_client)
    await laptop.add(product_ids[0], 1)
    await laptop.post("/logout")
    assert await laptop.cart_quantities() == {}
    assert await make_client().cart_quantities() == {}
    await laptop.post("/login", {"username": "demo", "password": DEMO_PASSWORD})
    assert await laptop.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_login_merges_the_anonymous_cart_capped_at_99_and_says_what_was_merged(make_client, product_ids):
    laptop = await logged_in(make_client)
    await laptop.add(product_ids[0], 60)
    phone = make_client()
    await phone.add(product_ids[0], 50)
    await phone.add(product_ids[1], 2)
    response = await phone.post("/login", {"username": "demo", "password": DEMO_PASSWORD, "next": "/cart"})
    page = await phone.page(response.headers["Location"])
    assert page.cart_lines == {product_ids[0]: 99, product_ids[1]: 2}
    assert "We added what was in your cart before you logged in" in page.flash
    assert "so your cart now has 99" in page.flash
    assert await laptop.cart_quantities() == {product_ids[0]: 99, product_ids[1]: 2}


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_the_account_page_lists_this_login_and_the_others_without_their_ids(make_client, app):
    laptop = await logged_in(make_client)
    phone = await logged_in(make_client)
    response = await phone.get("/account", headers={
        "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                      "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"})
    page = phone.page_of(response)
    assert len(handles(page)) == 2
    assert page.first("session-row")["attrs"].get("data-current") == "true"  # this device first
    assert len(page.all("end-session")) == 1 and page.first("end-other-sessions") is not None
    assert page.first("change-password-submit") is not None and page.first("account-link") is not None
    body = response.body.decode()
    for info in await app.sessions.owner_sessions(str(app.users.authenticate("demo", DEMO_PASSWORD).id)):
        assert info.session_id not in body
    for cookie in list(laptop.cookies.values()) + list(phone.cookies.values()):
        assert cookie not in body


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_ending_a_session_logs_that_device_out_on_its_next_request(make_client):
    laptop = await logged_in(make_client)
    phone = await logged_in(make_client)
    page = await phone.page("/account")
    laptops = [handle for handle in handles(page) if handle != current_handle(page)]
    response = await phone.post("/account/sessions/end", {"session": laptops[0]})
    assert response.code == 303
    assert (await laptop.page("/")).current_user is None
    assert (await phone.page("/")).current_user == "demo"
    assert handles(await phone.page("/account")) == [current_handle(page)]


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_end_all_other_sessions_keeps_only_this_one(make_client):
    others = [await logged_in(make_client) for _ in range(3)]
    phone = await logged_in(make_client)
    response = await phone.post("/account/sessions/end-others")
    assert "Ended 3 other sessions" in (await phone.page(response.headers["Location"])).flash
    assert [(await other.page("/")).current_user for other in others] == [None, None, None]
    assert len(handles(await phone.page("/account"))) == 1


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_a_handle_that_is_not_yours_gets_404_and_ends_nothing(make_client, auth):
    await auth.register("mallory", "mallory lantern harbour")
    mallory = auth.client
    demo = await logged_in(make_client)
    demos = current_handle(await demo.page("/account"))
    for handle in (demos, "A" * 22, "", "../../etc"):
        response = await mallory.post("/account/sessions/end", {"session": handle})
        assert response.code == 404
        assert "not one of yours" in mallory.page_of(response).flash
    assert (await demo.page("/")).current_user == "demo"


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_a_password_change_ends_the_other_device_and_keeps_this_one(make_client, product_ids):
    laptop = await logged_in(make_client)
    await laptop.add(product_ids[0], 1)
    phone = await logged_in(make_client)
    old_cookie = dict(phone.cookies)
    response = await phone.post("/account/password", {"current_password": DEMO_PASSWORD,
                                                      "new_password": NEW_PASSWORD})
    assert response.code == 303
    assert phone.cookies != old_cookie  # this session has a new id
    page = await phone.page("/account")
    assert "logged you out of 1 other session" in page.flash
    assert page.current_user == "demo" and len(handles(page)) == 1
    assert (await laptop.page("/")).current_user is None
    assert await phone.cart_quantities() == {product_ids[0]: 1}  # the account's cart stays
    assert (await make_client().post("/login", {"username": "demo", "password": DEMO_PASSWORD})).code == 400
    assert (await make_client().post("/login", {"username": "demo", "password": NEW_PASSWORD})).code == 303


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_a_wrong_current_password_changes_nothing_and_counts_toward_the_login_throttle(make_client, app):
    laptop = await logged_in(make_client)
    phone = await logged_in(make_client)
    for _ in range(app.config.limits.login_throttle_failures):
        response = await phone.post("/account/password", {"current_password": "not it at all",
                                                          "new_password": NEW_PASSWORD})
        assert response.code == 400
        assert "not your current password" in response.body.decode()
    response = await phone.post("/account/password", {"current_password": DEMO_PASSWORD,
                                                      "new_password": NEW_PASSWORD})
    assert response.code == 429
    assert (await laptop.page("/")).current_user == "demo"
    assert (await make_client().post("/login", {"username": "demo", "password": DEMO_PASSWORD})).code in (303, 429)


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
@pytest.mark.parametrize("new_password, reason", [
    ("short one", "at least 12 characters"),
    ("password1234", "harder password"),
    ("qwerty123456", "harder password"),
    ("demo", "at least 12 characters"),
])
async def test_a_weak_new_password_is_refused_with_the_reason(make_client, new_password, reason):
    phone = await logged_in(make_client)
    response = await phone.post("/account/password", {"current_password": DEMO_PASSWORD,
                                                      "new_password": new_password})
    assert response.code == 400
    assert reason in response.body.decode()
    assert phone.page_of(response).text("password-strength").startswith("Strength:")


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_a_password_equal_to_the_username_is_refused(auth, client):
    response = await auth.register("harbourmaster", "harbourmaster")
    assert response.code == 400
    assert "must not be your username" in client.page_of(response).flash


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_the_strength_endpoint_judges_as_the_server_does(client):
    import json
    response = await client.post("/password-strength", {"password": "password1234", "username": "x"})
    verdict = json.loads(response.body)
    assert verdict["acceptable"] is False and "harder password" in verdict["problem"]
    verdict = json.loads((await client.post("/password-strength", {"password": NEW_PASSWORD})).body)
    assert verdict["acceptable"] is True and verdict["score"] >= 3


@pytest.mark.gen_test(timeout=60)
async def test_the_strength_endpoint_slows_a_client_that_asks_too_often(client, app):
    from handlers.assembly import STRENGTH_CHECKS_PER_MINUTE
    answered = []
    # The bucket refills at one check a second, so however slowly this runs, three times the
    # figure is far more than it can earn back.
    for n in range(3 * STRENGTH_CHECKS_PER_MINUTE):
        answered.append((await client.post("/password-strength", {"password": f"guess {n}"})).code)
        if answered[-1] != 200:
            break
    assert answered[-1] == 429, answered
    # A person's typing is never refused: this process allows its share of the figure at once.
    assert answered.count(200) >= STRENGTH_CHECKS_PER_MINUTE // app.config.workers


@pytest.mark.gen_test(timeout=60)  # six scrypts, on a loaded machine
async def test_a_password_logs_in_whichever_unicode_form_it_is_typed_in(auth, make_client, app):
    nfc = unicodedata.normalize("NFC", "crème brûlée lantern")
    assert (await auth.register("pastry", nfc)).code == 303
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert (await make_client().post("/login", {"username": "pastry", "password": nfd})).code == 303
    # An account hashed from the raw text before NFC: logs in as typed, and is rehashed in NFC.
    app.users.register("oldhash", "placeholder")  # its hash is replaced below
    from shop.users import PasswordHasher
    with app.database.transaction("an old hash") as transaction:
        transaction.execute("UPDATE users SET password_hash = ?, password_nfc = 0 WHERE username = ?",
                            (PasswordHasher().hash(nfd), "oldhash"))
    assert (await make_client().post("/login", {"username": "oldhash", "password": nfd})).code == 303
    assert (await make_client().post("/login", {"username": "oldhash", "password": nfc})).code == 303


@pytest.mark.gen_test(timeout=30)
async def test_a_login_ends_at_its_absolute_lifetime_however_busy(make_client, app):
    app.sessions.max_age = 4
    before = time.monotonic()
    laptop = await logged_in(make_client)
    after = time.monotonic()
    # Busy well inside the lifetime (which began between before and after), with margin for a slow machine.
    while time.monotonic() - before < 1.5:
        assert (await laptop.page("/")).current_user == "demo"
        await asyncio.sleep(0.2)
    await asyncio.sleep(max(0.0, after + 4.5 - time.monotonic()))
    assert (await laptop.page("/")).current_user is None


@pytest.mark.gen_test(timeout=60)  # scrypt for every login, on a loaded machine
async def test_a_checkout_sent_after_the_session_ended_lands_on_login_and_back(make_client, product_ids):
    laptop = await logged_in(make_client)
    await laptop.add(product_ids[0], 1)
    await laptop.page("/checkout")
    phone = await logged_in(make_client)
    await phone.post("/account/sessions/end-others")
    response = await laptop.post("/checkout", {**SHIPPING, "for_account": "1"})  # as the account's form sends it
    assert response.code == 303
    assert response.headers["Location"] == "/login?next=%2Fcheckout"
    login_page = await laptop.page(response.headers["Location"])
    assert "Nothing was lost" in login_page.flash
    response = await laptop.post("/login", {"username": "demo", "password": DEMO_PASSWORD, "next": "/checkout"})
    assert response.headers["Location"] == "/checkout"
    page = await laptop.page("/checkout")
    assert re.search(r"data-testid=\"place-order\"", page.html)
    assert await laptop.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test(timeout=120)
async def test_fifty_simultaneous_adds_from_two_devices_of_one_account_leave_fifty(make_client, product_ids):
    laptop = await logged_in(make_client)
    phone = await logged_in(make_client)
    await laptop.xsrf_token(), await phone.xsrf_token()
    answers = await asyncio.gather(*(
        (laptop if number % 2 else phone).add(product_ids[0], 1) for number in range(50)))
    assert [answer.code for answer in answers] == [303] * 50
    assert await laptop.cart_quantities() == {product_ids[0]: 50}
