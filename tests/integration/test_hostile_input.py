"""Issue 9 in the app: login throttling, rate limits on new accounts and sessions, passwords kept as
typed, control characters refused, nosniff on every response, HEAD wherever GET is allowed."""

import re

import pytest

from handlers.limits import LoginLimit, RateLimit
from shop.throttle import LoginThrottle, TokenBucket
from tests.conftest import DEMO_PASSWORD, DEMO_USERNAME, SHIPPING

ATTACKER = {"X-Forwarded-For": "203.0.113.66"}
OWNER = {"X-Forwarded-For": "192.0.2.7"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(make_config, backend_environment):
    # The test server's client is 127.0.0.1: trusted as a proxy, so X-Forwarded-For names the client.
    return make_config(**backend_environment, TRUSTED_PROXIES="127.0.0.1")


@pytest.fixture
def clock(app):
    clock = Clock()
    # Counted in the process (whatever the backend), on a clock the test moves.
    app.login_throttle = LoginLimit(LoginThrottle(free_failures=5, first_delay=30, max_delay=900, clock=clock))
    return clock


async def login(client, password, headers, username=DEMO_USERNAME):
    return await client.post("/login", {"username": username, "password": password}, headers=headers)


# --- login throttling ---------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_thirty_wrong_passwords_get_429_after_five_and_the_right_one_is_refused_too(client, clock):
    codes = [(await login(client, f"wrong-{n}", ATTACKER)).code for n in range(30)]
    assert codes == [400] * 5 + [429] * 25
    refused = await login(client, DEMO_PASSWORD, ATTACKER)
    assert refused.code == 429
    assert int(refused.headers["Retry-After"]) == 30
    assert "Too many failed logins" in client.page_of(refused).flash


@pytest.mark.gen_test
async def test_the_owner_at_another_address_still_logs_in_while_a_guesser_is_locked_out(make_client, clock):
    guesser, owner = make_client(), make_client()
    for n in range(30):
        await login(guesser, f"wrong-{n}", ATTACKER)
    response = await login(owner, DEMO_PASSWORD, OWNER)
    assert response.code == 303


@pytest.mark.gen_test
async def test_the_same_address_gets_in_after_the_wait(client, clock):
    for n in range(6):
        await login(client, f"wrong-{n}", ATTACKER)
    assert (await login(client, DEMO_PASSWORD, ATTACKER)).code == 429
    clock.now += 30
    assert (await login(client, DEMO_PASSWORD, ATTACKER)).code == 303


@pytest.mark.gen_test
async def test_the_wait_doubles_as_failures_go_on(client, clock):
    for n in range(5):
        await login(client, f"wrong-{n}", ATTACKER)
    clock.now += 30
    await login(client, "wrong-again", ATTACKER)
    assert int((await login(client, DEMO_PASSWORD, ATTACKER)).headers["Retry-After"]) == 60


@pytest.mark.gen_test
async def test_the_username_throttle_is_blind_to_case(make_client, clock):
    # Each guess from an address of its own, so only the username's throttle (10 free) can stop them.
    guesser = make_client()
    spellings = ["demo", "Demo", "dEmo", "deMo", "demO", "DEmo", "dEMo", "deMO", "DeMo", "dEmO"]
    for number, spelling in enumerate(spellings):
        assert (await login(guesser, "wrong", {"X-Forwarded-For": f"198.51.100.{number}"}, spelling)).code == 400
    owner = make_client()
    assert (await login(owner, DEMO_PASSWORD, OWNER, "DEMO")).code == 429
    clock.now += 30
    assert (await login(owner, DEMO_PASSWORD, OWNER, "DEMO")).code == 303


@pytest.mark.gen_test
async def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_config, app, make_client, clock):
    app.config = make_config(SESSION_BACKEND="memory")  # the limits without TRUSTED_PROXIES
    client = make_client()
    for n in range(5):
        await login(client, f"wrong-{n}", {"X-Forwarded-For": f"198.51.100.{n}"})
    assert (await login(client, DEMO_PASSWORD, OWNER)).code == 429


# --- rate limits on new accounts and new sessions ------------------------------------------------------


@pytest.mark.gen_test
async def test_registrations_from_one_address_are_rate_limited(app, client):
    app.register_limit = RateLimit("r", TokenBucket(rate=1 / 60, burst=2))
    for number in range(2):
        response = await client.post("/register", {"username": f"new{number}", "password": "long enough lantern"},
                                     headers=ATTACKER)
        assert response.code == 303
        client.cookies.pop("session", None)
    response = await client.post("/register", {"username": "new3", "password": "long enough lantern"}, headers=ATTACKER)
    assert response.code == 429 and int(response.headers["Retry-After"]) >= 1
    assert "Too many new accounts" in client.page_of(response).flash
    assert app.users._find("new3") is None


@pytest.mark.gen_test
async def test_new_sessions_from_one_address_are_rate_limited(app, make_client, product_ids):
    app.session_limit = RateLimit("s", TokenBucket(rate=1 / 60, burst=3))
    codes = []
    for _ in range(5):
        client = make_client()
        codes.append((await client.post("/cart/add", {"product_id": product_ids[0]}, headers=ATTACKER)).code)
    assert codes == [303, 303, 303, 429, 429]
    other = make_client()
    assert (await other.post("/cart/add", {"product_id": product_ids[0]}, headers=OWNER)).code == 303
    # A shopper who already has a session is not held up by the limit.
    client = make_client()
    await client.post("/cart/add", {"product_id": product_ids[0]}, headers=OWNER)
    assert (await client.post("/cart/add", {"product_id": product_ids[1]}, headers=OWNER)).code == 303


# --- passwords and names ---------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_password_is_kept_exactly_as_typed(client, auth):
    assert (await auth.register("spacey", "  two spaces  ")).code == 303
    await auth.logout()
    assert (await auth.login("spacey", "two spaces")).code == 400
    assert (await auth.login("spacey", "  two spaces  ")).code == 303


@pytest.mark.gen_test
async def test_an_account_registered_with_a_stripped_password_still_logs_in(app, auth):
    # What registering "  old secret  " stored before passwords were kept as typed: the password
    # stripped, in a row that predates the password_as_typed column (its default, 0).
    app.users.register("oldtimer", "old secret")
    with app.database.transaction("make it an old account") as transaction:
        transaction.execute("UPDATE users SET password_as_typed = 0 WHERE username = ?", ("oldtimer",))
    assert (await auth.login("oldtimer", "  old secret  ")).code == 303


@pytest.mark.gen_test
async def test_a_new_account_does_not_take_its_password_with_spaces_added(app, auth):
    assert (await auth.register("newcomer", "new secret lantern")).code == 303
    await auth.logout()
    assert (await auth.login("newcomer", "  new secret lantern  ")).code == 400
    assert (await auth.login("newcomer", "new secret lantern")).code == 303


@pytest.mark.gen_test
async def test_password_length_is_counted_after_normalisation(auth, client):
    # Eight characters, typed as sixteen code points (e + combining acute accent).
    response = await auth.register("accents", "e\u0301" * 8)
    assert response.code == 400
    assert "at least 12 characters long (it has 8)" in client.page_of(response).flash


@pytest.mark.gen_test
async def test_the_demo_password_still_works(auth):
    assert (await auth.login()).code == 303


@pytest.mark.gen_test
@pytest.mark.parametrize("character", ["\u202e", "\u2066", "\u200f", "\x85", "\x7f",
                                       # Issue 25: C0 controls Tornado's own reading turned into spaces.
                                       "\x07", "\x01", "\x0b", "\x1b", "\u200b", "\u2067"])
@pytest.mark.parametrize("field", ["name", "city"])
async def test_checkout_refuses_control_and_bidi_characters_in_the_address(auth, client, product_ids, character,
                                                                          field):
    await auth.login()
    await client.add(product_ids[0])
    response = await client.post("/checkout", {**SHIPPING, field: f"Dana {character}txt.exe"})
    assert response.code == 400
    assert "invisible or control characters" in response.body.decode()
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
async def test_checkout_accepts_joiners_in_names(auth, client, product_ids):
    await auth.login()
    await client.add(product_ids[0])
    response = await client.post("/checkout", {**SHIPPING, "name": "می\u200cخواهم"})
    assert response.code == 303


# --- headers and methods ------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_static_files_and_error_pages_carry_nosniff(client):
    page = (await client.get("/")).body.decode()
    stylesheet = re.search(r'href="(/static/[^"]+\.css[^"]*)"', page).group(1)
    for path in (stylesheet, "/no-such-page", "/static/no-such-file.css"):
        response = await client.get(path)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path


@pytest.mark.gen_test
async def test_head_answers_like_get_without_a_body(client, product_ids):
    for path in ("/", f"/product/{product_ids[0]}", "/cart", "/login", "/register", "/api/cart", "/healthz"):
        response = await client.fetch(path, method="HEAD")
        assert response.code == 200, path
        assert response.body == b"", path
    assert (await client.fetch("/checkout", method="HEAD")).code == 303  # an empty cart: back to the cart
    assert (await client.fetch("/no-such-page", method="HEAD")).code == 404
    assert (await client.fetch("/logout", method="HEAD")).code == 303
