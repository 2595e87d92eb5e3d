"""Issue 17 in headless Chromium: finding things (price filters, category names, ranking, "Did you
mean"), guest checkout, and addresses by country, with JavaScript and without.

One shop process (file store, SQLite) and one browser serve the module; each test starts with no cookies.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.e2e.conftest import ARTIFACTS, DEMO_PASSWORD, DEMO_USER, WAIT_SECONDS, running_shop

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PORTLAND = {"email": "dana@example.com", "name": "Dana Demo", "street": "1 SW Main St", "city": "Portland",
            "postcode": "97201"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with running_shop(tmp_path_factory.mktemp("finding-shop"), "file") as app:
        yield app


class Window:
    """The browser at one width, with no cookies, and the few things these tests do."""

    def __init__(self, driver, base_url: str, width: int) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select, WebDriverWait

        self.driver, self.base_url, self.by, self.Select = driver, base_url, By, Select
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 812 if width < 600 else 900, "deviceScaleFactor": 1, "mobile": width < 600,
        })
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
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

    def rect(self, element) -> dict:
        return self.driver.execute_script(
            "var r = arguments[0].getBoundingClientRect(); return {top: r.top, bottom: r.bottom};", element)

    def label(self, field: str) -> str:
        return self.find(f'label[for="ship-{field}"]').text

    def search(self, query: str) -> None:
        self.open("/")
        box = self.find("#search-q")
        box.send_keys(query)
        box.submit()
        self.wait.until(lambda d: "q=" in d.current_url)
        self.loaded()

    def card_ids(self) -> list[str]:
        return [card.get_attribute("data-product-id") for card in self.find_all('[data-testid="product-card"]')]

    def prices_cents(self) -> list[int]:
        return [round(float(re.sub(r"[^0-9.]", "", price.text)) * 100)
                for price in self.find_all('[data-testid="product-card"] .price')]

    def add(self, product_id: str) -> None:
        self.open(f"/product/{product_id}")
        before = int(self.find('[data-testid="cart-count"]').text or 0)
        self.find('[data-testid="add-to-cart"]').click()
        self.wait.until(lambda _: int(self.find('[data-testid="cart-count"]').text or 0) == before + 1)

    def fill(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            field = self.find(f"#ship-{name}")
            field.clear()
            field.send_keys(value)

    def place_order(self) -> str:
        self.find('[data-testid="place-order"]').click()
        self.wait.until(lambda _: self.find_all('[data-testid="order-id"]'))
        self.loaded()
        return self.find('[data-testid="order-id"]').text

    def address_lines(self) -> list[str]:
        return self.find('[data-testid="ship-address"]').text.splitlines()

    def axe_problems(self) -> list[str]:
        from axe_selenium_python import Axe

        axe = Axe(self.driver)
        axe.inject()
        return [f"{v['id']} ({v['impact']}): {v['help']}" for v in axe.run()["violations"]
                if v["impact"] in ("serious", "critical")]


@pytest.fixture
def phone(chromium, shop) -> Window:
    return Window(chromium, shop.url, 375)


@pytest.fixture
def laptop(chromium, shop) -> Window:
    return Window(chromium, shop.url, 1280)


# --- finding things -------------------------------------------------------------------------------------


def test_prices_under_max_price_30_are_all_at_most_30_dollars(laptop):
    laptop.open("/?max_price=30&sort=price-asc")
    prices = laptop.prices_cents()
    while laptop.find_all('[data-testid="page-next"]'):
        laptop.find('[data-testid="page-next"]').click()
        laptop.loaded()
        prices += laptop.prices_cents()
    assert prices and max(prices) <= 3000 and prices == sorted(prices)
    assert len(prices) == 16


def test_the_under_20_link_keeps_the_search_and_shows_only_cheaper_items(phone):
    phone.search("towel")
    links = {link.text: link for link in phone.find_all('[data-testid="price-filter"]')}
    assert {"Under $20", "$20 to $50", "Over $50"} <= set(links)
    links["Under $20"].click()
    phone.loaded()
    assert phone.card_ids() == ["linen-tea-towel"]
    assert all(price <= 2000 for price in phone.prices_cents())
    assert "q=towel" in phone.driver.current_url


def test_a_typo_suggests_the_teapot_and_the_suggestion_finds_it(phone):
    phone.search("teapott")
    assert phone.card_ids() == []
    suggestion = phone.find('[data-testid="did-you-mean"]')
    assert suggestion.text == "teapot"
    suggestion.click()
    phone.loaded()
    assert phone.card_ids() == ["cast-iron-teapot"]


def test_kitchen_finds_the_kitchen_and_tea_ranks_the_names_first(laptop):
    laptop.search("kitchen")
    assert sorted(laptop.card_ids()) == sorted(["stoneware-mug", "chefs-knife", "wooden-spoon-set",
                                                "cast-iron-teapot", "oak-cutting-board", "french-press"])
    laptop.search("tea")
    ids = laptop.card_ids()
    assert ids[:2] == ["linen-tea-towel", "cast-iron-teapot"]
    assert ids.index("stoneware-mug") > 1


def test_a_query_of_symbols_finds_nothing_and_says_so(phone):
    phone.search("!!!")
    assert phone.card_ids() == []
    assert "needs a word or a number" in phone.find('[data-testid="search-message"]').text


# --- guest checkout and addresses ----------------------------------------------------------------------


def test_a_guest_checks_out_with_email_and_a_us_address_then_finds_the_order(phone):
    phone.add("stoneware-mug")
    phone.open("/checkout")
    assert phone.find('[data-testid="checkout-login"]').get_attribute("href").endswith("/login?next=%2Fcheckout")
    assert (phone.label("country_area"), phone.label("postcode")) == ("State", "ZIP code")
    # On a phone the order summary sits above "Place order", below the fields.
    summary, button = phone.find(".summary h2"), phone.find('[data-testid="place-order"]')
    assert phone.rect(phone.find("#ship-postcode"))["bottom"] < phone.rect(summary)["top"] < phone.rect(button)["top"]

    phone.fill(PORTLAND)
    phone.find('[data-testid="place-order"]').click()
    phone.wait.until(lambda _: phone.find_all("[data-error-summary]"))
    assert "Please choose a state." in phone.find("[data-error-summary]").text
    phone.Select(phone.find("#ship-country_area")).select_by_visible_text("Oregon")
    problems = phone.axe_problems()
    order_id = phone.place_order()

    assert phone.address_lines() == ["Dana Demo", "1 SW Main St", "Portland, OR 97201", "United States"]
    assert phone.driver.page_source.count("Your order is placed.") == 1
    assert "session" in phone.find('[data-testid="guest-note"]').text
    order_url = phone.driver.current_url
    phone.open("/orders")
    assert [o.get_attribute("data-order-id") for o in phone.find_all('[data-testid="order"]')] == [order_id]

    # Another browser session, a guest with an order of its own: the first order is not theirs.
    phone.driver.delete_all_cookies()
    phone.add("oven-mitt")
    phone.open("/checkout")
    phone.fill({**PORTLAND, "email": "sam@example.com", "name": "Sam"})
    phone.Select(phone.find("#ship-country_area")).select_by_value("OR")
    phone.place_order()
    phone.driver.get(order_url)
    phone.loaded()
    assert phone.find("h1").text == "Page not found"
    assert not problems, problems


def test_canada_swaps_in_province_and_postal_code_without_a_reload(laptop):
    laptop.add("oak-cutting-board")
    laptop.open("/checkout")
    laptop.fill({"email": "lee@example.com", "name": "Lee", "street": "1 King St W", "city": "Toronto"})
    laptop.driver.execute_script("window.sameDocument = true")
    laptop.Select(laptop.find("#ship-country")).select_by_visible_text("Canada")
    assert (laptop.label("country_area"), laptop.label("postcode")) == ("Province", "Postal code")
    assert laptop.driver.execute_script("return window.sameDocument") is True
    assert laptop.find("#ship-city").get_attribute("value") == "Toronto"  # what was typed is kept
    laptop.Select(laptop.find("#ship-country_area")).select_by_visible_text("Ontario")
    laptop.fill({"postcode": "M5V 2T6"})
    problems = laptop.axe_problems()
    laptop.place_order()
    assert laptop.address_lines()[2:] == ["Toronto ON M5V 2T6", "Canada"]
    assert not problems, problems


def test_without_javascript_choosing_the_country_reloads_its_fields(laptop):
    laptop.add("bird-feeder")
    laptop.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        laptop.open("/checkout")
        laptop.Select(laptop.find("#ship-country")).select_by_visible_text("United Kingdom")
        assert laptop.label("postcode") == "ZIP code"  # nothing changes until the button is pressed
        laptop.find("[data-country-update]").click()
        laptop.wait.until(lambda d: "country=GB" in d.current_url)
        laptop.loaded()
        assert (laptop.label("country_area"), laptop.label("postcode")) == ("County (optional)", "Postcode")
        laptop.fill({"email": "ada@example.com", "name": "Ada", "street": "1 Harbour St", "city": "Bristol",
                     "postcode": "BS1 4DJ"})
        laptop.place_order()
        assert laptop.address_lines()[2:] == ["Bristol", "BS1 4DJ", "United Kingdom"]
    finally:
        laptop.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_an_order_placed_before_addresses_by_country_still_prints(laptop, shop):
    laptop.open("/login")
    laptop.find("#username").send_keys(DEMO_USER)
    laptop.find("#password").send_keys(DEMO_PASSWORD)
    laptop.find('[data-testid="login-submit"]').click()
    laptop.wait.until(lambda d: d.find_elements(laptop.by.CSS_SELECTOR, '[data-testid="current-user"]'))
    # As the shop stored orders before issue 17: no state, no email (the columns' defaults).
    with sqlite3.connect(shop.data_dir / "shop.db") as database:
        (demo_id,) = database.execute("SELECT id FROM users WHERE username = ?", (DEMO_USER,)).fetchone()
        order_id = database.execute(
            "INSERT INTO orders (user_id, created_at, ship_name, ship_street, ship_city, ship_postcode,"
            " ship_country, subtotal_cents, shipping_cents, total_cents, item_count)"
            " VALUES (?, '2025-01-02T03:04:05+00:00', 'Ada', '1 Road', 'Portland', '97201', 'US', 1400, 495, 1895, 1)",
            (demo_id,)).lastrowid
        database.execute("INSERT INTO order_lines VALUES (?, 0, 'mug', 'Old Mug', 1400, 1, 1400)", (order_id,))
    laptop.open(f"/orders/{order_id}")
    assert laptop.address_lines() == ["Ada", "1 Road", "Portland, 97201", "United States"]
    assert "Old Mug" in laptop.find("main").text
    ARTIFACTS.mkdir(exist_ok=True)
    laptop.driver.save_screenshot(str(ARTIFACTS / "finding-old-order-1280.png"))
