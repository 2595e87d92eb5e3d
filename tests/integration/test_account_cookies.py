"""COOKIE_SECURE=1 (issue 16, OWASP ASVS 3.4.4): every cookie the shop sets is `__Host-` prefixed,
Secure, Path=/ and without Domain, and a plain `session` cookie planted beside the real one is
never read."""
from http.cookies import SimpleCookie

import pytest

from tests.conftest import DEMO_PASSWORD


@pytest.fixture
def config(make_config, backend_environment):
    return make_config(COOKIE_SECURE="1", **backend_environment)


@pytest.mark.gen_test
async def test_every_cookie_the_shop_sets_is_host_prefixed(client, product_ids):
    set_cookies = []
    for response in (await client.get("/login"), await client.add(product_ids[0]),
                     await client.post("/login", {"username": "demo", "password": DEMO_PASSWORD}),
                     await client.post("/logout")):
        set_cookies += response.headers.get_list("Set-Cookie")
    names = set()
    for header in set_cookies:
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            names.add(name)
            assert name.startswith("__Host-"), header
            assert morsel["secure"] and morsel["path"] == "/" and not morsel["domain"], header
    assert {"__Host-session", "__Host-_xsrf", "__Host-flash"} <= names


@pytest.mark.gen_test
async def test_an_injected_session_cookie_beside_the_real_one_does_not_win(make_client, product_ids):
    victim, attacker = make_client(), make_client()
    await victim.post("/login", {"username": "demo", "password": DEMO_PASSWORD})
    await attacker.add(product_ids[0])  # a session of the attacker's own, validly signed
    planted = attacker.cookies["__Host-session"]
    real = dict(victim.cookies)
    for cookies in ({"session": planted, **real}, {**real, "session": planted}):  # before and after
        victim.cookies = cookies
        assert (await victim.page("/")).current_user == "demo"
        assert await victim.cart_quantities() == {}
