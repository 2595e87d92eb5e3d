"""Redis answering slowly: a proxy the test runs between a real `python app.py` and a real Redis holds
the replies to writes (the store's save-and-release script) back by up to 1 s, around
SESSION_REDIS_TIMEOUT (0.25 s), so many a write is made and its answer comes too late. A shopper retries each add on 503 with the same one-time key, as the
form (and cart.js) does: every add ends up in the cart exactly once, and a 503 that cannot know
whether its write was made says so rather than "nothing was changed"."""

from __future__ import annotations

import random
import secrets
import socket
import threading
import time

from tests.faults.kit import Browser, assert_no_tracebacks
from tests.shop_process import free_port

ADDS = 15
PRODUCT = "stoneware-mug"


class DelayingProxy:
    """127.0.0.1:port -> target; the reply to a request that contains `marker` is held back a
    random time up to max_delay seconds, everything else goes through at once. (One command at a
    time on each connection, as the Redis client sends them.)"""

    def __init__(self, target_port: int, marker: bytes) -> None:
        self.target_port = target_port
        self.marker = marker
        self.max_delay = 0.0
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            marked = threading.Event()  # the request now waiting for its reply carries the marker
            threading.Thread(target=self._pipe, args=(client, server, marked, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, marked, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, marked: threading.Event, replies: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if not replies:
                    if self.marker in chunk:
                        marked.set()
                elif marked.is_set():
                    marked.clear()
                    if self.max_delay:
                        time.sleep(random.uniform(0, self.max_delay))
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()


def test_adds_retried_with_their_key_through_a_slow_redis_are_each_applied_once(start_app, redis_server):
    proxy = DelayingProxy(redis_server.port, b"save")  # the release script's action: a change
    try:
        app = start_app("redis", REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0", SESSION_REDIS_TIMEOUT="0.25",
                        SESSION_REDIS_PREFIX=f"slow:{secrets.token_hex(4)}:", WORKERS="1",
                        SESSION_RETRIES="1")
        shopper, bystander = Browser(app.url), Browser(app.url)
        assert shopper.post("/cart/add", product_id="chefs-knife").status == 303  # the session exists
        keys = [secrets.token_urlsafe(16) for _ in range(ADDS)]
        acknowledged: set[str] = set()
        unconfirmed = 0

        for key in keys:
            proxy.max_delay = 1.0
            for _ in range(3):  # a person pressing again after a 503, with the same form
                page = shopper.post("/cart/add", product_id=PRODUCT, idempotency_key=key)
                assert page.status in (303, 503), page.status
                assert bystander.get("/").status == 200
                if page.status == 303:
                    acknowledged.add(key)
                    break
                assert page.headers.get("Retry-After") and page.flash, page.html[:300]
                unconfirmed += "could not confirm" in page.flash
            if key not in acknowledged:
                # Redis fast again for a moment: the same form once more is answered, not applied twice.
                proxy.max_delay = 0.0
                assert shopper.post("/cart/add", product_id=PRODUCT, idempotency_key=key).status == 303
        assert unconfirmed, "no 503 said it could not confirm its write: the proxy slowed nothing down"
        proxy.max_delay = 0.0
        assert shopper.cart() == {"chefs-knife": 1, PRODUCT: ADDS}
        shopper.no_500()
        bystander.no_500()
        assert_no_tracebacks(app)
    finally:
        proxy.close()
