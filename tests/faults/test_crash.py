"""kill -9 of `python app.py` while 8 shoppers add to their carts: every add that was answered 2xx/3xx
before the kill is in the cart after the restart."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.kit import Browser, assert_no_tracebacks

SHOPPERS = 8
LOAD_SECONDS = 3
REPO = Path(__file__).resolve().parents[2]


def durable_backends() -> list[str]:
    """The stores that promise to keep sessions across a crash of the shop."""
    return ["file", "redis"] if (REPO / "sessions" / "redis.py").exists() else ["file"]


@pytest.mark.parametrize("backend", durable_backends())
def test_every_acknowledged_add_survives_kill_9_under_load(start_app, backend, tmp_path):
    environ = {}
    if backend == "redis":
        from tests.servers import RedisServer

        redis = RedisServer(tmp_path / "redis", persistent=True).start()
        environ["REDIS_URL"] = redis.url
    # A high per-address limit: eight shoppers from one address is this test's load, not a flood.
    try:
        _kill_9_under_load(start_app(backend, SESSIONS_PER_MINUTE="100000", **environ))
    finally:
        if backend == "redis":
            redis.stop()


def _kill_9_under_load(app) -> None:
    products = ["stoneware-mug", "chefs-knife", "wooden-spoon-set", "cast-iron-teapot", "oak-cutting-board",
                "french-press", "linen-tea-towel", "fountain-pen"]
    shoppers = [Browser(app.url) for _ in range(SHOPPERS)]
    for shopper in shoppers:
        assert shopper.post("/cart/add", product_id=products[0]).status == 303  # the session exists
    acknowledged = [Counter({products[0]: 1}) for _ in shoppers]
    failures: list[str] = []
    stop = threading.Event()

    def add_until_stopped(index: int) -> None:
        shopper = shoppers[index]
        number = 0
        while not stop.is_set():
            product = products[number % len(products)]
            number += 1
            if acknowledged[index][product] >= 90:
                continue  # a line holds at most 99
            try:
                page = shopper.post("/cart/add", product_id=product)
            except OSError:
                return  # the process is gone: this add was never answered
            if 200 <= page.status < 400:
                acknowledged[index][product] += 1
            else:
                failures.append(f"shopper {index}: {page.status}")

    threads = [threading.Thread(target=add_until_stopped, args=(i,)) for i in range(SHOPPERS)]
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS)
    app.kill9()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not failures, failures
    assert sum(sum(counts.values()) for counts in acknowledged) > SHOPPERS, "no load reached the shop"

    app.start()
    for index, shopper in enumerate(shoppers):
        cart = shopper.cart()
        for product, count in acknowledged[index].items():
            # An add answered after it was stored, but whose answer the kill cut off, may add one more.
            assert count <= cart.get(product, 0) <= count + 1, (index, product, count, cart)
        shopper.no_500()
    assert_no_tracebacks(app)
