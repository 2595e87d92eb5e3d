"""Three real replicas (`python app.py`, two workers each) on one Redis, behind Debian's nginx with
the shipped deploy/nginx/nginx.conf: one oversized request gets its 431 and takes no replica out
of rotation while a bystander shops on without an error; a 413 reaches the client that is still
sending; an HTTP/1.0 client without a Host is served; the login throttle and the rate limits are
counted once for the whole fleet, whichever replica (and worker) answers.

Every test asserts the suite's two invariants: each acknowledged change is applied exactly once,
and a bystander doing unrelated work sees no error.
"""

from __future__ import annotations

import http.client
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.faults.kit import Browser, assert_no_tracebacks
from tests.nginx_server import NginxServer
from tests.shop_process import AppProcess, free_port

REPLICAS = 3
PRODUCT = "stoneware-mug"
CLEAR_COOKIES = "clear this site's cookies"


@pytest.fixture(scope="module")
def fleet(redis_server, tmp_path_factory):
    """(nginx, [replica, ...]): three shops sharing one Redis and one database, behind nginx."""
    folder = tmp_path_factory.mktemp("fleet")
    environ = {
        "REDIS_URL": redis_server.url,
        "SESSION_REDIS_PREFIX": f"fleet:{secrets.token_hex(4)}:",
        "COOKIE_SECRET": secrets.token_hex(16),
        "TRUSTED_PROXIES": "127.0.0.1",
        "WORKERS": "2",
        # A lock long enough that "the 6th attempt is refused" does not depend on speed.
        "LOGIN_THROTTLE_DELAY": "60",
    }
    data_dir = folder / "data"
    data_dir.mkdir()
    replicas = [AppProcess(data_dir, "redis", free_port(), folder / f"replica{number}.log", environ)
                for number in range(REPLICAS)]
    nginx = None
    try:
        for replica in replicas:
            replica.start()
        nginx = NginxServer(folder / "nginx", [replica.port for replica in replicas]).start()
        yield nginx, replicas
    finally:
        if nginx is not None:
            nginx.stop()
        for replica in replicas:
            replica.kill9()


class Bystander(threading.Thread):
    """Browses a product page and adds it to the cart, over and over, until stopped; keeps every
    status and counts the adds that were acknowledged (303)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.browser = Browser(base_url)
        self.acknowledged_adds = 0
        self.errors: list[str] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.browser.get(f"/product/{PRODUCT}").status != 200:
                    self.errors.append(f"GET answered {self.browser.statuses[-1]}")
                # At most 99 of one product fit a cart line.
                if self.acknowledged_adds < 90:
                    status = self.browser.post("/cart/add", product_id=PRODUCT).status
                    if status == 303:
                        self.acknowledged_adds += 1
                    else:
                        self.errors.append(f"add answered {status}")
            except OSError as error:
                self.errors.append(f"{type(error).__name__}: {error}")

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)


def _hostile_requests(port: int) -> list[tuple[str, int, bytes]]:
    """The two oversized shapes, each sent raw on its own connection: (shape, status, body)."""
    answers = []
    shapes = {
        # 21 KB in three Cookie lines of 7 KB: each line under nginx's 8 KB, the whole over 16 KB.
        "three 7 KB Cookie lines": [("Cookie", f"crumb{number}=" + "c" * 7000) for number in range(3)],
        # 17 cookies of 1 KB, as a browser sends them: one Cookie line.
        "17 cookies of 1 KB": [("Cookie", "; ".join(f"c{number}=" + "k" * 1024 for number in range(17)))],
    }
    for shape, headers in shapes.items():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        connection.putrequest("GET", f"/product/{PRODUCT}")
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        answers.append((shape, response.status, response.read()))
        connection.close()
    return answers


def test_oversized_headers_get_431_from_a_replica_itself(fleet):
    _, replicas = fleet
    for shape, status, body in _hostile_requests(replicas[0].port):
        assert status == 431, f"{shape}: {status}"
        assert CLEAR_COOKIES.encode() in body, f"{shape}: {body[:300]!r}"
    assert Browser(replicas[0].url).get("/").status == 200


@pytest.mark.parametrize("size", [70_000, 300_000])
def test_headers_past_what_the_server_reads_still_get_431(fleet, size):
    _, replicas = fleet
    with socket.create_connection(("127.0.0.1", replicas[2].port), timeout=15) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: shop\r\nCookie: huge=" + b"h" * size + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert CLEAR_COOKIES.encode() in answer
    assert Browser(replicas[2].url).get("/").status == 200


def test_oversized_headers_through_nginx_get_431_and_a_bystander_sees_no_error(fleet):
    nginx, replicas = fleet
    bystander = Bystander(nginx.url)
    bystander.start()
    try:
        answers = [answer for _ in range(20) for answer in _hostile_requests(nginx.port)]
    finally:
        bystander.stop()
    wrong = [(shape, status) for shape, status, body in answers
             if status != 431 or CLEAR_COOKIES.encode() not in body]
    assert not wrong, wrong[:5]
    assert not bystander.errors, bystander.errors[:10]
    assert bystander.acknowledged_adds > 0
    # Every acknowledged add is in the cart, once.
    assert bystander.browser.cart() == {PRODUCT: bystander.acknowledged_adds}
    # No replica was set aside: nginx never found one failing.
    log = nginx.output()
    assert "prematurely closed" not in log and "no live upstreams" not in log, log[-3000:]
    for replica in replicas:
        assert_no_tracebacks(replica)


def test_a_form_too_large_gets_its_413_while_the_client_is_still_sending(fleet):
    _, replicas = fleet
    body = b"product_id=" + b"x" * (5 * 1024 * 1024)
    outcomes = []
    for _ in range(10):
        request = urllib.request.Request(replicas[1].url + "/cart/add", data=body, method="POST")
        try:
            urllib.request.urlopen(request, timeout=30).close()
            outcomes.append("accepted")
        except urllib.error.HTTPError as error:
            outcomes.append(error.code)
        except (urllib.error.URLError, OSError) as error:
            outcomes.append(type(getattr(error, "reason", error)).__name__)
    assert outcomes == [413] * 10, outcomes


def test_an_http_1_0_request_without_host_is_served_through_nginx(fleet):
    nginx, _ = fleet
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=15) as sock:
        sock.sendall(f"GET /product/{PRODUCT} HTTP/1.0\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


# --- limits that hold across the fleet -------------------------------------------------------------


def _replica(replicas: list[AppProcess], number: int) -> str:
    """Requests go round the replicas in turn, so that no two in a row reach the same one."""
    return replicas[number % len(replicas)].url


def test_the_sixth_wrong_password_from_one_address_gets_429_whichever_replica_answers(fleet):
    _, replicas = fleet
    address = "203.0.113.6"
    statuses = [Browser(_replica(replicas, number), address).login(password=f"wrong-{number}").status
                for number in range(6)]
    assert statuses == [400] * 5 + [429], statuses
    # The right password too, on every replica: the address is locked everywhere.
    assert [Browser(replica.url, address).login().status for replica in replicas] == [429] * 3


def test_a_username_is_throttled_whatever_its_case_and_whichever_replica_answers(fleet):
    _, replicas = fleet
    name = f"victim{secrets.token_hex(3)}"
    assert Browser(replicas[0].url, "192.0.2.50").post("/register", username=name, password="correct horse").status == 303
    # Ten wrong guesses from ten addresses (so that no address is locked), each spelling the name
    # another way, spread over the replicas: the username's own count (twice the address's) is spent.
    spellings = [name.upper(), name.capitalize(), name.swapcase(), name] + [
        "".join(c.upper() if (i + n) % 2 else c for i, c in enumerate(name)) for n in range(6)]
    for number, spelling in enumerate(spellings):
        browser = Browser(_replica(replicas, number), f"198.51.100.{number + 1}")
        assert browser.login(spelling, "wrong password").status == 400
    owner = Browser(replicas[1].url, "192.0.2.51")
    assert owner.login(name.title(), "correct horse").status == 429


def _burst(requests, limit: int, per_second: float) -> None:
    """Send requests (callables answering a status) in a row; assert the first `limit` got in and
    no more than the limit plus what refilled while they were sent did."""
    started = time.monotonic()
    statuses = [request() for request in requests]
    refilled = (time.monotonic() - started) * per_second
    assert statuses[:limit] == [303] * limit, statuses
    assert 429 in statuses and statuses.count(303) <= limit + refilled + 1, (statuses, refilled)
    assert set(statuses) == {303, 429}, statuses


def test_the_eleventh_registration_in_a_burst_gets_429(fleet):
    _, replicas = fleet
    prefix = f"burst{secrets.token_hex(3)}"
    # REGISTER_PER_MINUTE=5: a burst of 10, then one every 12 s.
    _burst([lambda number=number: Browser(_replica(replicas, number), "203.0.113.11").post(
        "/register", username=f"{prefix}{number}", password="correct horse").status for number in range(14)],
        limit=10, per_second=5 / 60)


def test_the_sixty_first_new_session_gets_429(fleet):
    _, replicas = fleet
    # SESSIONS_PER_MINUTE=60: a burst of 60, then one a second. Each add comes without a cookie.
    _burst([lambda number=number: Browser(_replica(replicas, number), "203.0.113.61").post(
        "/cart/add", product_id=PRODUCT).status for number in range(90)],
        limit=60, per_second=1)
