"""A login stored in the shape from before the owner index (issue 16) keeps its login on every
backend: the shop's upgrade step (handlers/session_shapes.py) gives it its account as its owner as
it is read, so it counts as logged in, is listed on /account, and can log out; one that still holds
its own cart keeps the cart, merged into the account's at the next login. A session of a newer
release keeps the keys and the number this one does not know through a change and a login. (Issue 23.)

The sessions are written straight into the store as those releases wrote them: before b55bf47 a
session was its data alone; from b55bf47 to bb2243b the manager kept metadata beside it, without
an owner (the shop did not set one yet)."""
import time

import pytest
from tornado.web import create_signed_value

from sessions import new_session_id
from sessions.manager import META_KEY
from sessions.shapes import SHAPE_FIELD
from tests.conftest import DEMO_PASSWORD
from tests.integration.test_account import handles

BEFORE_METADATA = "before metadata"
METADATA_WITHOUT_OWNER = "metadata without an owner"


async def plant_old_login(app, client, shape: str, **data) -> str:
    """A logged-in session of demo's, stored as the release before owners stored it, and its
    cookie in client; returns its id."""
    user = app.users.authenticate("demo", DEMO_PASSWORD)
    data = {"user": {"id": user.id, "username": user.username}, "guest_orders": [], **data}
    if shape == METADATA_WITHOUT_OWNER:
        now = time.time() - 600
        data[META_KEY] = {"created": now, "seen": now, "agent": "OldBrowser/1.0", "address": "192.0.2.1"}
    session_id = new_session_id()
    await app.session_store.save(session_id, data, 600)
    name = app.sessions.cookie_name
    client.cookies[name] = create_signed_value(app.config.cookie_secret, name, session_id).decode()
    return session_id


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("shape", [BEFORE_METADATA, METADATA_WITHOUT_OWNER])
async def test_a_login_from_before_the_owner_index_stays_logged_in_and_is_listed(app, client, shape):
    session_id = await plant_old_login(app, client, shape)
    page = await client.page("/")
    assert page.current_user == "demo", "the upgrade did not keep the login"

    # Written back at once, in this release's shape, with the account as owner; nothing lost.
    stored = await app.session_store.load(session_id)
    owner = str(stored["user"]["id"])
    assert stored[META_KEY]["owner"] == owner and stored[META_KEY][SHAPE_FIELD] == app.sessions.shapes.version
    assert stored["guest_orders"] == []
    if shape == METADATA_WITHOUT_OWNER:
        assert stored[META_KEY]["created"] < time.time() - 500  # kept as it was

    account = await client.page("/account")
    assert account.current_user == "demo"
    assert len(handles(account)) == 1
    assert account.first("session-row")["attrs"].get("data-current") == "true"
    assert [info.session_id for info in await app.sessions.owner_sessions(owner)] == [session_id]

    response = await client.post("/logout")
    assert response.code == 303
    assert (await client.page("/")).current_user is None
    assert await app.session_store.load(session_id) is None
    assert await app.sessions.owner_sessions(owner) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_login_of_another_account_than_its_owner_stays_logged_out(app, client):
    # Owned already (by account 999), so the step leaves it: a user its owner does not match
    # counts as logged out, as before.
    session_id = await plant_old_login(app, client, METADATA_WITHOUT_OWNER)
    stored = await app.session_store.load(session_id)
    stored[META_KEY].update(owner="999", owned_since=time.time())
    await app.session_store.save(session_id, stored, 600)
    assert (await client.page("/")).current_user is None
    assert (await app.session_store.load(session_id))[META_KEY]["owner"] == "999"


@pytest.mark.gen_test(timeout=60)
async def test_a_login_from_before_issue_16_with_its_own_cart_keeps_the_cart_and_logs_in_again(app, client, product_ids):
    # Before issue 16 a logged-in person's cart was in the session. Logged in now, it would hide
    # behind the account's cart; so it stays logged out, its cart shown, merged at the login.
    await plant_old_login(app, client, BEFORE_METADATA, cart={product_ids[0]: 2})
    page = await client.page("/cart")
    assert page.current_user is None
    assert page.cart_lines == {product_ids[0]: 2}
    response = await client.post("/login", {"username": "demo", "password": DEMO_PASSWORD})
    assert response.code == 303
    assert await client.cart_quantities() == {product_ids[0]: 2}
    assert (await client.page("/")).current_user == "demo"


@pytest.mark.gen_test(timeout=60)
async def test_a_session_of_a_newer_release_keeps_what_this_one_does_not_know_through_a_change_and_a_login(
        app, client, product_ids):
    # As a later release might write it: a higher shape, a key in the data and one in the metadata
    # that this release has never heard of.
    session_id = new_session_id()
    now = time.time()
    await app.session_store.save(session_id, {
        "cart": {product_ids[0]: 1}, "wishlist": [product_ids[1]],
        META_KEY: {SHAPE_FIELD: 9, "created": now, "seen": now, "agent": "", "address": "", "theme": "dark"},
    }, 600)
    name = app.sessions.cookie_name
    client.cookies[name] = create_signed_value(app.config.cookie_secret, name, session_id).decode()
    assert (await client.add(product_ids[0], 1)).code == 303
    stored = await app.session_store.load(session_id)
    assert stored["cart"] == {product_ids[0]: 2} and stored["wishlist"] == [product_ids[1]]
    assert stored[META_KEY][SHAPE_FIELD] == 9 and stored[META_KEY]["theme"] == "dark"

    response = await client.post("/login", {"username": "demo", "password": DEMO_PASSWORD})
    assert response.code == 303
    [info] = await app.sessions.owner_sessions(str(app.users.authenticate("demo", DEMO_PASSWORD).id))
    stored = await app.session_store.load(info.session_id)
    assert stored["wishlist"] == [product_ids[1]]
    assert stored[META_KEY][SHAPE_FIELD] == 9 and stored[META_KEY]["theme"] == "dark"
    assert await client.cart_quantities() == {product_ids[0]: 2}  # merged into the account's at the login
