"""SessionManager over every store, through a real Tornado application that knows nothing of the shop:
cookies, lazy creation, ids never adopted, rolling ttl, regeneration, logout, and no lost updates."""
import asyncio
import email.utils
import json
import time
from http.cookies import SimpleCookie

import pytest
import tornado.web

from sessions import LockedSession, SessionEvents, SessionManager, SessionMoved, new_session_id

SECRET = "test-secret-" + "x" * 32


class Handler(tornado.web.RequestHandler):
    async def prepare(self):
        self.manager = self.settings["manager"]
        self.session = await self.manager.load(self)

    def check_xsrf_cookie(self):
        pass


class Read(Handler):
    def get(self):
        self.write({"id": self.session.id, "data": dict(self.session)})


class Increment(Handler):
    async def post(self):
        try:
            async with self.manager.transaction(self) as session:
                value = session.get("n", 0)
                await asyncio.sleep(0.001)  # give a concurrent request every chance to interleave
                session["n"] = value + 1
        except SessionMoved:
            raise tornado.web.HTTPError(409) from None
        self.write({"n": session["n"]})


class Login(Handler):
    async def post(self):
        async with self.manager.transaction(self) as session:
            session["user"] = "demo"
            session.regenerate_id()


class Logout(Handler):
    async def post(self):
        async with self.manager.transaction(self) as session:
            session.end()


class Fail(Handler):
    async def post(self):
        async with self.manager.transaction(self) as session:
            session["half-done"] = True
            raise tornado.web.HTTPError(400)


class SlowIncrement(Handler):
    """Reads its snapshot in prepare(), then is slow before it writes: a logout may happen meanwhile."""

    async def post(self):
        await asyncio.sleep(0.5)
        async with self.manager.transaction(self) as session:
            session["n"] = session.get("n", 0) + 1


def make_test_app(manager):
    return tornado.web.Application(
        [("/read", Read), ("/incr", Increment), ("/login", Login), ("/logout", Logout),
         ("/fail", Fail), ("/slow-incr", SlowIncrement)],
        cookie_secret=SECRET, manager=manager)


@pytest.fixture
def ttl():
    return 60


@pytest.fixture
def session_store(store):
    return store


@pytest.fixture
def manager(session_store, ttl):
    return SessionManager(session_store, ttl=ttl)


@pytest.fixture
def app(manager):
    return make_test_app(manager)


class Browser:
    """Keeps the session cookie the way a browser does."""

    def __init__(self, http_client, base_url):
        self.http_client, self.base_url, self.cookies = http_client, base_url, {}

    async def request(self, path, method="GET"):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        response = await self.http_client.fetch(self.base_url + path, method=method, headers=headers,
                                                body=b"" if method == "POST" else None,
                                                follow_redirects=False, raise_error=False)
        for header in response.headers.get_list("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or (morsel["expires"] and
                                                 email.utils.parsedate_to_datetime(morsel["expires"]).timestamp() < time.time()):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    async def read(self):
        return json.loads((await self.request("/read")).body)


@pytest.fixture
def browser(app, http_client, base_url):
    return Browser(http_client, base_url)


@pytest.mark.gen_test
async def test_reading_without_a_cookie_stores_nothing_and_sets_no_cookie(browser, session_store):
    response = await browser.request("/read")
    assert response.code == 200
    assert "session" not in browser.cookies
    assert (await session_store.stats()).sessions == 0


@pytest.mark.gen_test
async def test_first_write_creates_the_session_with_a_safe_cookie(browser, session_store):
    response = await browser.request("/incr", "POST")
    header = next(h for h in response.headers.get_list("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    assert (await browser.read())["data"] == {"n": 1}
    assert (await session_store.stats()).sessions == 1


@pytest.mark.gen_test
async def test_secure_cookie_when_configured(app, http_client, base_url, manager):
    manager.secure = True
    response = await Browser(http_client, base_url).request("/incr", "POST")
    assert "Secure" in next(h for h in response.headers.get_list("Set-Cookie") if h.startswith("session="))


@pytest.mark.gen_test
async def test_unchanged_session_is_not_saved_again(browser, session_store, monkeypatch):
    await browser.request("/incr", "POST")
    session_id = (await browser.read())["id"]
    saves = []  # a spy: every write still happens, and is counted
    real_save, real_held_save = session_store.save, LockedSession.save

    async def counting_save(self_id, *args, **kwargs):
        saves.append(self_id)
        return await real_save(self_id, *args, **kwargs)

    def counting_held_save(held, *args, **kwargs):
        saves.append(held.session_id)
        return real_held_save(held, *args, **kwargs)

    monkeypatch.setattr(session_store, "save", counting_save)
    monkeypatch.setattr(LockedSession, "save", counting_held_save)
    await browser.read()
    await browser.request("/fail", "POST")
    assert saves == []
    await browser.request("/incr", "POST")
    assert saves == [session_id]


@pytest.mark.gen_test
@pytest.mark.parametrize("forged", [
    "not-signed-" + "a" * 32,  # an id without a signature
    "2|1:0|10:1700000000|7:session|8:Zm9vYmFy|" + "0" * 64,  # a signature that does not match
    "",
])
async def test_forged_cookie_is_never_adopted(browser, forged, session_store):
    browser.cookies["session"] = forged
    assert (await browser.read())["id"] is None
    await browser.request("/incr", "POST")
    assert browser.cookies["session"] != forged
    assert (await browser.read())["data"] == {"n": 1}


@pytest.mark.gen_test
async def test_signed_but_unknown_id_is_never_adopted(browser, app, session_store):
    planted = new_session_id()
    browser.cookies["session"] = tornado.web.create_signed_value(SECRET, "session", planted).decode()
    assert (await browser.read())["id"] is None
    await browser.request("/incr", "POST")
    assert (await browser.read())["id"] not in (None, planted)
    assert await session_store.load(planted) is None


@pytest.mark.gen_test
async def test_signed_but_malformed_id_is_never_adopted(browser, session_store):
    browser.cookies["session"] = tornado.web.create_signed_value(SECRET, "session", "../../etc/passwd").decode()
    assert (await browser.read())["id"] is None
    response = await browser.request("/incr", "POST")
    assert response.code == 200
    assert (await browser.read())["data"] == {"n": 1}


@pytest.mark.gen_test
async def test_fifty_concurrent_changes_of_one_session_all_take_effect(browser):
    await browser.request("/incr", "POST")
    responses = await asyncio.gather(*(browser.request("/incr", "POST") for _ in range(50)))
    assert all(r.code == 200 for r in responses)
    assert (await browser.read())["data"] == {"n": 51}


@pytest.mark.gen_test
async def test_login_regenerates_the_id_and_keeps_the_data(browser, session_store):
    await browser.request("/incr", "POST")
    old_id = (await browser.read())["id"]
    old_cookie = browser.cookies["session"]
    await browser.request("/login", "POST")
    state = await browser.read()
    assert state["id"] not in (None, old_id)
    assert state["data"] == {"n": 1, "user": "demo"}
    assert await session_store.load(old_id) is None
    browser.cookies["session"] = old_cookie  # an attacker who fixed the old id gets nothing
    assert (await browser.read())["id"] is None


@pytest.mark.gen_test
async def test_logout_destroys_the_session_and_clears_the_cookie(browser, session_store):
    await browser.request("/login", "POST")
    session_id = (await browser.read())["id"]
    await browser.request("/logout", "POST")
    assert "session" not in browser.cookies
    assert await session_store.load(session_id) is None
    assert (await session_store.stats()).sessions == 0


@pytest.mark.gen_test
async def test_logout_is_not_undone_by_a_slower_request_that_saves_after_it(browser, session_store):
    await browser.request("/login", "POST")
    session_id = (await browser.read())["id"]
    slow = asyncio.ensure_future(browser.request("/slow-incr", "POST"))
    await asyncio.sleep(0.1)  # the slow request has read its snapshot and is busy
    await browser.request("/logout", "POST")
    await slow
    assert await session_store.load(session_id) is None
    state = await browser.read()
    assert "user" not in state["data"]


@pytest.mark.gen_test
async def test_a_failed_request_changes_nothing(browser):
    await browser.request("/incr", "POST")
    response = await browser.request("/fail", "POST")
    assert response.code == 400
    assert (await browser.read())["data"] == {"n": 1}


@pytest.mark.gen_test
async def test_a_failed_first_request_stores_nothing(browser, session_store):
    await browser.request("/fail", "POST")
    assert "session" not in browser.cookies
    assert (await session_store.stats()).sessions == 0


@pytest.mark.gen_test(timeout=15)
@pytest.mark.parametrize("ttl", [2])
async def test_ttl_rolls_with_every_request_and_ends_after_idleness(browser, ttl):
    await browser.request("/incr", "POST")
    for _ in range(4):  # 4 s of activity, twice the ttl
        await asyncio.sleep(1)
        assert (await browser.read())["data"] == {"n": 1}
    await asyncio.sleep(2.3)
    assert (await browser.read())["id"] is None


@pytest.mark.gen_test
async def test_sweeper_removes_expired_sessions(session_store, manager):
    await session_store.save(new_session_id(), {"n": 1}, 1)
    await session_store.save(new_session_id(), {"n": 2}, 60)
    await asyncio.sleep(1.2)
    sweeper = manager.start_sweeper(0.2)
    try:
        for _ in range(50):
            if (await session_store.stats()).expired == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await sweeper.stop()
    stats = await session_store.stats()
    assert (stats.sessions, stats.expired) == (1, 0)


def sets_session_cookie(response):
    return any(h.startswith("session=") for h in response.headers.get_list("Set-Cookie"))


@pytest.mark.gen_test
async def test_reads_never_send_the_cookie_and_it_outlives_the_ttl(browser):
    response = await browser.request("/incr", "POST")
    header = next(h for h in response.headers.get_list("Set-Cookie") if h.startswith("session="))
    assert f"Max-Age={400 * 86400}" in header  # the store's ttl decides; the cookie only points
    assert not sets_session_cookie(await browser.request("/read"))
    assert not sets_session_cookie(await browser.request("/read"))


@pytest.mark.gen_test
async def test_an_unknown_id_on_a_read_leaves_the_cookie_alone(browser):
    browser.cookies["session"] = tornado.web.create_signed_value(SECRET, "session", new_session_id()).decode()
    response = await browser.request("/read")
    assert json.loads(response.body)["id"] is None
    assert not response.headers.get_list("Set-Cookie")


@pytest.mark.gen_test
async def test_a_change_still_carrying_the_old_id_after_a_login_is_refused_and_the_login_stays(browser):
    await browser.request("/incr", "POST")
    before_login = dict(browser.cookies)
    await browser.request("/login", "POST")
    logged_in = dict(browser.cookies)
    # Another tab's request, sent before the login answered, arrives after it.
    stale = Browser(browser.http_client, browser.base_url)
    stale.cookies = dict(before_login)
    response = await stale.request("/incr", "POST")
    assert response.code == 409
    assert not sets_session_cookie(response)  # the browser keeps the login's cookie
    browser.cookies = logged_in
    assert (await browser.read())["data"] == {"n": 1, "user": "demo"}


@pytest.mark.gen_test
async def test_an_expired_or_unknown_id_still_gets_a_fresh_session_on_a_change(browser, session_store):
    planted = new_session_id()
    browser.cookies["session"] = tornado.web.create_signed_value(SECRET, "session", planted).decode()
    response = await browser.request("/incr", "POST")
    assert response.code == 200 and sets_session_cookie(response)
    assert (await browser.read())["data"] == {"n": 1}


class RecordedEvents(SessionEvents):
    """What a SessionEvents observer is told, kept for the test to read."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str, str]] = []
        self.lock_waits: list[float] = []
        self.sessions: dict[str, int] = {}

    def store_call(self, backend, operation, seconds):
        assert seconds >= 0
        self.calls.append((backend, operation))

    def store_failure(self, backend, operation, kind):
        self.failures.append((backend, operation, kind))

    def lock_wait(self, backend, seconds):
        self.lock_waits.append(seconds)

    def session(self, event, count=1):
        self.sessions[event] = self.sessions.get(event, 0) + count


@pytest.mark.gen_test
async def test_the_events_observer_is_told_of_calls_lock_waits_and_the_life_of_sessions(browser, manager,
                                                                                       session_store):
    events = manager.events = RecordedEvents()
    await browser.request("/incr", "POST")  # created: a save of a new id
    await browser.request("/incr", "POST")  # a change under the lock
    await browser.read()
    await browser.request("/login", "POST")
    kept_cookie = browser.cookies["session"]
    await browser.request("/logout", "POST")
    browser.cookies["session"] = kept_cookie
    assert (await browser.read())["id"] is None  # the session ended: its cookie names nothing now
    backend = session_store.name
    assert events.sessions == {"created": 1, "regenerated": 1, "ended": 1, "expired": 1}
    assert events.calls.count((backend, "read")) >= 3
    assert events.calls.count((backend, "change")) >= 4
    assert len(events.lock_waits) == 3  # the second add, the login, the logout
    assert events.failures == []
