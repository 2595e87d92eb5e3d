"""The live switch raced by real `python app.py` processes, two at a time on one store, and the
bulk copy run beside them: a drain after an earlier copy (every session in both stores for a
while) undoes nothing the new store saw; two shops serving while `copy --move` drains lose no add
and end what they end; a login just before the switch still turns its old id away after it."""

from __future__ import annotations

import asyncio
import secrets
import threading

import pytest

from sessions import new_session_id, registry

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


FILLER = 1500  # other people's sessions, so that the drain is still running while these shop
ACCOUNTS = 4
MOST_ADDS = 90  # a cart holds at most 99 of a product


def _shop_while(done: threading.Event, index: int, device: Shopper, other: Shopper, urls: list[str],
                counts: dict) -> None:
    """Add a mug on one shop and list the account's sessions on the other, until done."""
    while not done.is_set():
        url = urls[len(counts["answers"]) % 2]
        if counts["acknowledged"][index] + counts["unknown"][index] >= MOST_ADDS:
            return
        try:
            status = device.at(url).post_without_redirect("/cart/add", product_id=PRODUCT, quantity="1").status
        except OSError:
            counts["unknown"][index] += 1
            continue
        counts["answers"].append(status)
        counts["acknowledged"][index] += status == 303
        if other is not None:
            listed = other.at(urls[1 - len(counts["answers"]) % 2]).get("/account")
            counts["answers"].append(listed.status)
            counts["listed"][index] = max(counts["listed"][index], len(handles(listed)))


def address(place) -> str:
    """The store as `python -m sessions copy` names it."""
    return f"file:{place.settings.directory}" if place.backend == "file" else place.environ["REDIS_URL"]


@pytest.mark.parametrize("old, new", [("file", "redis"), ("redis", "file")])
def test_two_shops_serving_while_the_drain_runs_lose_no_add_and_end_what_they_end(tmp_path, places, old, new):
    source, target = places[old], places[new]
    old = start_shop(tmp_path, free_port(), source)
    accounts = []
    for _ in range(ACCOUNTS):
        laptop, username = register(old.url)
        accounts.append((laptop, log_in(old.url, username), username))
    guests = [Shopper(old.url) for _ in range(ACCOUNTS)]
    for guest in guests:
        assert guest.post("/cart/add", product_id=PRODUCT, quantity="1").status == 200
    for laptop, _, _ in accounts:
        assert laptop.post("/cart/add", product_id=PRODUCT, quantity="1").status == 200
    assert old.stop() == 0
    fill(source, FILLER)
    prefix = places["redis"].environ["SESSION_REDIS_PREFIX"]
    shops = [start_shop(tmp_path, free_port(), target, SESSION_MIGRATE_FROM=source.migrate_from,
                        SESSION_REDIS_PREFIX=prefix) for _ in range(2)]
    urls = [shop.url for shop in shops]
    devices = [(laptop, phone) for laptop, phone, _ in accounts] + [(guest, None) for guest in guests]
    counts = {"answers": [], "acknowledged": [0] * len(devices), "unknown": [0] * len(devices),
              "listed": [0] * len(devices)}
    done = threading.Event()
    threads = [threading.Thread(target=_shop_while, args=(done, index, device, other, urls, counts))
               for index, (device, other) in enumerate(devices)]
    try:
        for thread in threads:
            thread.start()
        drain = copy_sessions("--from", address(source), "--to", address(target), "--prefix", prefix, "--move")
        done.set()
        for thread in threads:
            thread.join(60)
        assert drain.returncode == 0, drain.stderr
        assert copied_counts(drain.stdout)[0] >= FILLER, drain.stdout
        assert set(counts["answers"]) <= {200, 303}, sorted(set(counts["answers"]))
        assert sum(counts["acknowledged"]) > len(devices), "too little load to prove anything"
        assert source.session_ids() == set(), "the drain left sessions behind"
        for index, (device, other) in enumerate(devices):
            cart = (other or device).at(urls[index % 2]).get("/cart").cart_lines.get(PRODUCT, 0)
            acknowledged = 1 + counts["acknowledged"][index]
            assert acknowledged <= cart <= acknowledged + counts["unknown"][index], (index, acknowledged, cart)
        for index, (laptop, phone, username) in enumerate(accounts):
            assert counts["listed"][index] == 2, f"{username}'s /account did not list both devices"
            assert "Ended 1 other session" in phone.at(urls[0]).post("/account/sessions/end-others").flash
            assert laptop.at(urls[1]).get("/").current_user is None
            assert phone.at(urls[1]).get("/").current_user == username
        assert all("Traceback" not in shop.output() for shop in shops)
    finally:
        done.set()
        for shop in shops:
            shop.kill9()


def fill(place, count: int) -> None:
    async def saved() -> None:
        store = registry.create(place.backend, place.settings)
        try:
            for _ in range(count):
                await store.save(new_session_id(), {"cart": {PRODUCT: 1}}, 600)
        finally:
            await store.close()

    asyncio.run(saved())


@pytest.mark.parametrize("old, new", [("file", "redis"), ("redis", "file")])
def test_a_login_just_before_the_switch_still_turns_away_its_old_id_after_it(tmp_path, places, old, new):
    """The login's "moved" marker for the id it replaced is in the old store: a tab still sending
    that id after the switch is told so (409), not given a new session over the login's cookie."""
    before = start_shop(tmp_path, free_port(), places[old])
    shopper = Shopper(before.url)
    assert shopper.post("/cart/add", product_id=PRODUCT, quantity="1").status == 200
    other_tab = shopper.copy_at(before.url)
    username = f"switcher-{secrets.token_hex(4)}"
    assert shopper.post("/register", username=username, password=PASSWORD,
                        confirm_password=PASSWORD).current_user == username
    assert before.stop() == 0
    prefix = {key: value for key, value in places[old].environ.items() if key == "SESSION_REDIS_PREFIX"}
    after = start_shop(tmp_path, free_port(), places[new], SESSION_MIGRATE_FROM=places[old].migrate_from, **prefix)
    try:
        assert other_tab.at(after.url).post_without_redirect("/cart/add", product_id=PRODUCT,
                                                             quantity="1").status == 409
        page = shopper.at(after.url).get("/cart")
        assert page.current_user == username and page.cart_lines == {PRODUCT: 1}
    finally:
        after.kill9()
