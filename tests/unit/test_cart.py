import pytest

from shop.cart import (
    MAX_QUANTITY,
    CartError,
    add_item,
    clean_cart,
    item_count,
    parse_quantity,
    price_cart,
    remove_item,
    set_quantity,
)
from shop.catalog import Catalog, Category, Product


@pytest.fixture
def catalog():
    return Catalog(
        [
            Product("mug", "Mug", "A mug.", 1400, "kitchen", "mug.svg"),
            Product("pen", "Pen", "A pen.", 400, "stationery", "pen.svg"),
            Product("rug", "Rug", "A rug.", 6400, "kitchen", "rug.svg"),
        ],
        [Category("kitchen", "Kitchen"), Category("stationery", "Stationery")],
    )


@pytest.mark.parametrize("raw, expected", [("1", 1), ("99", 99), (" 3 ", 3), ("07", 7)])
def test_parse_quantity_accepts_whole_numbers_in_range(raw, expected):
    assert parse_quantity(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "", "  ", "1.5", "-1", "+2", "0", "100", "1e2", "²", "٣", "9" * 5000])
def test_parse_quantity_rejects_anything_else(raw):
    with pytest.raises(CartError, match="Quantity must be a whole number from 1 to 99."):
        parse_quantity(raw)


def test_parse_quantity_accepts_zero_only_when_allowed():
    assert parse_quantity("0", allow_zero=True) == 0
    with pytest.raises(CartError, match="from 0 to 99"):
        parse_quantity("100", allow_zero=True)


def test_parse_quantity_uses_default_only_when_missing():
    assert parse_quantity(None, default=1) == 1
    with pytest.raises(CartError):
        parse_quantity("", default=1)
    with pytest.raises(CartError):
        parse_quantity(None)


def test_add_creates_and_then_grows_a_line(catalog):
    cart = add_item({}, catalog, "mug", 2)
    cart = add_item(cart, catalog, "mug", 3)
    assert cart == {"mug": 5}


def test_add_does_not_mutate_its_argument(catalog):
    cart = {"mug": 1}
    add_item(cart, catalog, "mug", 1)
    set_quantity(cart, catalog, "mug", 4)
    remove_item(cart, "mug")
    assert cart == {"mug": 1}


def test_add_rejects_unknown_product(catalog):
    with pytest.raises(CartError, match="That product does not exist."):
        add_item({}, catalog, "teleporter", 1)


def test_add_rejects_quantity_over_99(catalog):
    with pytest.raises(CartError):
        add_item({}, catalog, "mug", 100)


def test_add_rejects_a_line_growing_past_99(catalog):
    cart = {"mug": 98}
    assert add_item(cart, catalog, "mug", 1) == {"mug": MAX_QUANTITY}
    with pytest.raises(CartError, match="at most 99"):
        add_item(cart, catalog, "mug", 2)
    assert cart == {"mug": 98}


@pytest.mark.parametrize("quantity", [0, -1, True, 1.0, "1"])
def test_add_rejects_quantities_that_are_not_1_to_99(catalog, quantity):
    with pytest.raises(CartError):
        add_item({}, catalog, "mug", quantity)


def test_set_quantity_replaces_the_line(catalog):
    assert set_quantity({"mug": 5, "pen": 1}, catalog, "mug", 2) == {"mug": 2, "pen": 1}


def test_set_quantity_zero_removes_the_line(catalog):
    assert set_quantity({"mug": 5, "pen": 1}, catalog, "mug", 0) == {"pen": 1}


def test_set_quantity_rejects_unknown_product(catalog):
    with pytest.raises(CartError, match="does not exist"):
        set_quantity({"mug": 1}, catalog, "teleporter", 1)


def test_set_quantity_rejects_product_not_in_cart(catalog):
    with pytest.raises(CartError, match="not in your cart"):
        set_quantity({"mug": 1}, catalog, "pen", 1)


def test_set_quantity_rejects_over_99(catalog):
    with pytest.raises(CartError):
        set_quantity({"mug": 1}, catalog, "mug", 100)


def test_remove_deletes_the_line(catalog):
    assert remove_item({"mug": 1, "pen": 2}, "mug") == {"pen": 2}


def test_remove_rejects_a_missing_line():
    with pytest.raises(CartError, match="not in your cart"):
        remove_item({"mug": 1}, "pen")


def test_item_count_sums_quantities():
    assert item_count({}) == 0
    assert item_count({"mug": 2, "pen": 3}) == 5


def test_clean_cart_drops_malformed_lines():
    raw = {"mug": 2, "pen": "3", "rug": 0, "cup": 100, "jar": 1.5, "box": True, "bag": None, 7: 1, "ok": 99}
    assert clean_cart(raw) == {"mug": 2, "ok": 99}


@pytest.mark.parametrize("raw", [None, [], "mug", 3, [["mug", 1]]])
def test_clean_cart_turns_non_dicts_into_an_empty_cart(raw):
    assert clean_cart(raw) == {}


def test_price_cart_prices_lines_in_insertion_order(catalog):
    priced = price_cart({"pen": 3, "mug": 2}, catalog)
    assert [(line.product.id, line.quantity, line.unit_price_cents, line.line_total_cents) for line in priced.lines] == [
        ("pen", 3, 400, 1200),
        ("mug", 2, 1400, 2800),
    ]
    assert priced.subtotal_cents == 4000
    assert priced.shipping_cents == 495
    assert priced.total_cents == 4495
    assert priced.count == 5


def test_price_cart_ships_free_from_50_dollars(catalog):
    just_below = price_cart({"mug": 3, "pen": 1}, catalog)
    assert (just_below.subtotal_cents, just_below.shipping_cents) == (4600, 495)
    exactly = price_cart({"mug": 3, "pen": 2}, catalog)
    assert (exactly.subtotal_cents, exactly.shipping_cents, exactly.total_cents) == (5000, 0, 5000)


def test_price_cart_of_empty_cart_is_zero(catalog):
    priced = price_cart({}, catalog)
    assert priced.is_empty
    assert (priced.subtotal_cents, priced.shipping_cents, priced.total_cents, priced.count) == (0, 0, 0, 0)


def test_price_cart_skips_products_no_longer_sold(catalog):
    priced = price_cart({"discontinued": 4, "mug": 1, "pen": "junk"}, catalog)
    assert [line.product.id for line in priced.lines] == ["mug"]
    assert priced.count == 1
