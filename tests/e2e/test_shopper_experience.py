"""The shopper's experience in headless Chromium at a phone's width (375 px) and a laptop's (1280 px),
one test per finding of issue 11, an axe-core accessibility check of every page, and a screenshot of
every page at both widths in test-artifacts/ (ux-<page>-<width>.png).

One shop process and one browser serve the whole module; each test starts with no cookies.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import ARTIFACTS, DEMO_PASSWORD, DEMO_USER, WAIT_SECONDS, running_shop
from tests.e2e.layout import axe_findings, axe_source

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

WIDTHS = [375, 1280]
MIN_TAP_PX = 44
SHIPPING = {"name": "Dana Demo", "street": "1 Harbour Street", "city": "Springfield", "postcode": "12345"}


# --- one shop and one browser for the module -------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with running_shop(tmp_path_factory.mktemp("ux-shop"), "memory") as app:
        yield app


class Window:
    """The browser at one width, with the few things these tests look at."""

    def __init__(self, driver, base_url: str, width: int) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base_url, self.width, self.by = driver, base_url, width, By
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1)
        # The viewport itself at that width (a phone: touch, 812 px tall), not just the window.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 812 if width < 600 else 900, "deviceScaleFactor": 1, "mobile": width < 600,
        })
        driver.get(f"{base_url}/healthz")
        driver.delete_all_cookies()

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def find(self, css: str):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        return self.driver.find_elements(self.by.CSS_SELECTOR, css)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def rect(self, element) -> dict:
        return self.js("var r = arguments[0].getBoundingClientRect();"
                       "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height};",
                       element)

    def in_viewport(self, element) -> bool:
        r = self.rect(element)
        size = self.js("return [window.innerWidth, window.innerHeight]")
        return r["top"] >= 0 and r["left"] >= 0 and r["bottom"] <= size[1] and r["right"] <= size[0] and r["height"] > 0

    def active(self) -> dict:
        return self.js("var a = document.activeElement; return {tag: a.tagName.toLowerCase(),"
                       " testid: a.getAttribute('data-testid'), summary: a.hasAttribute('data-error-summary'),"
                       " inToast: !!a.closest('[data-testid=\"cart-notification\"]'), id: a.id}")

    def count(self) -> int:
        return int(self.find('[data-testid="cart-count"]').text)

    def log_in(self) -> None:
        self.open("/login")
        self.find("#username").send_keys(DEMO_USER)
        self.find("#password").send_keys(DEMO_PASSWORD)
        self.find('[data-testid="login-submit"]').click()
        self.wait.until(lambda d: d.find_elements(self.by.CSS_SELECTOR, '[data-testid="current-user"]'))

    def add_first_product(self) -> None:
        self.open("/product/stoneware-mug")
        self.find('[data-testid="add-to-cart"]').click()
        self.wait.until(lambda _: self.find_all('[data-testid="cart-notification"]'))

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"ux-{name}-{self.width}.png"))


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
def window(request, chromium, shop) -> Window:
    return Window(chromium, shop.url, request.param)


# --- 1 and 4: add-to-cart feedback and focus -------------------------------------------------------


def test_add_far_down_the_catalog_shows_a_confirmation_in_view_and_keeps_focus(window):
    window.open("/")
    button = window.find_all('[data-testid="add-to-cart"]')[-1]
    window.js("arguments[0].scrollIntoView({block: 'center'})", button)
    assert window.js("return window.scrollY") > 0 or window.width > 1000
    from selenium.webdriver.common.keys import Keys

    button.send_keys(Keys.ENTER)  # the keyboard's way: focus must not be lost to the page
    window.wait.until(lambda _: window.find_all('[data-testid="cart-notification"]'))
    toast = window.find('[data-testid="cart-notification"]')
    assert window.in_viewport(toast), "the confirmation is outside the viewport"
    assert "Added 1" in toast.text
    links = {a.text.strip(): a.get_attribute("href") for a in toast.find_elements(window.by.TAG_NAME, "a")}
    assert links.get("View cart (1)", "").endswith("/cart") and links.get("Check out", "").endswith("/checkout")
    assert window.active()["inToast"], f"focus is on {window.active()}, not the confirmation"
    assert "Added" in button.text, "the button does not show that it worked"
    assert window.count() == 1
    window.screenshot("add-confirmation")
    # Escape closes it and gives the focus back to the button that was pressed.
    window.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not window.find_all('[data-testid="cart-notification"]')
    assert window.active()["testid"] == "add-to-cart"


def test_product_page_confirmation_does_not_move_the_button(window):
    window.open("/product/camp-lantern")
    button = window.find('[data-testid="add-to-cart"]')
    in_page = "return arguments[0].getBoundingClientRect().top + window.scrollY"
    before = window.js(in_page, button)
    button.click()
    window.wait.until(lambda _: window.find_all('[data-testid="cart-notification"]'))
    assert window.js(in_page, button) == before
    assert window.in_viewport(window.find('[data-testid="cart-notification"]'))


def test_keyboard_focus_shows_a_visible_ring(window):
    from selenium.webdriver.common.keys import Keys

    window.open("/")
    window.find("body").send_keys(Keys.TAB)  # the skip link
    window.driver.switch_to.active_element.send_keys(Keys.TAB)
    style = window.js("var s = getComputedStyle(document.activeElement);"
                      "return [s.outlineStyle, parseFloat(s.outlineWidth)]")
    assert style[0] != "none" and style[1] >= 2, f"no focus ring: {style}"


# --- 2: sort and pages ------------------------------------------------------------------------------


def prices(window) -> list[int]:
    return [int(re.sub(r"\D", "", p.text)) for p in window.find_all('[data-testid="product-card"] .price')]


@pytest.mark.parametrize("sort", ["price-asc", "price-desc", "name"])
def test_sort_links_order_the_cards_and_pages_keep_the_sort(window, sort):
    window.open("/?category=kitchen")
    window.find(f'[data-testid="sort-option"][data-sort="{sort}"]').click()
    window.wait.until(lambda d: f"sort={sort}" in d.current_url)
    if sort == "name":
        names = [el.text for el in window.find_all(".card-title")]
        assert names == sorted(names, key=str.casefold)
    else:
        assert prices(window) == sorted(prices(window), reverse=sort == "price-desc")
    assert "category=kitchen" in window.driver.current_url
    window.open(f"/?sort={sort}")
    first_page = prices(window)
    window.find('[data-testid="page-next"]').click()
    window.wait.until(lambda d: "page=2" in d.current_url)
    assert f"sort={sort}" in window.driver.current_url
    if sort != "name":
        both = first_page + prices(window)
        assert both == sorted(both, reverse=sort == "price-desc")


def test_phone_catalog_shows_two_columns_and_twelve_cards(window):
    window.open("/")
    cards = window.find_all('[data-testid="product-card"]')
    assert len(cards) == 12
    tops = {round(window.rect(card)["top"]) for card in cards[:2]}
    assert len(tops) == 1, "the first two cards are not side by side"
    window.screenshot("catalog-grid")


# --- 3: the category bar ----------------------------------------------------------------------------


def test_every_category_pill_is_fully_visible_the_current_one_too(window):
    window.open("/product/camp-lantern")
    viewport = window.js("return window.innerWidth")
    pills = window.find_all(".categories a")
    assert len(pills) == 5
    for pill in pills:
        r = window.rect(pill)
        assert r["left"] >= 0 and r["right"] <= viewport, f"{pill.text!r} is cut off: {r}"
    current = window.find('.categories a[aria-current="page"]')
    assert current.text == "Outdoor"
    assert window.js("return document.documentElement.scrollWidth") <= viewport


# --- 5 and 6: errors next to their fields ------------------------------------------------------------


def test_product_quantity_150_shows_its_error_at_the_field(window):
    window.open("/product/stoneware-mug")
    field = window.find("#quantity")
    field.clear()
    field.send_keys("150")
    window.find('[data-testid="add-to-cart"]').click()
    window.wait.until(lambda _: window.find_all('[data-field="quantity"][data-testid="field-error"]'))
    error = window.find('[data-testid="field-error"]')
    assert "1 to 99" in error.text
    assert 0 <= window.rect(field)["top"] - window.rect(error)["bottom"] < 60, "the message is not at the field"
    assert field.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in field.get_attribute("aria-describedby")
    assert window.count() == 0
    window.screenshot("product-quantity-error")


def test_register_shows_every_error_and_focuses_the_summary(window):
    window.open("/register")
    window.find("#username").send_keys("x!")
    window.find("#password").send_keys("short")
    window.find('[data-testid="register-submit"]').click()
    window.wait.until(lambda _: window.find_all("[data-error-summary]"))
    assert window.active()["summary"], f"focus is on {window.active()}"
    summary = window.find("[data-error-summary]")
    assert [a.get_attribute("href").split("#")[1] for a in summary.find_elements(window.by.TAG_NAME, "a")] == \
        ["username", "password"]
    for name in ("username", "password"):
        assert window.find(f"#{name}").get_attribute("aria-invalid") == "true"
        assert window.find(f"#{name}-error").is_displayed()
    summary.find_elements(window.by.TAG_NAME, "a")[1].click()
    assert window.active()["id"] == "password"


def test_login_and_checkout_errors_focus_the_summary(window):
    window.open("/login")
    window.find('[data-testid="login-submit"]').click()
    window.wait.until(lambda _: window.find_all("[data-error-summary]"))
    assert window.active()["summary"]
    window.log_in()
    window.add_first_product()
    window.open("/checkout")
    window.find('[data-testid="place-order"]').click()
    window.wait.until(lambda _: window.find_all("[data-error-summary]"))
    assert window.active()["summary"]
    assert len(window.find_all('[data-testid="field-error"]')) == 5


def test_bad_cart_quantity_comes_back_to_the_cart_with_the_message_at_the_line(window):
    window.add_first_product()
    window.open("/cart")
    field = window.find("#quantity-stoneware-mug")
    field.clear()
    field.send_keys("500")
    field.submit()
    window.wait.until(lambda _: window.find_all('[data-testid="field-error"]'))
    line = window.find('[data-testid="cart-line"]')
    assert "0 to 99" in line.find_element(window.by.CSS_SELECTOR, '[data-testid="field-error"]').text
    assert line.get_attribute("data-quantity") == "1"
    assert window.find('[data-testid="checkout"]').is_displayed()
    # Saved (and so refused) without a reload (issue 17): the message is at the field, which keeps the focus.
    assert field.get_attribute("aria-invalid") == "true"
    assert window.active()["id"] == "quantity-stoneware-mug"
    window.screenshot("cart-quantity-error")


# --- 7: shipping explained ----------------------------------------------------------------------------


def test_cart_says_how_much_more_makes_shipping_free(window):
    window.add_first_product()  # $14.00
    window.open("/cart")
    assert "Add $36.00 more for free shipping" in window.find('[data-testid="shipping-note"]').text


# --- 8: card links read once ---------------------------------------------------------------------------


def test_card_link_reads_the_product_name_once(window):
    window.open("/")
    link = window.find('[data-testid="product-card"] .card-link')
    assert link.find_element(window.by.TAG_NAME, "img").get_attribute("alt") == ""
    assert window.js("return arguments[0].innerText.trim()", link) == "Stoneware Mug"


# --- 9: tap targets ---------------------------------------------------------------------------------------


def test_phone_tap_targets_are_at_least_44px(window):
    if window.width > 1000:
        pytest.skip("tap targets are a phone's concern")
    window.add_first_product()
    for path, selector in [
        ("/", ".account a"),
        ("/product/stoneware-mug", ".breadcrumbs a"),
        ("/cart", ".remove-button"),
        ("/cart", ".cart-link"),
    ]:
        window.open(path)
        elements = window.find_all(selector)
        assert elements, selector
        for element in elements:
            assert window.rect(element)["height"] >= MIN_TAP_PX, f"{path} {selector} {element.text!r}"
    window.log_in()
    for element in window.find_all(".account a, .account button"):
        assert window.rect(element)["height"] >= MIN_TAP_PX, element.text


# --- 10: confirmation, 404, search ---------------------------------------------------------------------


def test_order_confirmation_thanks_and_survives_a_reload(window):
    window.log_in()
    window.add_first_product()
    place_order(window)
    for _ in range(2):
        heading = window.find("h1").text
        assert "Thank you" in heading
        assert "What happens next" in window.find(".next-steps").text
        assert window.find('a.button[href="/"]').text == "Continue shopping"
        window.driver.refresh()
    assert re.fullmatch(r".*/orders/\d+", window.driver.current_url)


def test_404_explains_itself_below_the_heading_without_an_alert(window):
    window.open("/no/such/page")
    main = window.find("main")
    assert main.find_element(window.by.CSS_SELECTOR, "h1").text == "Page not found"
    assert not main.find_elements(window.by.CSS_SELECTOR, '[role="alert"], .flash-error')
    explanation = window.find('[data-testid="flash"]')
    assert window.rect(explanation)["top"] > window.rect(window.find("h1"))["top"]


def test_search_finds_plurals_and_split_words(window):
    for query, name in [("mugs", "Stoneware Mug"), ("tea pot", "Cast Iron Teapot")]:
        window.open("/")
        box = window.find("#search-q")
        box.send_keys(query)
        box.submit()
        window.wait.until(lambda d: "q=" in d.current_url)
        assert window.find(".card-title").text == name


def place_order(window) -> None:
    window.open("/checkout")
    for name, value in SHIPPING.items():
        window.find(f"#ship-{name}").send_keys(value)
    from selenium.webdriver.support.ui import Select

    Select(window.find("#ship-country")).select_by_value("DE")
    window.find('[data-testid="place-order"]').click()
    window.wait.until(lambda _: window.find_all('[data-testid="order-id"]'))


# --- accessibility and screenshots of every page -----------------------------------------------------------


def axe_problems(window) -> list[str]:
    """axe-core 4.x (npm, make node-tools): serious and critical violations. Issue 17's
    test_every_page_at_every_width.py holds every page to no violation of any impact."""
    return [each for each in axe_findings(window.driver, axe_source())
            if each.startswith("violation") and ("(serious)" in each or "(critical)" in each)]


def test_every_page_passes_axe_and_is_photographed(window):
    problems = {}

    def check(name: str) -> None:
        window.screenshot(name)
        found = axe_problems(window)
        if found:
            problems[name] = found

    window.open("/")
    check("catalog")
    window.open("/product/stoneware-mug")
    check("product")
    window.open("/cart")
    check("cart-empty")
    window.open("/no/such/page")
    check("404")
    window.open("/login")
    window.find('[data-testid="login-submit"]').click()
    window.wait.until(lambda _: window.find_all("[data-error-summary]"))
    check("login-errors")
    window.open("/register")
    window.find('[data-testid="register-submit"]').click()
    window.wait.until(lambda _: window.find_all("[data-error-summary]"))
    check("register-errors")
    window.log_in()
    window.add_first_product()
    check("product-added")
    window.open("/product/oak-cutting-board")
    window.find('[data-testid="add-to-cart"]').click()
    window.wait.until(lambda _: window.count() == 2)
    window.open("/cart")
    check("cart")
    window.open("/checkout")
    window.find('[data-testid="place-order"]').click()
    window.wait.until(lambda _: window.find_all("[data-error-summary]"))
    check("checkout-errors")
    place_order(window)
    check("order")
    window.open("/orders")
    check("orders")
    assert not problems, problems
