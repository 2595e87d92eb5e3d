"""Three real replicas (`python app.py`, two workers each) on one Redis, behind Debian's nginx with
the shipped deploy/nginx/nginx.conf: one oversized request gets its 431 and takes no replica out
of rotation while a bystander shops on without an error; a 413 reaches the client that is still
sending; an HTTP/1.0 client without a Host is served.

Every test asserts the suite's two invariants: each acknowledged change is applied exactly once,
and a bystander doing unrelated work sees no error.
"""

from __future__ import annotations

import http.client
import secrets
import socket
import threading
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
