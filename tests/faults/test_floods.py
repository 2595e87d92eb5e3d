"""Floods and slow clients against a real `python app.py`: cookie-less adds against a small memory
store, password guessing, half-sent requests, huge bodies, more connections than the cap."""

from __future__ import annotations

import socket
import time

from tests.faults.kit import Browser, assert_no_tracebacks

PROXY = {"TRUSTED_PROXIES": "127.0.0.1"}  # the tests' requests come "through a proxy" at 127.0.0.1


def test_a_flood_of_cookieless_adds_does_not_evict_the_logged_in_shopper(start_app):
    app = start_app("memory", SESSION_MAX_MEMORY_SESSIONS="50", **PROXY)
    shopper = Browser(app.url, "192.0.2.7")
    assert shopper.login().status == 303
    assert shopper.post("/cart/add", product_id="stoneware-mug", quantity="3").status == 303
    flood_statuses = []
    for number in range(200):
        # Each from an address of its own, as a botnet would: no per-address limit applies.
        flooder = Browser(app.url, f"10.9.{number // 200}.{number % 200 + 1}")
        flood_statuses.append(flooder.post("/cart/add", product_id="chefs-knife").status)
    assert set(flood_statuses) == {303}
    assert shopper.get("/").current_user == "demo"
    assert shopper.cart() == {"stoneware-mug": 3}
    shopper.no_500()
    assert_no_tracebacks(app)


def test_one_client_cannot_create_sessions_without_limit(start_app):
    app = start_app("file", SESSIONS_PER_MINUTE="20", WORKERS="1")
    statuses = [Browser(app.url).post("/cart/add", product_id="chefs-knife").status for _ in range(60)]
    assert statuses.count(303) == 20 and statuses.count(429) == 40, statuses
    assert len(list((app.data_dir / "sessions").glob("*.json"))) == 20
    assert_no_tracebacks(app)


def test_several_workers_together_allow_one_client_no_more_than_the_limit(start_app):
    app = start_app("file", SESSIONS_PER_MINUTE="20", WORKERS="2")
    statuses = [Browser(app.url).post("/cart/add", product_id="chefs-knife").status for _ in range(60)]
    # Each worker holds half the bucket; how many get in depends on how the kernel spread the
    # connections, never more than the limit.
    assert 10 <= statuses.count(303) <= 20 and statuses.count(303) + statuses.count(429) == 60, statuses
    assert len(list((app.data_dir / "sessions").glob("*.json"))) == statuses.count(303)
    assert_no_tracebacks(app)


def test_guessing_passwords_gets_429_and_the_owner_still_gets_in(start_app):
    app = start_app("file", LOGIN_THROTTLE_DELAY="1", **PROXY)
    guesser = Browser(app.url, "203.0.113.66")
    pages = [guesser.login(password=f"wrong-{number}") for number in range(30)]
    statuses = [page.status for page in pages]
    assert 429 in statuses, statuses
    assert statuses[:5] == [400] * 5
    throttled = pages[statuses.index(429)]
    assert "Too many failed logins" in throttled.flash
    assert int(throttled.headers["Retry-After"]) >= 1

    owner = Browser(app.url, "192.0.2.7")
    assert owner.login().status == 303
    assert owner.get("/").current_user == "demo"

    waiting = guesser.login()
    if waiting.status == 429:
        time.sleep(int(waiting.headers["Retry-After"]))
        waiting = guesser.login()
    assert waiting.status == 303
    guesser.no_500()
    assert_no_tracebacks(app)


def _half_sent(port: int, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(request)
    return sock


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_slow_clients_are_closed_after_the_timeout_and_others_are_served(start_app):
    app = start_app("file", HEADER_TIMEOUT="2", BODY_TIMEOUT="2")
    slow = [_half_sent(app.port, b"GET / HTTP/1.1\r\nHost: shop\r\nX-Slow: ") for _ in range(250)]
    slow += [_half_sent(app.port, b"POST /cart/add HTTP/1.1\r\nHost: shop\r\nContent-Length: 500\r\n"
                                  b"Content-Type: application/x-www-form-urlencoded\r\n\r\nproduct_id=")
             for _ in range(50)]
    try:
        others = Browser(app.url)
        for _ in range(5):
            assert others.get("/").status == 200
        assert others.post("/cart/add", product_id="stoneware-mug").status == 303
        # Every half-sent request is closed by the shop within a bounded wait (timeout 2 s).
        deadline = time.monotonic() + 20
        still_open = [sock for sock in slow if not _closed_by_server(sock, max(0.1, deadline - time.monotonic()))]
        assert not still_open, f"{len(still_open)} of {len(slow)} half-sent requests still open after 20 s"
        assert others.cart() == {"stoneware-mug": 1}
    finally:
        for sock in slow:
            sock.close()
    assert_no_tracebacks(app)


def test_a_huge_body_is_refused_from_its_headers_with_a_message(start_app):
    app = start_app("file")
    sock = socket.create_connection(("127.0.0.1", app.port))
    try:
        # 90 MB announced, none of it sent: the answer must come from the headers alone.
        sock.sendall(b"POST /cart/add HTTP/1.1\r\nHost: shop\r\nContent-Length: 94371840\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        sock.settimeout(10)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"X-Content-Type-Options: nosniff" in head
    assert b"too large" in body
    assert Browser(app.url).get("/").status == 200
    assert_no_tracebacks(app)


def _answered_503(sock: socket.socket) -> bool:
    sock.settimeout(0.01)
    try:
        return sock.recv(12, socket.MSG_PEEK).startswith(b"HTTP/1.1 503")
    except (socket.timeout, OSError):
        return False


def test_connections_beyond_the_cap_get_a_short_503_and_the_shop_recovers(start_app):
    # The cap is per process: one worker, so that the 25 connections all meet the same cap.
    app = start_app("file", MAX_CONNECTIONS="20", HEADER_TIMEOUT="2", WORKERS="1")
    # More idle connections than the cap: the shop holds at most 20 of them.
    idle = [socket.create_connection(("127.0.0.1", app.port)) for _ in range(25)]
    try:
        # Wait until the shop holds its 20 and has turned the rest away: then it is full.
        deadline = time.monotonic() + 15
        while sum(_answered_503(sock) for sock in idle) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        extra = socket.create_connection(("127.0.0.1", app.port))
        extra.sendall(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        extra.settimeout(10)
        answer = extra.recv(65536)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"Retry-After" in answer and b"very busy" in answer
        # The idle connections time out, and the shop serves again.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if Browser(app.url).get("/", timeout=5).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("the shop did not serve again after the idle connections timed out")
    finally:
        for sock in idle:
            sock.close()
    assert_no_tracebacks(app)
