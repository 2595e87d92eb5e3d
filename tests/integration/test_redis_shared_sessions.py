"""Real `python app.py` processes on one real redis-server (SESSION_BACKEND=redis), as replicas behind
a load balancer run, in what only Redis brings: a process killed while holding a session's lock
blocks it for at most the lease, and a Redis that goes away answers 503 (nothing changed) until it
is back, with no restart. What every shared store does (one session on every process, no lost
update, a logout everywhere) is tests/integration/test_shared_sessions.py, on Redis too."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis
import tornado.web

from tests.integration.test_shared_sessions import log_in_as_demo_with_one_product
from tests.servers import RedisServer
from tests.shop_process import REPO_ROOT, Shopper

pytestmark = pytest.mark.timeout(180)

UNAVAILABLE = "We cannot reach your shopping session right now. Nothing was changed"
LEASE = 10  # RedisStore's default lock lease, which the shop uses


@pytest.fixture
def prefix():
    return f"test:{secrets.token_hex(6)}:"


@pytest.fixture
def two_shops(start_app, redis_server, prefix, tmp_path):
    """Processes A and B on one Redis and one DATA_DIR (for the database and the cookie secret)."""
    data_dir = tmp_path / "shared-data"
    environ = {"REDIS_URL": redis_server.url, "SESSION_REDIS_PREFIX": prefix}
    return start_app("redis", data_dir, **environ), start_app("redis", data_dir, **environ)


def session_id_of(shopper: Shopper, data_dir) -> str:
    secret = (data_dir / "cookie_secret").read_text().strip()
    cookie = next(cookie.value for cookie in shopper.jar if cookie.name == "session")
    return tornado.web.decode_signed_value(secret, "session", cookie.strip('"'), max_age_days=400).decode()


def post_answer(shopper: Shopper, path: str, **fields: str) -> tuple[int, dict[str, str], str]:
    """One form post as answered, with its headers: (status, headers, body)."""
    request = shopper._form(path, fields)
    shopper.jar.add_cookie_header(request)
    try:
        with shopper._unredirected.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def healthz(url: str) -> dict:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_a_process_killed_while_holding_the_lock_blocks_the_session_for_at_most_the_lease(
        two_shops, redis_server, prefix, tmp_path):
    a, b = two_shops
    on_a = Shopper(a.url)
    product_id = log_in_as_demo_with_one_product(on_a)
    session_id = session_id_of(on_a, tmp_path / "shared-data")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, redis_server.url, prefix, session_id],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held", "the holding process did not take the lock"
        holder.kill()  # SIGKILL: it never releases
        holder.wait()
        remaining = redis.Redis.from_url(redis_server.url).pttl(prefix + "lock:" + session_id) / 1000
        assert 0 < remaining <= LEASE, f"the lock's lease is {remaining}s"

        started = time.monotonic()
        status, _, _ = post_answer(on_a.at(b.url), "/cart/add", product_id=product_id, quantity="1")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert status == 303, f"the add after the holder's death answered {status}"
    assert remaining - 1 < waited < LEASE + 5, f"waited {waited:.1f}s for a lease with {remaining:.1f}s left"
    assert on_a.get("/cart").cart_lines == {product_id: 2}


HOLD_THE_LOCK = """
import asyncio, sys
from sessions.redis import RedisStore

async def hold(url, prefix, session_id):
    held = RedisStore(url, prefix=prefix).locked(session_id)  # kept: a lost one would release
    await held.__aenter__()
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(hold(*sys.argv[1:]))
"""


def test_redis_stopped_mid_session_answers_503_changes_nothing_and_carries_on_when_back(start_app, tmp_path):
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    try:
        shop = start_app("redis", REDIS_URL=server.url, SESSION_RETRIES="2", SESSION_REDIS_TIMEOUT="0.5")
        shopper = Shopper(shop.url)
        product_id = log_in_as_demo_with_one_product(shopper)

        server.stop()
        status, headers, body = post_answer(shopper, "/cart/add", product_id=product_id, quantity="1")
        assert status == 503, f"an add with Redis down answered {status}"
        assert UNAVAILABLE in body
        assert headers.get("Retry-After"), "a 503 without Retry-After"
        assert healthz(shop.url)["session_store"] == "unavailable"

        server.start()
        assert healthz(shop.url)["session_store"] == "ok"
        cart = shopper.get("/cart")
        assert cart.cart_lines == {product_id: 1}, "the failed add changed the cart, or the cart was lost"
        assert "demo" in (cart.current_user or "")
        assert post_answer(shopper, "/cart/add", product_id=product_id, quantity="1")[0] == 303
        assert shopper.get("/cart").cart_lines == {product_id: 2}
    finally:
        server.stop()


def test_the_shop_starts_before_redis_and_serves_sessions_once_it_is_there(start_app, tmp_path):
    server = RedisServer(tmp_path / "redis-late")
    shop = start_app("redis", REDIS_URL=server.url, SESSION_RETRIES="1", SESSION_REDIS_TIMEOUT="0.5")
    try:
        assert healthz(shop.url)["session_store"] == "unavailable"
        shopper = Shopper(shop.url)
        assert shopper.get("/").status == 200, "the catalog needs no session"
        assert shopper.post("/login", username="demo", password="demo1234").status == 503
        server.start()
        assert healthz(shop.url)["session_store"] == "ok"
        log_in_as_demo_with_one_product(shopper)
    finally:
        server.stop()
    assert "unavailable at start" in shop.output()
