"""The checkout form's address rules (storing orders: tests/db/test_orders.py)."""

import pytest

from shop.orders import COUNTRIES, ShippingAddress, validate_shipping

GOOD_FORM = {
    "name": "Ada Lovelace",
    "street": "12 St James's Square",
    "city": "London",
    "postcode": "SW1Y 4JH",
    "country": "GB",
}
ADDRESS = ShippingAddress("Ada Lovelace", "12 St James's Square", "London", "SW1Y 4JH", "GB")


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
