"""Checkout: the shipping address rules, and orders stored with a snapshot of what was bought."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from shop.cart import PricedCart
from shop.db import Database, Transaction
from shop.text import has_control_characters

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
_COUNTRY_NAMES = dict(COUNTRIES)

# field -> (label used in messages, maximum length)
_TEXT_FIELDS = {"name": ("your name", 100), "street": ("a street address", 200), "city": ("a city", 100)}
_POSTCODE = re.compile(r"[A-Za-z0-9 -]{3,10}")


FORM_EXPIRED = "This checkout form has expired. Please reload the checkout page and place your order again."


class OrderError(ValueError):
    """An order that cannot be placed; str(error) is a message for the shopper."""


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    street: str
    city: str
    postcode: str
    country: str  # a code from COUNTRIES

    @property
    def country_name(self) -> str:
        return _COUNTRY_NAMES.get(self.country, self.country)


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    name: str
    unit_price_cents: int
    quantity: int
    line_total_cents: int


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    created_at: datetime  # timezone-aware, UTC
    address: ShippingAddress
    lines: tuple[OrderLine, ...]
    subtotal_cents: int
    shipping_cents: int
    total_cents: int
    item_count: int


def validate_shipping(form: dict[str, str]) -> tuple[ShippingAddress | None, dict[str, str]]:
    """The address from the checkout form, or None and a message per bad field."""
    values = {field: str(form.get(field) or "").strip() for field in (*_TEXT_FIELDS, "postcode", "country")}
    errors: dict[str, str] = {}
    for field, (label, max_length) in _TEXT_FIELDS.items():
        value = values[field]
        if not value:
            errors[field] = f"Please enter {label}."
        elif len(value) > max_length:
            errors[field] = f"Please use at most {max_length} characters."
        elif has_control_characters(value):
            errors[field] = "Please use letters, digits and punctuation only (no invisible or control characters)."
    if not values["postcode"]:
        errors["postcode"] = "Please enter a postcode."
    elif not _POSTCODE.fullmatch(values["postcode"]):
        errors["postcode"] = "A postcode is 3 to 10 letters, digits, spaces or dashes."
    values["country"] = values["country"].upper()
    if values["country"] not in _COUNTRY_NAMES:
        errors["country"] = "Please choose a country from the list."
    if errors:
        return None, errors
    return ShippingAddress(**values), {}


CHECKOUT_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_checkout_key() -> str:
    """A one-time key for one checkout form: submitting it again finds the order it placed."""
    return secrets.token_urlsafe(16)


class OrderStore:
    """Orders in the shop's database. Blocking (the database): call from an executor.

    Raises shop.db.DatabaseUnavailable when the database cannot do the work.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def place(self, user_id: int, priced_cart: PricedCart, address: ShippingAddress,
              checkout_key: str | None = None) -> Order:
        """Store the order and its lines in one transaction, copying names and prices so later
        catalog changes do not rewrite it.

        With a checkout_key, the key's order if one was placed already: a repeated submit of one
        form never places a second order, even when both arrive at once.
        """
        if not priced_cart.lines:
            raise OrderError("Your cart is empty.")
        if checkout_key is not None and not CHECKOUT_KEY_PATTERN.fullmatch(checkout_key):
            raise OrderError(FORM_EXPIRED)
        created_at = datetime.now(timezone.utc).replace(microsecond=0)
        with self._db.transaction("place order") as transaction:
            # A session can outlive its account (a database reset, a deleted user): say so, not crash.
            if transaction.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise OrderError("We could not find your account. Please log out and log in again.")
            # DO NOTHING on a used key: the unique index decides, so two submits at once cannot
            # both insert; the second then finds the first's order below.
            row = transaction.execute(
                "INSERT INTO orders (user_id, created_at, ship_name, ship_street, ship_city,"
                " ship_postcode, ship_country, subtotal_cents, shipping_cents, total_cents, item_count,"
                " checkout_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (checkout_key) DO NOTHING RETURNING id",
                (
                    user_id,
                    created_at.isoformat(),
                    address.name,
                    address.street,
                    address.city,
                    address.postcode,
                    address.country,
                    priced_cart.subtotal_cents,
                    priced_cart.shipping_cents,
                    priced_cart.total_cents,
                    priced_cart.count,
                    checkout_key,
                ),
            ).fetchone()
            if row is None:
                placed = _select(transaction, "checkout_key = ?", (checkout_key,))
                if not placed or placed[0].user_id != user_id:
                    raise OrderError(FORM_EXPIRED)
                return placed[0]
            transaction.executemany(
                "INSERT INTO order_lines (order_id, position, product_id, product_name,"
                " unit_price_cents, quantity, line_total_cents) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (row["id"], position, line.product.id, line.product.name, line.unit_price_cents,
                     line.quantity, line.line_total_cents)
                    for position, line in enumerate(priced_cart.lines)
                ],
            )
            # Read back through the same path as every other read: one way to build an Order.
            return _select(transaction, "id = ?", (row["id"],))[0]

    def find_by_checkout_key(self, user_id: int, checkout_key: str) -> Order | None:
        """The user's order placed with this checkout form's key, if there is one."""
        if not CHECKOUT_KEY_PATTERN.fullmatch(checkout_key):
            return None
        return self._select("user_id = ? AND checkout_key = ?", (user_id, checkout_key))

    def list_for_user(self, user_id: int) -> list[Order]:
        """The user's orders, newest first."""
        with self._db.transaction("list orders", write=False) as transaction:
            return _select(transaction, "user_id = ?", (user_id,))

    def get_for_user(self, user_id: int, order_id: int | str) -> Order | None:
        """The order if it exists and belongs to the user; None for anything else, including junk ids."""
        if isinstance(order_id, str):
            if not re.fullmatch(r"[0-9]{1,18}", order_id):
                return None
            order_id = int(order_id)
        # Database integers are 64-bit; a bigger one would raise instead of matching nothing.
        elif type(order_id) is not int or not 0 < order_id < 2**63:
            return None
        return self._select("user_id = ? AND id = ?", (user_id, order_id))

    def _select(self, condition: str, parameters: tuple) -> Order | None:
        with self._db.transaction("read order", write=False) as transaction:
            orders = _select(transaction, condition, parameters)
        return orders[0] if orders else None


def _select(transaction: Transaction, condition: str, parameters: tuple) -> list[Order]:
    """Orders matching an SQL condition on the orders table (a constant, never user text), newest first."""
    rows = transaction.execute(
        f"SELECT * FROM orders WHERE {condition} ORDER BY id DESC", parameters
    ).fetchall()
    line_rows = transaction.execute(
        f"SELECT * FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE {condition})"
        " ORDER BY order_id, position",
        parameters,
    ).fetchall()
    lines_by_order: dict[int, list[OrderLine]] = {row["id"]: [] for row in rows}
    for line in line_rows:
        lines_by_order[line["order_id"]].append(
            OrderLine(
                product_id=line["product_id"],
                name=line["product_name"],
                unit_price_cents=line["unit_price_cents"],
                quantity=line["quantity"],
                line_total_cents=line["line_total_cents"],
            )
        )
    return [
        Order(
            id=row["id"],
            user_id=row["user_id"],
            created_at=datetime.fromisoformat(row["created_at"]),
            address=ShippingAddress(
                name=row["ship_name"],
                street=row["ship_street"],
                city=row["ship_city"],
                postcode=row["ship_postcode"],
                country=row["ship_country"],
            ),
            lines=tuple(lines_by_order[row["id"]]),
            subtotal_cents=row["subtotal_cents"],
            shipping_cents=row["shipping_cents"],
            total_cents=row["total_cents"],
            item_count=row["item_count"],
        )
        for row in rows
    ]
