"""The live switch when the bulk copy ran first: `python -m sessions copy` (without --move) while
the old shop serves, then two `python app.py` on the new store with SESSION_MIGRATE_FROM, sharing
it, then `copy --move` to drain. Every session is then in both stores for a while; what the shop
does in the new one (a logout, "end other sessions", a cart add with a lowered SESSION_TTL) must
not be undone by the drain, which finds the old copies."""

from __future__ import annotations

import secrets

import pytest

from tests.integration.test_live_switch import (
    PASSWORD, PRODUCT, copy_sessions, copied_counts, places, start_shop,  # noqa: F401 (places: a fixture)
)
from tests.integration.test_account import handles
from tests.shop_process import Shopper, free_port

pytestmark = pytest.mark.timeout(240)


def register(url: str) -> tuple[Shopper, str]:
    shopper = Shopper(url)
    username = f"racer-{secrets.token_hex(4)}"
    page = shopper.post("/register", username=username, password=PASSWORD, confirm_password=PASSWORD)
    assert page.current_user == username, page.status
    return shopper, username


def log_in(url: str, username: str) -> Shopper:
    shopper = Shopper(url)
    assert shopper.post("/login", username=username, password=PASSWORD).current_user == username
    return shopper


def test_a_drain_after_an_earlier_copy_undoes_nothing_the_new_store_saw(tmp_path, places):
    old = start_shop(tmp_path, free_port(), places["file"])
    # One who logs out, one whose phone ends the laptop's session, and a guest whose cart grows.
    leaving, leaver = register(old.url)
    laptop, owner = register(old.url)
    phone = log_in(old.url, owner)
    guest = Shopper(old.url)
    assert guest.post("/cart/add", product_id=PRODUCT, quantity="1").status == 200
    redis = places["redis"]
    prefix = redis.environ["SESSION_REDIS_PREFIX"]
    source, target = f"file:{tmp_path / 'data' / 'sessions'}", redis.environ["REDIS_URL"]
    first = copy_sessions("--from", source, "--to", target, "--prefix", prefix)
    assert first.returncode == 0 and copied_counts(first.stdout)[0] >= 4, first.stdout + first.stderr
    assert old.stop() == 0
    # Two shops on the new store, a shorter SESSION_TTL than before: a change they make expires
    # before the older copy the old store still holds.
    shops = [start_shop(tmp_path, free_port(), redis, SESSION_MIGRATE_FROM="file", SESSION_TTL="1800")
             for _ in range(2)]
    try:
        one, two = (shop.url for shop in shops)
        stolen = leaving.copy_at(one)  # the cookie as it was before the logout (a copy someone kept)
        assert leaving.at(one).post("/logout").current_user is None
        assert "Ended 1 other session" in phone.at(two).post("/account/sessions/end-others").flash
        assert guest.at(one).post("/cart/add", product_id=PRODUCT, quantity="1").cart_lines == {PRODUCT: 2}
        drain = copy_sessions("--from", source, "--to", target, "--prefix", prefix, "--move")
        assert drain.returncode == 0, drain.stderr
        assert places["file"].session_ids() == set()
        assert stolen.at(two).get("/").current_user is None, f"{leaver}'s logout was undone by the drain"
        assert laptop.at(one).get("/").current_user is None, "the ended session came back with the drain"
        assert len(handles(phone.at(one).get("/account"))) == 1
        assert guest.at(two).get("/cart").cart_lines == {PRODUCT: 2}, "the drain put back the older cart"
        assert all("Traceback" not in shop.output() for shop in shops)
    finally:
        for shop in shops:
            shop.kill9()
