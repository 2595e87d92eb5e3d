"""How often a request reads the session store: a GET reads one snapshot (and, logged in, the
account's record, which holds the cart), a cart change reads the session once (under its lock), a
health check not at all. Counted by a wrapper around the app's
real store that records each call and passes it on."""

import contextlib

import pytest


class RecordingStore:
    """The real store, with a list of the calls made to it (by name)."""

    def __init__(self, store) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, name):
        return getattr(self.store, name)

    async def load(self, session_id, *, extend_ttl=None):
        self.calls.append("load")
        return await self.store.load(session_id, extend_ttl=extend_ttl)

    async def save(self, session_id, data, ttl):
        self.calls.append("save")
        await self.store.save(session_id, data, ttl)

    @contextlib.asynccontextmanager
    async def locked(self, session_id):
        self.calls.append("locked")
        async with self.store.locked(session_id) as held:
            yield held


@pytest.fixture
def recording(app):
    store = RecordingStore(app.session_store)
    app.sessions.store = store
    return store


@pytest.mark.gen_test
async def test_a_cart_change_reads_the_session_once_under_its_lock(client, product_ids, recording):
    await client.add(product_ids[0], 1)
    recording.calls.clear()
    response = await client.add(product_ids[0], 2)
    assert response.code == 303
    assert recording.calls == ["locked"]
    assert await client.cart_quantities() == {product_ids[0]: 3}


@pytest.mark.gen_test
async def test_a_refused_cart_change_still_reads_the_session_once(client, product_ids, recording):
    await client.add(product_ids[0], 1)
    recording.calls.clear()
    response = await client.add(product_ids[0], "abc")
    assert response.code == 400
    assert client.page_of(response).text("cart-count") == "1"
    assert recording.calls == ["locked"]


@pytest.mark.gen_test
async def test_an_anonymous_page_reads_one_snapshot(client, product_ids, recording):
    await client.add(product_ids[0], 2)
    for path in ("/", "/cart", f"/product/{product_ids[0]}", "/api/cart", "/nope"):
        recording.calls.clear()
        response = await client.get(path)
        assert response.code in (200, 404), path
        assert recording.calls == ["load"], path


@pytest.mark.gen_test
async def test_a_logged_in_cart_change_locks_the_session_and_then_the_account_record_never_both(
        client, auth, product_ids, recording):
    await auth.login()
    recording.calls.clear()
    assert (await client.add(product_ids[0], 2)).code == 303
    assert recording.calls == ["locked", "locked"]
    assert await client.cart_quantities() == {product_ids[0]: 2}


@pytest.mark.gen_test
async def test_a_page_reads_one_snapshot(client, auth, product_ids, recording):
    await auth.login()
    await client.add(product_ids[0], 2)
    for path in ("/", "/cart", f"/product/{product_ids[0]}", "/checkout", "/orders", "/api/cart", "/nope"):
        recording.calls.clear()
        response = await client.get(path)
        assert response.code in (200, 404), path
        assert recording.calls == ["load", "load"], path  # the session, then the account's record


@pytest.mark.gen_test
async def test_an_error_page_of_a_get_shows_the_person(client, auth, product_ids):
    await auth.login()
    await client.add(product_ids[0], 2)
    for path in ("/product/no-such-thing", "/?category=no-such-thing", "/nope", "/orders/999999"):
        response = await client.get(path)
        assert response.code == 404, path
        page = client.page_of(response)
        assert page.text("cart-count") == "2", path
        assert page.text("current-user") == "demo", path


@pytest.mark.gen_test
async def test_healthz_reads_no_session(client, auth, recording):
    await auth.login()
    recording.calls.clear()
    assert (await client.get("/healthz")).code == 200
    assert recording.calls == []
