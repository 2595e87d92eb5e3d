"""A real `python app.py` killed with SIGKILL and started again on the same DATA_DIR: the file store
keeps the login and the cart, the memory store loses both. Also: SIGTERM is a clean stop (exit 0).

Driven over HTTP like a browser without JavaScript: a cookie jar, the _xsrf token, form posts, and the
contract's data-testid hooks read from the pages.
"""

from __future__ import annotations

import http.cookiejar
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

pytestmark = pytest.mark.timeout(180)


# --- the app as a subprocess --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class App:
    """`python app.py` on a fixed port and DATA_DIR, so that it can be started again in the same place."""

    def __init__(self, data_dir: Path, backend: str, log_path: Path) -> None:
        self.data_dir, self.backend, self.log_path = data_dir, backend, log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> App:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_") and k != "COOKIE_SECRET"}
        env.update(HOST="127.0.0.1", PORT=str(self.port), DATA_DIR=str(self.data_dir), SESSION_BACKEND=self.backend)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"app.py exited with {self.process.returncode} at start:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=3) as response:
                    body = response.read().decode()
                    assert self.backend in body, f"/healthz does not name {self.backend!r}: {body!r}"
                    return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.signal(signal.SIGKILL)
        pytest.fail(f"app.py did not answer /healthz within 30 s:\n{self.output()}")

    def signal(self, sig: int, timeout: float = 20) -> int:
        """Send sig and wait for the exit; returns the exit status (-9 after SIGKILL)."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"app.py did not exit within {timeout} s of signal {sig}:\n{self.output()}")
        finally:
            self.process = None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def app_factory(tmp_path):
    apps: list[App] = []

    def make(backend: str) -> App:
        data_dir = tmp_path / f"data-{backend}"
        data_dir.mkdir()
        app = App(data_dir, backend, tmp_path / f"app-{backend}.log")
        apps.append(app)
        return app

    yield make
    for app in apps:
        if app.process is not None:
            app.signal(signal.SIGKILL)


# --- a shopper without JavaScript ----------------------------------------------------------------------


class HookParser(HTMLParser):
    """Collects every element that has a data-testid: its attributes and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict] = []
        self._open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        for element in self._open:
            if element["tag"] == tag:
                element["depth"] += 1
        attributes = dict(attrs)
        if "data-testid" in attributes:
            element = {"tag": tag, "attrs": attributes, "text": "", "depth": 1}
            self.found.append(element)
            if tag not in VOID_TAGS:
                self._open.append(element)

    def handle_endtag(self, tag):
        for element in list(self._open):
            if element["tag"] == tag:
                element["depth"] -= 1
                if element["depth"] == 0:
                    self._open.remove(element)

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data


@dataclass(frozen=True)
class Page:
    status: int
    url: str
    html: str

    def testids(self, testid: str) -> list[dict]:
        parser = HookParser()
        parser.feed(self.html)
        return [e for e in parser.found if e["attrs"]["data-testid"] == testid]

    @property
    def current_user(self) -> str | None:
        found = self.testids("current-user")
        return " ".join(found[0]["text"].split()) if found else None

    @property
    def cart_count(self) -> int:
        found = self.testids("cart-count")
        digits = "".join(ch for ch in found[0]["text"] if ch.isdigit()) if found else ""
        return int(digits) if digits else 0

    @property
    def cart_lines(self) -> dict[str, int]:
        return {e["attrs"]["data-product-id"]: int(e["attrs"]["data-quantity"]) for e in self.testids("cart-line")}


class Shopper:
    """An HTTP client with a cookie jar that sends the _xsrf token with every POST."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base_url + path))

    def post(self, path: str, **fields: str) -> Page:
        if not any(c.name == "_xsrf" for c in self.jar):
            self.get("/login")  # any page with a form sets the _xsrf cookie
        xsrf = next(c.value for c in self.jar if c.name == "_xsrf")
        body = urllib.parse.urlencode({**fields, "_xsrf": xsrf}).encode()
        return self._open(urllib.request.Request(self.base_url + path, data=body, method="POST"))

    def _open(self, request) -> Page:
        try:
            with self.opener.open(request, timeout=15) as response:
                return Page(response.status, response.url, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            return Page(error.code, error.url, error.read().decode("utf-8", "replace"))


def shop_as_demo(shopper: Shopper) -> tuple[dict[str, int], int]:
    """Log in as demo, put two products in the cart (quantities 2 and 1); returns (lines, count)."""
    page = shopper.post("/login", username="demo", password="demo1234")
    assert page.status == 200, f"login answered {page.status}"
    assert page.current_user is not None and "demo" in page.current_user, "the header does not show demo"

    cards = shopper.get("/").testids("product-card")
    assert len(cards) >= 2, "the catalog lists fewer than two product cards"
    first, second = (card["attrs"]["data-product-id"] for card in cards[:2])
    for product_id, quantity in ((first, 2), (second, 1)):
        page = shopper.post("/cart/add", product_id=product_id, quantity=str(quantity))
        assert page.status == 200, f"adding {product_id} answered {page.status}"

    cart = shopper.get("/cart")
    assert cart.cart_lines == {first: 2, second: 1}
    assert cart.cart_count == 3
    assert cart.current_user is not None and "demo" in cart.current_user
    return cart.cart_lines, cart.cart_count


# --- the tests ------------------------------------------------------------------------------------------


def test_file_store_keeps_login_and_cart_across_sigkill(app_factory):
    app = app_factory("file").start()
    shopper = Shopper(app.url)
    lines, count = shop_as_demo(shopper)

    assert app.signal(signal.SIGKILL) == -signal.SIGKILL
    app.start()

    cart = shopper.get("/cart")
    assert cart.status == 200
    assert cart.current_user is not None and "demo" in cart.current_user, "the login was lost in the restart"
    assert cart.cart_lines == lines, "the cart changed in the restart"
    assert cart.cart_count == count
    # The same session goes on after the restart, and it can still be changed.
    first = next(iter(lines))
    assert shopper.post("/cart/add", product_id=first, quantity="1").status == 200
    assert shopper.get("/cart").cart_lines[first] == lines[first] + 1


def test_memory_store_loses_login_and_cart_across_sigkill(app_factory):
    app = app_factory("memory").start()
    shopper = Shopper(app.url)
    shop_as_demo(shopper)

    assert app.signal(signal.SIGKILL) == -signal.SIGKILL
    app.start()

    cart = shopper.get("/cart")
    assert cart.status == 200, "an unknown session cookie must give a fresh session, not an error"
    assert cart.current_user is None, "memory store: the login survived a SIGKILL"
    assert cart.cart_lines == {}, "memory store: the cart survived a SIGKILL"
    assert cart.cart_count == 0


@pytest.mark.parametrize("backend", ["file", "memory"])
def test_sigterm_exits_zero(app_factory, backend):
    app = app_factory(backend).start()
    Shopper(app.url).get("/")
    assert app.signal(signal.SIGTERM) == 0, f"exit status after SIGTERM; output:\n{app.output()}"
