"""A full Redis (at `maxmemory`, `noeviction`: every write refused with OOM) under a real `python
app.py`: /healthz says "full", changes answer 503 saying the shop is busy (not that the session
cannot be reached), logout still works, nobody gets a 5xx but that 503, a bystander browsing sees no
error; once the limit is lifted everything carries on. And the receipts that let a retry confirm a
write cost no keys of their own."""

from __future__ import annotations

import json
import threading

import pytest

from tests.faults.kit import Browser, assert_no_tracebacks
from tests.servers import RedisServer

redis = pytest.importorskip("redis")


@pytest.fixture
def full_redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def fill(client) -> None:
    """Put a megabyte in Redis, then set its maxmemory a quarter of a megabyte below what it holds
    (noeviction): every write that needs memory is refused, however its buffers move meanwhile."""
    for number in range(256):
        client.set(f"filler:{number}", "x" * 4096)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", client.info("memory")["used_memory"] - 256 * 1024)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.set("probe", "x")


def health(browser: Browser) -> dict:
    page = browser.get("/healthz")
    assert page.status == 200, page.status
    return json.loads(page.html)


def test_a_full_redis_is_reported_full_logout_works_and_it_carries_on_when_lifted(start_app, full_redis):
    prefix = "shop:session:"
    app = start_app("redis", REDIS_URL=full_redis.url, SESSION_REDIS_PREFIX=prefix, SESSION_REDIS_TIMEOUT="1")
    client = redis.Redis(port=full_redis.port)
    leaving, staying = Browser(app.url), Browser(app.url)
    assert leaving.login().status == 303
    assert staying.post("/register", username="staying", password="quiet-harbour-lantern-42").status == 303
    for person in (leaving, staying):
        assert person.post("/cart/add", product_id="stoneware-mug").status == 303

    # Receipts live inside the session they protect: twenty changes leave no key behind.
    keys_before = client.dbsize()
    bytes_before = client.info("memory")["used_memory"]
    for _ in range(20):
        assert staying.post("/cart/add", product_id="chefs-knife").status == 303
    assert client.dbsize() == keys_before, client.keys("*")
    print(f"20 changes: {client.dbsize() - keys_before} keys, "
          f"{client.info('memory')['used_memory'] - bytes_before} bytes more")

    browsing = threading.Event()
    bystander = Browser(app.url)

    def browse() -> None:
        while not browsing.is_set():
            for path in ("/", "/product/cast-iron-teapot", "/?q=mug"):
                bystander.get(path)

    walker = threading.Thread(target=browse)
    walker.start()
    try:
        fill(client)
        assert health(staying)["session_store"] == "full"
        refused = staying.post("/cart/add", product_id="chefs-knife")
        assert refused.status == 503 and refused.headers.get("Retry-After"), refused.status
        assert "busy" in refused.flash and "cannot reach" not in refused.flash, refused.flash
        newcomer = Browser(app.url)
        first_visit = newcomer.post("/cart/add", product_id="chefs-knife")
        assert first_visit.status == 503 and "busy" in first_visit.flash, first_visit.flash
        # Reading works: the cart is shown as it is.
        assert staying.cart() == {"stoneware-mug": 1, "chefs-knife": 20}

        # Logout works on a full Redis: the session is gone, on the server too.
        sessions_before = set(client.keys(f"{prefix}*"))
        bye = leaving.post("/logout")
        assert bye.status == 303, (bye.status, bye.flash)
        assert leaving.get("/").current_user is None
        assert len(sessions_before - set(client.keys(f"{prefix}*"))) == 1
        assert client.dbsize() >= keys_before  # the fillers are still there: still full
    finally:
        browsing.set()
        walker.join()

    client.config_set("maxmemory", 0)
    assert health(staying)["session_store"] == "ok"
    assert staying.post("/cart/add", product_id="chefs-knife").status == 303
    assert staying.cart() == {"stoneware-mug": 1, "chefs-knife": 21}
    assert leaving.login().status == 303
    assert leaving.get("/").current_user == "demo"
    assert set(bystander.statuses) == {200}, sorted(set(bystander.statuses))
    for person in (leaving, staying, newcomer):
        person.no_500()
    assert_no_tracebacks(app)
