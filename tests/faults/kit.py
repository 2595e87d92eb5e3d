"""The fault suite's parts: a real `python app.py` (tests/shop_process.py) and real faults (SIGKILL, a full
tmpfs, a sessions folder deleted, read-only or replaced, corrupt files, floods, slow clients).
Every test asserts that nothing acknowledged is lost and that no request got a 500.

Mounting needs root (CI runs as root); without it those tests skip with the reason, and under
CI=true they fail instead.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.availability import unavailable
from tests.pages import Page


def need_root() -> None:
    if os.geteuid() != 0:
        unavailable("needs root to mount file systems")
    if shutil.which("mount") is None:
        unavailable("no mount command")


def run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    """tmpfs(size) -> a folder that is a fresh tmpfs of that size (e.g. "4m"); unmounted at teardown."""
    need_root()
    mounted: list[Path] = []

    def mount(size: str, name: str = "tmpfs") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        try:
            run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder))
        except RuntimeError as error:
            unavailable(f"cannot mount a tmpfs: {error}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fill the file system holding folder until a write fails with ENOSPC; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 1):
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


class Browser:
    """A person's browser without JavaScript, with its own cookies and (optionally) the address a
    trusted proxy says it comes from; it records every status it was answered."""

    def __init__(self, base_url: str, address: str | None = None) -> None:
        self.base_url = base_url
        self.address = address
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirects)
        self.statuses: list[int] = []

    def request(self, method: str, path: str, fields: dict[str, str] | None = None, timeout: float = 30,
                headers: dict[str, str] | None = None) -> Page:
        data = None
        if method == "POST":
            if self._cookie("_xsrf") is None:
                self.request("GET", "/login")
            data = urllib.parse.urlencode({**(fields or {}), "_xsrf": self._cookie("_xsrf")}).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if self.address:
            request.add_header("X-Forwarded-For", self.address)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=timeout) as response:
                page = Page(response.read().decode("utf-8", "replace"), status=response.status, url=response.url)
                headers = response.headers
        except urllib.error.HTTPError as error:
            page = Page(error.read().decode("utf-8", "replace"), status=error.code, url=error.url)
            headers = error.headers
        page.headers = headers
        self.statuses.append(page.status)
        return page

    def get(self, path: str, **options) -> Page:
        return self.request("GET", path, **options)

    def post(self, path: str, **fields: str) -> Page:
        return self.request("POST", path, fields)

    def login(self, username: str = "demo", password: str = "demo1234") -> Page:
        return self.post("/login", username=username, password=password)

    def cart(self) -> dict[str, int]:
        page = self.get("/api/cart")
        assert page.status == 200, f"GET /api/cart answered {page.status}: {page.html[:300]}"
        return {line["product_id"]: line["quantity"] for line in json.loads(page.html)["lines"]}

    def order_ids(self) -> list[str]:
        page = self.get("/orders")
        assert page.status == 200, page.status
        return [order["attrs"]["data-order-id"] for order in page.all("order")]

    def no_500(self) -> None:
        assert not [status for status in self.statuses if status >= 500 and status != 503], self.statuses

    def _cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.jar if cookie.name == name), None)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


SHIPPING = {"name": "Dana Demo", "street": "1 Harbour Street", "city": "Springfield", "postcode": "12345",
            "country": "DE"}


def checkout(browser: Browser):
    """Open the checkout form and place the order; (the answer, the fields sent, its checkout_key among them)."""
    form = browser.get("/checkout")
    assert form.status == 200, form.status
    fields = dict(SHIPPING)
    key = hidden(form.html, "checkout_key")
    if key is not None:
        fields["checkout_key"] = key
    return browser.post("/checkout", **fields), fields


def hidden(html: str, name: str) -> str | None:
    """The value of the page's first hidden field called name."""
    marker = f'name="{name}" value="'
    start = html.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return html[start:html.index('"', start)]


def session_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "sessions").glob("*.json"))


def assert_no_tracebacks(app) -> None:
    output = app.output()
    for mark in ("Traceback", " 500 "):
        at = output.find(mark)
        # The lines around the first one: the tail of a long log would not show it.
        assert at < 0, f"{mark.strip()!r} in the shop's output:\n" + output[max(0, at - 1500):at + 3000]
