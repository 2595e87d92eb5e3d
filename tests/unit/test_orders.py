from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from shop.cart import price_cart
from shop.catalog import Catalog, Category, Product
from shop.db import Database
from shop.orders import COUNTRIES, OrderError, OrderStore, ShippingAddress, validate_shipping
from shop.users import PasswordHasher, UserStore

GOOD_FORM = {
    "name": "Ada Lovelace",
    "street": "12 St James's Square",
    "city": "London",
    "postcode": "SW1Y 4JH",
    "country": "GB",
}
ADDRESS = ShippingAddress("Ada Lovelace", "12 St James's Square", "London", "SW1Y 4JH", "GB")


def make_catalog(mug_price=1400):
    return Catalog(
        [
            Product("mug", "Mug", "A mug.", mug_price, "kitchen", "mug.svg"),
            Product("pen", "Pen", "A pen.", 400, "kitchen", "pen.svg"),
        ],
        [Category("kitchen", "Kitchen")],
    )


@pytest.fixture
def orders(db):
    return OrderStore(db)


@pytest.fixture
def user_ids(db):
    # A cheap hasher: these tests are about orders, not passwords.
    users = UserStore(db, PasswordHasher(n=2**4))
    return users.register("alice", "password1").id, users.register("bob", "password2").id


def test_validate_shipping_accepts_a_good_address_and_strips_values():
    form = {field: f"  {value}  " for field, value in GOOD_FORM.items()}
    assert validate_shipping(form) == (ADDRESS, {})


def test_validate_shipping_requires_every_field():
    address, errors = validate_shipping({})
    assert address is None
    assert set(errors) == {"name", "street", "city", "postcode", "country"}
    assert errors["name"] == "Please enter your name."


def test_validate_shipping_treats_blank_as_missing():
    address, errors = validate_shipping({**GOOD_FORM, "city": "   "})
    assert address is None and set(errors) == {"city"}


@pytest.mark.parametrize("field, limit", [("name", 100), ("street", 200), ("city", 100)])
def test_validate_shipping_limits_lengths(field, limit):
    assert validate_shipping({**GOOD_FORM, field: "x" * limit})[1] == {}
    assert set(validate_shipping({**GOOD_FORM, field: "x" * (limit + 1)})[1]) == {field}


def test_validate_shipping_rejects_control_characters():
    assert set(validate_shipping({**GOOD_FORM, "street": "1 Main St\nEvil: header"})[1]) == {"street"}


@pytest.mark.parametrize("postcode", ["12", "12345678901", "SW1Y_4JH", "<b>", "12\n34"])
def test_validate_shipping_rejects_bad_postcodes(postcode):
    assert set(validate_shipping({**GOOD_FORM, "postcode": postcode})[1]) == {"postcode"}


@pytest.mark.parametrize("postcode", ["123", "90210", "K1A 0B1", "1011-AB", "ABCDE12345"])
def test_validate_shipping_accepts_postcodes(postcode):
    assert validate_shipping({**GOOD_FORM, "postcode": postcode})[1] == {}


@pytest.mark.parametrize("country", ["", "XX", "United Kingdom", "G"])
def test_validate_shipping_rejects_unsupported_countries(country):
    assert set(validate_shipping({**GOOD_FORM, "country": country})[1]) == {"country"}


def test_validate_shipping_accepts_every_listed_country_code():
    for code, name in COUNTRIES:
        address, errors = validate_shipping({**GOOD_FORM, "country": code.lower()})
        assert errors == {} and address.country == code and address.country_name == name


def test_place_stores_the_order_with_its_lines_and_totals(orders, user_ids):
    alice, _ = user_ids
    order = orders.place(alice, price_cart({"mug": 2, "pen": 1}, make_catalog()), ADDRESS)
    assert isinstance(order.id, int)
    assert order.created_at.tzinfo == timezone.utc
    assert abs((datetime.now(timezone.utc) - order.created_at).total_seconds()) < 60
    assert [(l.product_id, l.name, l.unit_price_cents, l.quantity, l.line_total_cents) for l in order.lines] == [
        ("mug", "Mug", 1400, 2, 2800),
        ("pen", "Pen", 400, 1, 400),
    ]
    assert (order.subtotal_cents, order.shipping_cents, order.total_cents, order.item_count) == (3200, 495, 3695, 3)
    assert orders.get_for_user(alice, order.id) == order


def test_place_refuses_an_empty_cart(orders, user_ids):
    with pytest.raises(OrderError, match="Your cart is empty."):
        orders.place(user_ids[0], price_cart({}, make_catalog()), ADDRESS)
    assert orders.list_for_user(user_ids[0]) == []


def test_place_refuses_an_account_that_no_longer_exists(orders, user_ids):
    with pytest.raises(OrderError, match="log in again"):
        orders.place(max(user_ids) + 1000, price_cart({"mug": 1}, make_catalog()), ADDRESS)


def test_stored_order_keeps_the_prices_it_was_placed_at(orders, user_ids):
    alice, _ = user_ids
    placed = orders.place(alice, price_cart({"mug": 1}, make_catalog(mug_price=1400)), ADDRESS)
    repriced = make_catalog(mug_price=9900)
    assert repriced.get("mug").price_cents == 9900
    stored = orders.get_for_user(alice, placed.id)
    assert stored.lines[0].unit_price_cents == 1400
    assert stored.total_cents == 1400 + 495


def test_list_for_user_is_newest_first_and_only_theirs(orders, user_ids):
    alice, bob = user_ids
    catalog = make_catalog()
    first = orders.place(alice, price_cart({"mug": 1}, catalog), ADDRESS)
    orders.place(bob, price_cart({"pen": 1}, catalog), ADDRESS)
    second = orders.place(alice, price_cart({"pen": 2}, catalog), ADDRESS)
    assert [order.id for order in orders.list_for_user(alice)] == [second.id, first.id]
    assert [order.lines[0].product_id for order in orders.list_for_user(alice)] == ["pen", "mug"]


def test_get_for_user_hides_another_users_order(orders, user_ids):
    alice, bob = user_ids
    order = orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS)
    assert orders.get_for_user(bob, order.id) is None
    assert orders.get_for_user(bob, str(order.id)) is None


def test_get_for_user_accepts_the_id_as_text(orders, user_ids):
    alice, _ = user_ids
    order = orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS)
    assert orders.get_for_user(alice, str(order.id)) == order


@pytest.mark.parametrize("order_id", ["abc", "", "1.0", "-1", " 1", "9" * 40, 2**70, None, 1.0, 999])
def test_get_for_user_returns_none_for_junk_or_unknown_ids(orders, user_ids, order_id):
    orders.place(user_ids[0], price_cart({"mug": 1}, make_catalog()), ADDRESS)
    assert orders.get_for_user(user_ids[0], order_id) is None


def test_orders_survive_reopening_the_database(tmp_path, user_ids, orders, db):
    alice, _ = user_ids
    order = orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS)
    db.close()
    reopened = Database(tmp_path / "shop.sqlite3")
    assert OrderStore(reopened).get_for_user(alice, order.id) == order
    reopened.close()


def test_orders_placed_from_many_threads_are_all_stored(orders, user_ids):
    alice, _ = user_ids
    cart = price_cart({"mug": 1}, make_catalog())
    with ThreadPoolExecutor(max_workers=8) as executor:
        placed = list(executor.map(lambda _: orders.place(alice, cart, ADDRESS).id, range(40)))
    assert len(set(placed)) == 40
    assert sorted(order.id for order in orders.list_for_user(alice)) == sorted(placed)
