"""Every page and state of the shop (issue 17) at 320, 360, 375 and 1280 px and at 200% and 400%
zoom (tests/e2e/layout.py says how zoom is reproduced): no two visible links, buttons or fields
overlap, nothing scrolls sideways, each page has a meta description, and a screenshot of each goes to
test-artifacts/every-width/<state>-<view>.png. At 375 and 1280 px axe-core 4.x finds no violation of
any impact and nothing "needs review" of impact serious or critical.

The shopper has a 31-character username (the header must stay one row), an order, and a cart of
two lines; the guest's pages (login and registration errors, the empty cart) are seen logged out.
One shop process and one browser serve the module.
"""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import ARTIFACTS, WAIT_SECONDS, BrowserShopper, running_shop, start_chromium
from tests.e2e.layout import (
    EVERY_VIEW, LAPTOP, PHONES, View, axe_findings, axe_source, meta_description, overlapping_controls,
    save_screenshot, sideways_scroll,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

LONG_USERNAME = "shopper-with-a-very-long-name31"
PASSWORD = "correct horse battery"
SHOTS = ARTIFACTS / "every-width"
AXE_VIEWS = {PHONES[2].name, LAPTOP.name}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with running_shop(tmp_path_factory.mktemp("every-width-shop"), "memory") as app:
        yield app


class Visit:
    """The browser and the shop, with the shopper's saved cookies to switch between them and a guest."""

    def __init__(self, driver, base_url: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base_url, self.by = driver, base_url, By
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1)
        self.shopper = BrowserShopper(driver)
        self.cookies: list[dict] = []
        self.order_id = ""
        self.has_account_page = False

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def find_all(self, css: str) -> list:
        return self.driver.find_elements(self.by.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        element = self.find_all(css)[0]
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def as_guest(self) -> None:
        self.driver.delete_all_cookies()

    def as_shopper(self) -> None:
        self.driver.delete_all_cookies()
        for cookie in self.cookies:
            self.driver.add_cookie({key: cookie[key] for key in ("name", "value", "path") if key in cookie})


@pytest.fixture(scope="module")
def visit(tmp_path_factory, shop):
    driver = start_chromium(tmp_path_factory)
    visit = Visit(driver, shop.url)
    try:
        LAPTOP.apply(driver)
        visit.open("/register")
        driver.find_element(visit.by.ID, "username").send_keys(LONG_USERNAME)
        driver.find_element(visit.by.ID, "password").send_keys(PASSWORD)
        visit.click('[data-testid="register-submit"]')
        visit.wait.until(lambda _: visit.find_all('[data-testid="current-user"]'))
        visit.shopper.add_to_cart(shop.url, "stoneware-mug")
        visit.order_id = visit.shopper.check_out(shop.url)
        visit.shopper.add_to_cart(shop.url, "stoneware-mug", quantity=2)
        visit.shopper.add_to_cart(shop.url, "chefs-knife")
        visit.cookies = driver.get_cookies()
        visit.open("/account")
        visit.has_account_page = "/account" in driver.current_url and not visit.find_all(".error-page")
        yield visit
    finally:
        driver.quit()


def _add_to_cart_confirmation(visit: Visit) -> None:
    visit.open("/")
    visit.click('[data-testid="add-to-cart"]')
    visit.wait.until(lambda _: visit.find_all('[data-testid="cart-notification"]'))


def _removed_with_undo(visit: Visit) -> None:
    visit.open("/cart")
    visit.click('[data-testid="cart-line"][data-product-id="chefs-knife"] [data-testid="remove-line"]')
    visit.wait.until(lambda _: visit.find_all('[data-testid="undo-remove"]'))


def _put_back(visit: Visit) -> None:
    visit.click('[data-testid="undo-remove"]')
    visit.wait.until(lambda _: visit.find_all('[data-testid="cart-line"][data-product-id="chefs-knife"]'))


def _refused(path: str, submit: str):
    def go(visit: Visit) -> None:
        visit.open(path)
        visit.click(submit)
        visit.wait.until(lambda _: visit.find_all("[data-error-summary]"))
    return go


def _page(path: str):
    return lambda visit: visit.open(path)


# (name, logged in?, how to get there, how to leave it as it was)
STATES = [
    ("catalog", True, _page("/"), None),
    ("catalog-page-2", True, _page("/?page=2&sort=price-asc"), None),
    ("search-long-word", True, _page("/?q=" + "unbreakablesearchword" * 4), None),
    ("product", True, _page("/product/stoneware-mug"), None),
    ("product-added", True, _add_to_cart_confirmation, None),
    ("cart", True, _page("/cart"), None),
    ("cart-removed-undo", True, _removed_with_undo, _put_back),
    ("checkout", True, _page("/checkout"), None),
    ("checkout-errors", True, _refused("/checkout", '[data-testid="place-order"]'), None),
    ("order", True, lambda visit: visit.open(f"/orders/{visit.order_id}"), None),
    ("orders", True, _page("/orders"), None),
    ("account", True, _page("/account"), None),
    ("not-found", True, _page("/no/such/page"), None),
    ("catalog-guest", False, _page("/"), None),
    ("cart-empty", False, _page("/cart"), None),
    ("login", False, _page("/login"), None),
    ("login-errors", False, _refused("/login", '[data-testid="login-submit"]'), None),
    ("register-errors", False, _refused("/register", '[data-testid="register-submit"]'), None),
]


@pytest.mark.parametrize("view", EVERY_VIEW, ids=lambda view: view.name)
def test_every_page_has_no_overlapping_controls_and_no_sideways_scroll(visit, view: View):
    source = axe_source() if view.name in AXE_VIEWS else None
    problems: list[str] = []
    view.apply(visit.driver)
    for name, logged_in, go, undo in STATES:
        if name == "account" and not visit.has_account_page:
            continue
        visit.as_shopper() if logged_in else visit.as_guest()
        go(visit)
        save_screenshot(visit.driver, SHOTS, f"{name}-{view.name}")
        problems += [f"{name}: {each}" for each in overlapping_controls(visit.driver)]
        sideways = sideways_scroll(visit.driver)
        if sideways > 0:
            problems.append(f"{name}: the page scrolls sideways by {sideways} px")
        if not meta_description(visit.driver):
            problems.append(f"{name}: no meta description")
        if source is not None:
            problems += [f"{name}: {each}" for each in axe_findings(visit.driver, source)]
        if undo is not None:
            undo(visit)
    if view == LAPTOP:
        keep_for_readme(f"catalog-{view.name}.png", "catalog-1280.png")
    if view == PHONES[2]:
        keep_for_readme(f"cart-{view.name}.png", "cart-375.png")
    assert not problems, "\n".join(problems)


def keep_for_readme(shot: str, name: str) -> None:
    """The README's pictures come from a test run: refreshed under test-artifacts/readme/ (commit
    them to docs/screenshots/ when the look changes)."""
    folder = ARTIFACTS / "readme"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHOTS / shot, folder / name)
