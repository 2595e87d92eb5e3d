"""The findings of issue 17 as behaviours, in headless Chromium at phone widths, 1280 px and 400% zoom
(tests/e2e/layout.py): cart controls that cannot be mistaken, quantities saved at once or with Check
out, Remove with Undo, an add-to-cart confirmation that covers nothing it should not, a first screen
with products, a one-row header whatever the username, Tab in screen order, Post/Redirect/Get, and
the details (the rule above Total, 3-digit quantities, currencies, local order times).

One shop process and one browser serve the module; each test starts with no cookies.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS, WAIT_SECONDS, BrowserShopper, running_shop
from tests.e2e.layout import LAPTOP, PHONES, ZOOMS, View

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PHONE = PHONES[2]  # 375 x 812
ZOOM400 = ZOOMS[1]
LONG_USERNAME = "shopper-with-a-very-long-name31"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with running_shop(tmp_path_factory.mktemp("cart-controls-shop"), "memory") as app:
        yield app


class Tab:
    """The browser at one view, with what these tests look at."""

    def __init__(self, driver, base_url: str, view: View) -> None:
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base_url, self.view, self.by = driver, base_url, view, By
        # A page being replaced mid-poll makes elements stale: poll again rather than fail.
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1,
                                  ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
        view.apply(driver)
        driver.get(f"{base_url}/healthz")
        driver.delete_all_cookies()

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.loaded()

    def loaded(self) -> None:
        self.wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def find(self, css: str):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        return self.driver.find_elements(self.by.CSS_SELECTOR, css)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def rect(self, element) -> dict:
        return self.js("const r = arguments[0].getBoundingClientRect();"
                       "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};", element)

    def without_javascript(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})

    def add(self, product_id: str, quantity: int = 1) -> None:
        """Through the product page's form, as a shopper does (JavaScript or not)."""
        self.open(f"/product/{product_id}")
        before = self.count()
        field = self.find("#quantity")
        field.clear()
        field.send_keys(str(quantity))
        self.click(self.find('[data-testid="add-to-cart"]'))
        self.wait.until(lambda _: self.count() == before + quantity)

    def click(self, element) -> None:
        self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def count(self) -> int:
        return int(self.find('[data-testid="cart-count"]').text)

    def line_quantity(self, product_id: str) -> int | None:
        found = self.find_all(f'[data-testid="cart-line"][data-product-id="{product_id}"]')
        return int(found[0].get_attribute("data-quantity")) if found else None

    def register(self, username: str) -> None:
        self.open("/register")
        self.find("#username").send_keys(username)
        self.find("#password").send_keys(PASSWORD)
        self.click(self.find('[data-testid="register-submit"]'))
        self.wait.until(lambda _: self.find_all('[data-testid="current-user"]'))

    def screenshot(self, name: str) -> None:
        folder = ARTIFACTS / "behaviours"
        folder.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(folder / f"{name}-{self.view.name}.png"))


def overlap(a: dict, b: dict) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and \
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5


def tab(request, chromium, shop) -> Tab:
    return Tab(chromium, shop.url, request.param)


@pytest.fixture(params=[*PHONES, ZOOM400], ids=lambda view: view.name)
def narrow(request, chromium, shop) -> Tab:
    return tab(request, chromium, shop)


@pytest.fixture(params=[PHONES[0], PHONE, LAPTOP, ZOOM400], ids=lambda view: view.name)
def any_width(request, chromium, shop) -> Tab:
    return tab(request, chromium, shop)


@pytest.fixture(params=[PHONE], ids=lambda view: view.name)
def phone(request, chromium, shop) -> Tab:
    return tab(request, chromium, shop)


@pytest.fixture(params=[PHONE, LAPTOP], ids=lambda view: view.name)
def both(request, chromium, shop) -> Tab:
    return tab(request, chromium, shop)


# --- 1. cart controls ------------------------------------------------------------------------------


def test_tapping_any_pixel_column_of_update_never_removes_a_line(narrow):
    narrow.add("stoneware-mug", 2)
    narrow.add("chefs-knife")
    narrow.open("/cart")
    for line in narrow.find_all('[data-testid="cart-line"]'):
        update = line.find_element(narrow.by.CSS_SELECTOR, '[data-testid="update-line"]')
        narrow.js("arguments[0].scrollIntoView({block: 'center'})", update)
        box = narrow.rect(update)
        # Every pixel column across the middle of the button is the button; near its top and bottom
        # edges (rounded corners) a tap may miss it, but never lands on another control.
        missed = narrow.js("""
            const [button, box] = arguments; const missed = [];
            for (let x = Math.ceil(box.left); x < box.right; x++) {
              const middle = document.elementFromPoint(x, (box.top + box.bottom) / 2);
              if (!middle || middle.closest('button, a, input') !== button) missed.push([x, 'middle', middle && middle.outerHTML.slice(0, 60)]);
              for (const y of [box.top + 1, box.bottom - 1]) {
                const control = (document.elementFromPoint(x, y) || document.body).closest('button, a, input');
                if (control && control !== button) missed.push([x, y, control.outerHTML.slice(0, 60)]);
              }
            }
            return missed;""", update, box)
        assert not missed, f"a tap on Update hits something else: {missed[:5]}"
    # And real taps 2 px inside each edge of the first line's Update keep both lines.
    from selenium.webdriver.common.action_chains import ActionChains

    update = narrow.find('[data-testid="update-line"]')
    width = narrow.rect(update)["right"] - narrow.rect(update)["left"]
    for offset in (-width / 2 + 2, width / 2 - 2):
        ActionChains(narrow.driver).move_to_element_with_offset(update, int(offset), 0).click().perform()
        narrow.loaded()
        assert narrow.line_quantity("stoneware-mug") == 2 and narrow.line_quantity("chefs-knife") == 1
    narrow.screenshot("cart-controls")


def test_the_stepper_saves_at_once_without_a_reload_and_says_so(both):
    both.add("stoneware-mug")
    both.add("oak-cutting-board")
    both.open("/cart")
    both.js("window.sameDocument = true")
    line = both.find('[data-testid="cart-line"][data-product-id="stoneware-mug"]')
    plus = line.find_element(both.by.CSS_SELECTOR, '[data-step="1"]')
    both.click(plus)
    both.click(plus)
    both.wait.until(lambda _: both.line_quantity("stoneware-mug") == 3, message="the quantity was not saved")
    assert both.js("return window.sameDocument") is True, "the page reloaded"
    both.wait.until(lambda _: both.count() == 4)
    assert "$42.00 USD" in line.find_element(both.by.CSS_SELECTOR, "[data-line-total]").text
    assert both.find('[data-testid="cart-total"]').text.startswith("$")
    status = both.find("[data-cart-status]")
    assert status.get_attribute("aria-live") == "polite" and "quantity 3" in status.get_attribute("textContent")
    both.open("/cart")
    assert both.line_quantity("stoneware-mug") == 3
    # The stepper never goes below 1: taking a line out is Remove's job.
    minus = both.find('[data-testid="cart-line"][data-product-id="oak-cutting-board"] [data-step="-1"]')
    assert minus.get_attribute("aria-disabled") == "true"


def test_remove_then_undo_puts_the_line_back_with_its_quantity(both):
    both.add("stoneware-mug", 3)
    both.add("chefs-knife")
    both.open("/cart")
    both.click(both.find('[data-product-id="stoneware-mug"] [data-testid="remove-line"]'))
    both.wait.until(lambda _: both.find_all('[data-testid="undo-remove"]'))
    assert both.line_quantity("stoneware-mug") is None
    assert "Removed Stoneware Mug." in both.find('[data-testid="flash"]').text
    both.click(both.find('[data-testid="undo-remove"]'))
    both.wait.until(lambda _: both.line_quantity("stoneware-mug") == 3)
    assert both.count() == 4


# --- 3. typed quantities, Update's place, Back --------------------------------------------------------


def test_without_javascript_check_out_saves_a_typed_quantity_and_update_comes_back_at_the_line(phone):
    phone.add("stoneware-mug")
    phone.add("chefs-knife")
    phone.without_javascript()
    phone.open("/cart")
    field = phone.find("#quantity-chefs-knife")
    field.clear()
    field.send_keys("4")
    phone.click(phone.find('[data-product-id="chefs-knife"] [data-testid="update-line"]'))
    phone.wait.until(lambda d: d.current_url.endswith("/cart#line-chefs-knife"))
    phone.loaded()
    assert phone.line_quantity("chefs-knife") == 4
    assert phone.js("return scrollY") > 0 or phone.rect(phone.find("#line-chefs-knife"))["top"] < 100
    field = phone.find("#quantity-stoneware-mug")
    field.clear()
    field.send_keys("6")  # typed, never Updated
    phone.click(phone.find('[data-testid="checkout"]'))
    phone.wait.until(lambda d: "/cart" not in d.current_url)
    phone.open("/cart")
    assert phone.line_quantity("stoneware-mug") == 6, "Check out dropped the typed quantity"


def test_back_leaves_the_cart_in_one_press_after_updates(phone):
    phone.add("stoneware-mug")
    phone.open("/")
    phone.open("/cart")
    field = phone.find("#quantity-stoneware-mug")
    for quantity in ("2", "3"):
        field.clear()
        field.send_keys(quantity)
        phone.click(phone.find('[data-testid="update-line"]'))
        phone.wait.until(lambda _, q=quantity: phone.line_quantity("stoneware-mug") == int(q))
    phone.driver.back()
    phone.loaded()
    assert phone.driver.current_url == phone.base_url + "/"


# --- 6. the add-to-cart confirmation -------------------------------------------------------------------


def test_the_confirmation_covers_neither_the_next_button_nor_the_header_count(any_width):
    any_width.open("/")
    buttons = any_width.find_all('[data-testid="add-to-cart"]')
    for index in (0, 1, 4):
        any_width.open("/")
        buttons = any_width.find_all('[data-testid="add-to-cart"]')
        any_width.click(buttons[index])
        any_width.wait.until(lambda _: any_width.find_all('[data-testid="cart-notification"]'))
        toast = any_width.rect(any_width.find('[data-testid="cart-notification"]'))
        for name, element in (("pressed", buttons[index]), ("next", buttons[index + 1]),
                              ("header count", any_width.find('[data-testid="cart-count"]'))):
            box = any_width.rect(element)
            if name == "header count" and box["bottom"] <= 0:
                continue  # scrolled out of view: nothing to cover
            assert not overlap(toast, box), f"the confirmation covers the {name} button: {toast} {box}"
        message = any_width.js("const r = document.createRange(); r.selectNodeContents(arguments[0]);"
                               "return Array.from(r.getClientRects(), b => ({left: b.left, top: b.top, right: b.right, bottom: b.bottom}));",
                               any_width.find(".toast-message"))
        close = any_width.find(".toast-close")
        assert all(not overlap(part, any_width.rect(close)) for part in message), "Close covers the text"
        assert close.text == "Close" and not close.get_attribute("aria-label")
        view_cart = any_width.find(".toast-actions a")
        lines = any_width.js("const r = document.createRange(); r.selectNodeContents(arguments[0]);"
                             "return new Set(Array.from(r.getClientRects(), b => Math.round(b.top))).size;", view_cart)
        assert view_cart.text.startswith("View cart (") and lines == 1, "View cart (n) wraps"
        any_width.screenshot(f"confirmation-{index}")


def test_the_confirmation_closes_on_escape_on_close_and_on_a_tap_outside(phone):
    from selenium.webdriver.common.keys import Keys

    for how in ("escape", "close", "outside"):
        phone.open("/")
        phone.click(phone.find('[data-testid="add-to-cart"]'))
        phone.wait.until(lambda _: phone.find_all('[data-testid="cart-notification"]'))
        if how == "escape":
            phone.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        elif how == "close":
            phone.find(".toast-close").click()
        else:
            phone.find("h1").click()
        assert not phone.find_all('[data-testid="cart-notification"]'), f"still open after {how}"


# --- 7. the first screen, the header, Tab ------------------------------------------------------------------


def test_a_phones_first_screen_shows_a_row_of_products_and_add_to_cart(phone):
    phone.open("/")
    height = phone.js("return innerHeight")
    cards = phone.find_all('[data-testid="product-card"]')[:2]
    assert len({round(phone.rect(card)["top"]) for card in cards}) == 1
    for card in cards:
        button = card.find_element(phone.by.CSS_SELECTOR, '[data-testid="add-to-cart"]')
        assert phone.rect(card)["bottom"] <= height and phone.rect(button)["bottom"] <= height, \
            f"{card.get_attribute('data-product-id')} ends below the first screen"
    phone.open("/product/stoneware-mug")
    assert phone.rect(phone.find('[data-testid="add-to-cart"]'))["bottom"] <= height


def test_the_header_stays_one_row_whatever_the_username(any_width):
    username = LONG_USERNAME[:-len(any_width.view.name)] + any_width.view.name  # 31 characters, one per view
    any_width.register(username)
    parts = any_width.find_all(".header-bar .brand, .account > *")
    middles = {round((any_width.rect(part)["top"] + any_width.rect(part)["bottom"]) / 2) for part in parts}
    assert max(middles) - min(middles) <= 4, f"the header breaks into rows: {middles}"
    name = any_width.find(".current-user")
    assert name.get_attribute("title") == username
    assert username in any_width.find('[data-testid="current-user"]').get_attribute("textContent")
    any_width.screenshot("long-username")


def test_tab_goes_in_screen_order_on_a_phone(phone):
    from selenium.webdriver.common.keys import Keys

    phone.open("/")
    phone.find("body").send_keys(Keys.TAB)  # the skip link
    seen = []
    for _ in range(12):
        phone.driver.switch_to.active_element.send_keys(Keys.TAB)
        active = phone.driver.switch_to.active_element
        if active.get_attribute("data-testid") == "product-card" or active.tag_name == "main":
            break
        seen.append((phone.rect(active), active.text or active.get_attribute("placeholder")))
    for (before, name_a), (after, name_b) in zip(seen, seen[1:]):
        same_row = abs(after["top"] - before["top"]) < 8
        assert (same_row and after["left"] > before["left"]) or after["top"] >= before["bottom"] - 1, \
            f"Tab goes from {name_a!r} to {name_b!r} against the screen's order"


# --- 8. Post/Redirect/Get --------------------------------------------------------------------------------


def test_forms_redirect_so_the_address_and_back_never_resend(phone):
    phone.add("stoneware-mug")
    phone.without_javascript()
    phone.open("/cart")
    field = phone.find("#quantity-stoneware-mug")
    field.clear()
    field.send_keys("500")
    phone.click(phone.find('[data-testid="update-line"]'))
    phone.wait.until(lambda _: phone.find_all('[data-testid="field-error"]'))
    assert phone.driver.current_url == phone.base_url + "/cart"
    phone.driver.refresh()  # a GET: no "Confirm Form Resubmission", and the message was shown once
    phone.loaded()
    assert not phone.find_all('[data-testid="field-error"]')
    phone.open("/cart/update")
    assert phone.driver.current_url == phone.base_url + "/cart"
    phone.register("leaving-shopper")
    phone.click(phone.find('.account button[type="submit"]'))
    # Registering left a welcome message on the page the click leaves: wait for the next page's own.
    phone.wait.until(lambda _: phone.find('[data-testid="flash"]').text == "You are logged out.")
    assert not phone.find_all('[data-testid="current-user"]')


# --- 10. details ---------------------------------------------------------------------------------------


def test_details_rule_above_total_three_digits_currency_and_continue_shopping(both):
    both.add("stoneware-mug")
    both.open("/cart")
    label, amount = both.find("dt.grand-total"), both.find("dd.grand-total")
    assert abs(both.rect(label)["right"] - both.rect(amount)["left"]) < 0.5, "the rule above Total is broken"
    assert both.find('[data-testid="cart-total"]').text.endswith(" USD")
    assert both.find(".continue a").text == "Continue shopping"
    both.without_javascript()
    both.open("/cart")
    field = both.find("#quantity-stoneware-mug")
    field.clear()
    field.send_keys("100")
    assert both.js("return arguments[0].scrollWidth <= arguments[0].clientWidth", field), "3 digits are cut"
    assert not both.find_all("[data-error-summary][aria-labelledby]")


def test_order_times_show_in_the_shoppers_time_zone(phone):
    phone.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "America/Los_Angeles"})
    try:
        phone.register("time-zone-shopper")
        phone.add("stoneware-mug")
        BrowserShopper(phone.driver).check_out(phone.base_url)
        time = phone.find("time[data-local-time]")
        assert time.get_attribute("title").endswith("UTC")
        assert not time.text.endswith("UTC") and ("PST" in time.text or "PDT" in time.text), time.text
    finally:
        phone.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})
