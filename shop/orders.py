"""Orders stored with a snapshot of what was bought, an account's or a guest's (the address rules
are in shop/addresses.py)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from shop.addresses import ShippingAddress
from shop.cart import PricedCart
from shop.db import Database, Transaction
from shop.text import has_control_characters

# An email address as a shop needs it: something@somewhere.tld, no spaces, within RFC 5321's 254.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
MAX_EMAIL_LENGTH = 254
# How many of a guest's orders their session remembers (the newest).
MAX_GUEST_ORDERS = 50


FORM_EXPIRED = "This checkout form has expired. Please reload the checkout page and place your order again."


class OrderError(ValueError):
    """An order that cannot be placed; str(error) is a message for the shopper."""


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
    user_id: int | None  # None: a guest's order
    email: str | None  # the guest's address; None for an account's order
    created_at: datetime  # timezone-aware, UTC
    address: ShippingAddress
    lines: tuple[OrderLine, ...]
    subtotal_cents: int
    shipping_cents: int
    total_cents: int
    item_count: int


def validate_email(value: str) -> tuple[str | None, str | None]:
    """A guest's email address, stripped, or None and a message for the shopper."""
    value = value.strip()
    if not value:
        return None, "Please enter your email address."
    if len(value) > MAX_EMAIL_LENGTH or has_control_characters(value) or not _EMAIL.fullmatch(value):
        return None, "Please enter an email address like name@example.com."
    return value, None


CHECKOUT_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


# The name a checkout's transaction holds (Database.lock_name), followed by its key.
CHECKOUT_LOCK = "checkout:"


def new_checkout_key() -> str:
    """A one-time key for one checkout form: submitting it again finds the order it placed."""
    return secrets.token_urlsafe(16)


class OrderStore:
    """Orders in the shop's database. Blocking (the database): call from an executor.

    Raises shop.db.DatabaseUnavailable when the database cannot do the work.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def place(self, user_id: int | None, priced_cart: PricedCart, address: ShippingAddress,
              checkout_key: str | None = None, *, email: str | None = None) -> Order:
        """Store the order and its lines in one transaction, copying names and prices so later
        catalog changes do not rewrite it. user_id None is a guest's order, which needs an email.

        With a checkout_key, the key's order if one was placed already: a repeated submit of one
        form never places a second order, even when both arrive at once.
        """
        if not priced_cart.lines:
            raise OrderError("Your cart is empty.")
        if checkout_key is not None and not CHECKOUT_KEY_PATTERN.fullmatch(checkout_key):
            raise OrderError(FORM_EXPIRED)
        created_at = datetime.now(timezone.utc).replace(microsecond=0)
        with self._db.transaction("place order") as transaction:
            if checkout_key is not None:
                # Held until this commits or rolls back: settle_checkout waits for it.
                self._db.lock_name(transaction, CHECKOUT_LOCK + checkout_key)
            if user_id is None and not email:
                raise OrderError("Please enter your email address.")
            # A session can outlive its account (a database reset, a deleted user): say so, not crash.
            if user_id is not None and transaction.execute(
                "SELECT 1 FROM users WHERE id = ?", (user_id,)
            ).fetchone() is None:
                raise OrderError("We could not find your account. Please log out and log in again.")
            order_id = _insert_order(transaction, user_id, None if user_id is not None else email, created_at,
                                     address, priced_cart, checkout_key)
            if order_id is None:
                placed = _select(transaction, "checkout_key = ?", (checkout_key,))
                # A guest's key used already is another session's order (this session's would
                # have been found before placing): never hand it over.
                if not placed or user_id is None or placed[0].user_id != user_id:
                    raise OrderError(FORM_EXPIRED)
                return placed[0]
            transaction.executemany(
                "INSERT INTO order_lines (order_id, position, product_id, product_name,"
                " unit_price_cents, quantity, line_total_cents) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (order_id, position, line.product.id, line.product.name, line.unit_price_cents,
                     line.quantity, line.line_total_cents)
                    for position, line in enumerate(priced_cart.lines)
                ],
            )
            # Read back through the same path as every other read: one way to build an Order.
            return _select(transaction, "id = ?", (order_id,))[0]

    def settle_checkout(self, user_id: int | None, checkout_key: str) -> Order | None:
        """Like find_by_checkout_key, for a checkout whose outcome its request never learnt (the
        database hung during the commit): waits until no transaction placing this key is still
        running (one sent before the hang may finish after it), so None means it will never be."""
        if not CHECKOUT_KEY_PATTERN.fullmatch(checkout_key):
            return None
        with self._db.transaction("settle checkout") as transaction:
            self._db.lock_name(transaction, CHECKOUT_LOCK + checkout_key)
            condition = "user_id IS NULL" if user_id is None else "user_id = ?"
            parameters = (checkout_key,) if user_id is None else (user_id, checkout_key)
            orders = _select(transaction, f"{condition} AND checkout_key = ?", parameters)
        return orders[0] if orders else None

    def find_by_checkout_key(self, user_id: int | None, checkout_key: str) -> Order | None:
        """The user's order placed with this checkout form's key, if there is one; user_id None
        finds a guest's order (the key is the form's secret: only its holder can know it)."""
        if not CHECKOUT_KEY_PATTERN.fullmatch(checkout_key):
            return None
        if user_id is None:
            return self._select("user_id IS NULL AND checkout_key = ?", (checkout_key,))
        return self._select("user_id = ? AND checkout_key = ?", (user_id, checkout_key))

    def list_for_guest(self, order_ids: list[int]) -> list[Order]:
        """The guest orders among order_ids (the ids a guest's session keeps), newest first."""
        ids = [i for i in order_ids if type(i) is int and 0 < i < 2**63][-MAX_GUEST_ORDERS:]
        if not ids:
            return []
        with self._db.transaction("list orders", write=False) as transaction:
            return _select(transaction, f"user_id IS NULL AND id IN ({', '.join('?' * len(ids))})", tuple(ids))

    def get_for_guest(self, order_ids: list[int], order_id: int | str) -> Order | None:
        """The guest order order_id if it is among order_ids; None for anything else."""
        wanted = _order_id(order_id)
        if wanted is None or wanted not in order_ids:
            return None
        return self._select("user_id IS NULL AND id = ?", (wanted,))

    def list_for_user(self, user_id: int) -> list[Order]:
        """The user's orders, newest first."""
        with self._db.transaction("list orders", write=False) as transaction:
            return _select(transaction, "user_id = ?", (user_id,))

    def get_for_user(self, user_id: int, order_id: int | str) -> Order | None:
        """The order if it exists and belongs to the user; None for anything else, including junk ids."""
        wanted = _order_id(order_id)
        if wanted is None:
            return None
        return self._select("user_id = ? AND id = ?", (user_id, wanted))

    def _select(self, condition: str, parameters: tuple) -> Order | None:
        with self._db.transaction("read order", write=False) as transaction:
            orders = _select(transaction, condition, parameters)
        return orders[0] if orders else None


def _insert_order(transaction: Transaction, user_id: int | None, email: str | None, created_at: datetime,
                  address: ShippingAddress, priced_cart: PricedCart, checkout_key: str | None) -> int | None:
    """The new order's id; None if checkout_key placed an order already."""
    # DO NOTHING on a used key: the unique index decides, so two submits at once cannot both
    # insert; the second then finds the first's order.
    row = transaction.execute(
        "INSERT INTO orders (user_id, email, created_at, ship_name, ship_street, ship_city,"
        " ship_postcode, ship_country, ship_country_area, ship_city_area, subtotal_cents,"
        " shipping_cents, total_cents, item_count, checkout_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (checkout_key) DO NOTHING RETURNING id",
        (
            user_id,
            email,
            created_at.isoformat(),
            address.name,
            address.street,
            address.city,
            address.postcode,
            address.country,
            address.country_area,
            address.city_area,
            priced_cart.subtotal_cents,
            priced_cart.shipping_cents,
            priced_cart.total_cents,
            priced_cart.count,
            checkout_key,
        ),
    ).fetchone()
    return None if row is None else row["id"]


def _order_id(value: int | str) -> int | None:
    """An order id from a URL or a session, or None for junk."""
    if isinstance(value, str):
        return int(value) if re.fullmatch(r"[0-9]{1,18}", value) and int(value) > 0 else None
    # Database integers are 64-bit; a bigger one would raise instead of matching nothing.
    return value if type(value) is int and 0 < value < 2**63 else None


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
            email=row["email"],
            created_at=datetime.fromisoformat(row["created_at"]),
            address=ShippingAddress(
                name=row["ship_name"],
                street=row["ship_street"],
                city=row["ship_city"],
                postcode=row["ship_postcode"],
                country=row["ship_country"],
                country_area=row["ship_country_area"],
                city_area=row["ship_city_area"],
            ),
            lines=tuple(lines_by_order[row["id"]]),
            subtotal_cents=row["subtotal_cents"],
            shipping_cents=row["shipping_cents"],
            total_cents=row["total_cents"],
            item_count=row["item_count"],
        )
        for row in rows
    ]
