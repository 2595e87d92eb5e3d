"""Issue 16 in two real browsers: a laptop (1280 px) and a phone (375 px) logged in to one account.
The cart filled on the laptop is on the phone; the phone ends the laptop's session from its account
page and the laptop's next page is logged out; the phone changes the password; /account passes
axe-core at both widths. Screenshots of each step go to test-artifacts/account-*.png."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS, DEMO_PASSWORD, DEMO_USER, WAIT_SECONDS, running_shop, start_chromium
from tests.e2e.layout import axe_findings, axe_source

pytestmark = pytest.mark.e2e

PHONE_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
NEW_PASSWORD = "lantern harbour tide 42"


class Device:
    """One browser window at one width, driven through the contract's data-testid hooks."""

    def __init__(self, driver, base_url: str, name: str, width: int, agent: str | None = None) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base_url, self.name, self.by = driver, base_url, name, By
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 812 if width < 600 else 900, "deviceScaleFactor": 1, "mobile": width < 600})
        if agent:
            driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": agent})

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def testid(self, testid: str) -> list:
        return self.driver.find_elements(self.by.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def current_user(self) -> str | None:
        found = self.testid("current-user")
        return found[0].text.strip() if found else None

    def submit_and_wait(self, button) -> None:
        old = self.driver.find_element(self.by.TAG_NAME, "html")
        button.click()
        self.wait.until(lambda d: _stale(old) and d.execute_script("return document.readyState") == "complete")

    def log_in(self, password: str = DEMO_PASSWORD) -> None:
        self.open("/login")
        self.driver.find_element(self.by.ID, "username").send_keys(DEMO_USER)
        self.driver.find_element(self.by.ID, "password").send_keys(password)
        self.submit_and_wait(self.testid("login-submit")[0])
        assert self.current_user() == DEMO_USER

    def cart_lines(self) -> dict[str, int]:
        self.open("/cart")
        return {line.get_attribute("data-product-id"): int(line.get_attribute("data-quantity"))
                for line in self.testid("cart-line")}

    def add(self, product_id: str) -> None:
        self.open(f"/product/{product_id}")
        before = int(self.testid("cart-count")[0].text)
        self.testid("add-to-cart")[0].click()
        self.wait.until(lambda _: int(self.testid("cart-count")[0].text) == before + 1)

    def screenshot(self, step: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"account-{step}-{self.name}.png"))

    def axe_problems(self) -> list[str]:
        """axe-core 4.x's findings on this page (tests/e2e/layout.py)."""
        return axe_findings(self.driver, axe_source())


def _stale(element) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.tag_name
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        # Asked while the new page replaces the old, ChromeDriver may say so in other words.
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


@pytest.fixture
def shop(tmp_path):
    with running_shop(tmp_path, "file") as app:
        yield app


@pytest.fixture
def laptop_and_phone(tmp_path_factory, shop):
    laptop_driver = start_chromium(tmp_path_factory, "1280,900")
    try:
        phone_driver = start_chromium(tmp_path_factory, "375,812")
    except BaseException:
        laptop_driver.quit()
        raise
    try:
        yield (Device(laptop_driver, shop.url, "laptop", 1280),
               Device(phone_driver, shop.url, "phone", 375, PHONE_AGENT))
    finally:
        laptop_driver.quit()
        phone_driver.quit()


def test_a_laptop_and_a_phone_share_the_cart_and_the_phone_ends_the_laptops_session(laptop_and_phone):
    axe_source()  # skipped (failed under CI) without axe-core: make node-tools
    laptop, phone = laptop_and_phone

    laptop.log_in()
    laptop.add("stoneware-mug")
    laptop.add("stoneware-mug")
    laptop.add("cast-iron-teapot")
    assert laptop.cart_lines() == {"stoneware-mug": 2, "cast-iron-teapot": 1}
    laptop.screenshot("1-cart-filled")

    phone.log_in()
    assert phone.cart_lines() == {"stoneware-mug": 2, "cast-iron-teapot": 1}
    phone.screenshot("2-same-cart")

    phone.open("/account")
    rows = phone.testid("session-row")
    assert len(rows) == 2
    assert rows[0].get_attribute("data-current") == "true" and "iOS" in rows[0].text
    assert phone.axe_problems() == []
    phone.screenshot("3-account")
    phone.submit_and_wait(phone.testid("end-session")[0])
    assert len(phone.testid("session-row")) == 1
    phone.screenshot("4-laptop-ended")

    laptop.open("/")
    assert laptop.current_user() is None
    laptop.screenshot("5-logged-out")

    phone.open("/account")
    phone.driver.find_element(phone.by.ID, "current_password").send_keys(DEMO_PASSWORD)
    phone.driver.find_element(phone.by.ID, "new_password").send_keys(NEW_PASSWORD)
    phone.wait.until(lambda _: "Strength" in phone.testid("password-strength")[0].text)  # the live meter
    phone.submit_and_wait(phone.testid("change-password-submit")[0])
    assert "Your password is changed" in phone.testid("flash")[0].text
    assert phone.current_user() == DEMO_USER
    phone.screenshot("6-password-changed")

    laptop.log_in(NEW_PASSWORD)
    laptop.open("/account")
    assert laptop.axe_problems() == []
    laptop.screenshot("7-account")
