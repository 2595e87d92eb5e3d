"""Shared parts of the end-to-end tests: headless Chromium (Debian's chromium + chromium-driver, never
a downloaded one), screenshots into test-artifacts/, the shopping steps a person takes, driven only
through the contract's data-testid hooks, and Docker. The shop as a process is tests/shop_process.py
(its `start_app` fixture is in tests/conftest.py).

A missing browser or Docker engine skips a test with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.availability import unavailable
from tests.shop_process import REPO_ROOT, AppProcess, free_port, wait_for_healthz

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEMO_USER, DEMO_PASSWORD = "demo", "demo1234"
WAIT_SECONDS = 20

# Never let Selenium Manager go to the network for a driver or a browser.
os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path_factory):
    """Headless Debian Chromium through Debian's chromedriver."""
    driver = start_chromium(tmp_path_factory)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """One headless Chromium shared by a module's tests (see start_chromium)."""
    driver = start_chromium(tmp_path_factory)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def running_shop(folder: Path, backend: str):
    """A real `python app.py` on backend, on a free port, its data in folder/data and its output in
    folder/app.log; killed (SIGKILL) when the block ends. For a module's shared shop fixture."""
    app = AppProcess(folder / "data", backend, free_port(), folder / "app.log")
    app.data_dir.mkdir()
    app.start()
    try:
        yield app
    finally:
        app.kill9()


def start_chromium(tmp_path_factory, window_size: str = "1280,1000"):
    """A headless Chromium (skipped, or failed under CI, when there is none); the caller quits it.
    Also used by modules that share one browser across their tests."""
    if not (os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"no {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -r requirements-dev.txt)")

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        f"--window-size={window_size}",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(CHROMEDRIVER, log_output=str(tmp_path_factory.mktemp("chromedriver") / "log")),
        options=options,
    )
    driver.set_page_load_timeout(30)
    return driver


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (item.report_setup, item.report_call), so that a
    fixture can tell at teardown whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def free_tcp_port() -> int:
    return free_port()


@pytest.fixture
def healthz():
    """healthz(base_url, timeout) waits until GET /healthz answers 200 and returns its body."""
    return wait_for_healthz


# --- what a shopper does, through the contract's data-testid hooks ---------------------------------


@dataclass(frozen=True)
class CartView:
    user: str | None
    count: int
    lines: dict[str, int]
    total: str | None


SHIPPING = {
    "name": "Dana Demo",
    "street": "1 Harbour Street",
    "city": "Springfield",
    "postcode": "12345",
    "zip": "12345",
    "country": "Germany",
}


class BrowserShopper:
    """A person in the browser window: logs in, fills the cart, reads it, checks out, takes pictures."""

    def __init__(self, driver) -> None:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select, WebDriverWait

        self.driver = driver
        self._by, self._select = By, Select
        # A page being replaced mid-poll makes elements stale: poll again rather than fail.
        self.wait = WebDriverWait(
            driver,
            WAIT_SECONDS,
            poll_frequency=0.1,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        )

    def _testid(self, testid: str, within=None) -> list:
        return (within or self.driver).find_elements(self._by.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def header_count(self) -> int:
        found = self._testid("cart-count")
        digits = "".join(ch for ch in found[0].text if ch.isdigit()) if found else ""
        return int(digits) if digits else 0

    def current_user(self) -> str | None:
        found = self._testid("current-user")
        return found[0].text.strip() if found else None

    def log_in(self, base_url: str, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> None:
        self.driver.get(f"{base_url}/login")
        self.driver.find_element(self._by.NAME, "username").send_keys(username)
        self.driver.find_element(self._by.NAME, "password").send_keys(password)
        self._testid("login-submit")[0].click()
        # The header (and so current-user) arrives before the rest of the page: wait for all of it.
        self.wait.until(
            lambda _: self.current_user() is not None and self._loaded(),
            message="no current-user in the header after login",
        )
        assert username in self.current_user()

    def _loaded(self) -> bool:
        return self.driver.execute_script("return document.readyState") == "complete"

    def product_ids(self, base_url: str, how_many: int) -> list[str]:
        self.driver.get(f"{base_url}/")
        self.wait.until(
            lambda _: len(self._testid("product-card")) >= how_many and self._loaded(),
            message=f"the catalog at {self.driver.current_url} lists fewer than {how_many} product cards",
        )
        return [card.get_attribute("data-product-id") for card in self._testid("product-card")][:how_many]

    def fill_cart_as_demo(self, base_url: str) -> CartView:
        """Log in as demo and add the first two products (quantities 2 and 1); returns the cart."""
        self.log_in(base_url)
        first, second = self.product_ids(base_url, 2)
        self.add_to_cart(base_url, first, quantity=2)
        self.add_to_cart(base_url, second, quantity=1)
        cart = self.view_cart(base_url)
        assert cart.lines == {first: 2, second: 1}
        assert cart.count == 3
        assert cart.user is not None and "demo" in cart.user
        return cart

    def add_to_cart(self, base_url: str, product_id: str, quantity: int = 1) -> None:
        """On the product page: set the quantity, press add-to-cart, wait until the header count grows
        (through a new page or through JavaScript: both are allowed)."""
        self.driver.get(f"{base_url}/product/{product_id}")
        before = self.header_count()
        field = self.driver.find_element(self._by.NAME, "quantity")
        field.clear()
        field.send_keys(str(quantity))
        self._testid("add-to-cart")[0].click()
        self.wait.until(
            lambda _: self.header_count() == before + quantity and self._loaded(),
            message=f"the header count did not go from {before} to {before + quantity} after adding {product_id}",
        )

    def view_cart(self, base_url: str) -> CartView:
        self.driver.get(f"{base_url}/cart")
        lines = {
            line.get_attribute("data-product-id"): int(line.get_attribute("data-quantity"))
            for line in self._testid("cart-line")
        }
        totals = self._testid("cart-total")
        return CartView(
            user=self.current_user(),
            count=self.header_count(),
            lines=lines,
            total=totals[0].text.strip() if totals else None,
        )

    def check_out(self, base_url: str) -> str:
        """From the cart: checkout, fill the shipping form, place the order; returns the order id."""
        self.driver.get(f"{base_url}/cart")
        self._testid("checkout")[0].click()
        self.wait.until(
            lambda _: self._testid("place-order") and self._loaded(), message="no place-order button after checkout"
        )
        # The country first: the address fields that follow are that country's (issue 17).
        countries = self.driver.find_elements(self._by.CSS_SELECTOR, "select[name=country]")
        if countries:
            self._select(countries[0]).select_by_visible_text(SHIPPING["country"])
        form = self._testid("place-order")[0].find_element(self._by.XPATH, "./ancestor::form")
        for field in form.find_elements(self._by.CSS_SELECTOR, "input, select, textarea"):
            name = (field.get_attribute("name") or "").lower()
            kind = (field.get_attribute("type") or "text").lower()
            if name.startswith("_") or kind in ("hidden", "submit", "button", "checkbox", "radio"):
                continue
            value = next((v for key, v in SHIPPING.items() if key in name), "Test")
            if field.tag_name == "select":
                select = self._select(field)
                if value in [option.text for option in select.options]:
                    select.select_by_visible_text(value)
                elif len(select.options) > 1 and not select.first_selected_option.get_attribute("value"):
                    select.select_by_index(1)
            elif not field.get_attribute("value"):
                field.send_keys(value)
        self._testid("place-order")[0].click()
        self.wait.until(lambda _: self._testid("order-id") and self._loaded(), message="no order-id after place-order")
        order_id = self._testid("order-id")[0].text.strip()
        assert order_id, "the confirmation shows an empty order id"
        return order_id

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def shopper(browser) -> BrowserShopper:
    return BrowserShopper(browser)


# --- Docker ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def compose() -> list[str]:
    """The Compose command (docker-compose, else `docker compose`), once a Docker engine answers."""
    reason = docker_unavailable_reason()
    if reason:
        unavailable(reason)
    return compose_command()


def docker_unavailable_reason() -> str | None:
    if shutil.which("docker") is None:
        return "no Docker engine reachable: no docker client (apt-get install docker.io)"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "no Docker engine reachable: `docker info` timed out"
    if info.returncode != 0:
        last = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine reachable (`docker info`: {last}); start one with scripts/start-dockerd.sh"
    if compose_command() is None:
        return "neither docker-compose nor `docker compose` is installed (apt-get install docker-compose)"
    return None


def compose_command() -> list[str] | None:
    """docker-compose (v1) when installed, else the v2 plugin `docker compose`."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None
