"""Checkout's steps, decided here and shown by handlers/checkout.py: the form's rules, then, with the
cart's holder locked (the account's record, or a guest's session), the order found or placed and the
holder changed to match. Every step returns what happened (an outcome), never an HTTP answer.

The holder is the dict that keeps the cart: `cart`, and beside it `guest_orders` (the ids of the
orders a guest's session placed) and `pending_checkout` (a checkout whose commit went unanswered,
settled at the next visit by `OrderStore.settle_checkout` and `settle`).

The database work is blocking and runs elsewhere: `place` awaits it through the runner it is handed,
`run(operation, function, *args)` (BaseHandler.run_database in the shop, one database call each)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shop.addresses import ShippingAddress, validate_shipping
from shop.cart import PricedCart, clean_cart, remove_ordered
from shop.db import DatabaseUnavailable
from shop.orders import MAX_GUEST_ORDERS, Order, OrderError, OrderStore, validate_email

# The holder's field naming a checkout whose outcome is not known yet: {"key": …, "user_id": …}.
PENDING_CHECKOUT = "pending_checkout"

DatabaseRunner = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CheckoutRequest:
    """What the person asked for: user_id None is a guest, who gives an email; checkout_key is the
    form's one-time key (None from a client that sends none: no protection against a second submit)."""

    user_id: int | None
    address: ShippingAddress
    email: str | None
    checkout_key: str | None


@dataclass(frozen=True)
class Placed:
    order: Order


@dataclass(frozen=True)
class AlreadyPlaced:
    """The form was submitted again (Back, then Place order): its order, and the cart left alone."""

    order: Order


@dataclass(frozen=True)
class EmptyCart:
    pass


@dataclass(frozen=True)
class Refused:
    """The order cannot be placed; message is for the shopper."""

    message: str


@dataclass(frozen=True)
class Unconfirmed:
    """The database did not answer while the order committed: it may be placed. The holder keeps the
    key as a pending checkout (and the cart as it is) for the next visit to settle."""

    error: DatabaseUnavailable


CheckoutOutcome = Placed | AlreadyPlaced | EmptyCart | Refused | Unconfirmed


def validate_checkout(form: dict[str, str], *, guest: bool) -> tuple[ShippingAddress | None, str | None,
                                                                     dict[str, str]]:
    """The shipping address, a guest's email (None for an account) and a message per refused field."""
    address, errors = validate_shipping(form)
    email = None
    if guest:
        email, email_error = validate_email(form["email"])
        if email_error:
            errors = {"email": email_error, **errors}
    return address, email, errors


async def place(run: DatabaseRunner, orders: OrderStore, holder: dict[str, Any], cart: PricedCart,
                request: CheckoutRequest) -> CheckoutOutcome:
    """Check out cart (as read from holder, which is locked): the key's order if this form placed one
    already, else a new order, the cart emptied and a guest's order remembered in holder. A database
    that cannot do the work raises DatabaseUnavailable, unless the order may have been placed."""
    key, user_id = request.checkout_key, request.user_id
    if key is not None:
        found = await run("find order", orders.find_by_checkout_key, user_id, key)
        # A guest's only if this session placed it: the key alone does not hand an order over.
        if found is not None and (user_id is not None or found.id in guest_order_ids(holder)):
            return AlreadyPlaced(found)
    if cart.is_empty:
        return EmptyCart()
    try:
        order = await run("place order", functools.partial(
            orders.place, user_id, cart, request.address, key, email=request.email))
    except OrderError as error:
        return Refused(str(error))
    except DatabaseUnavailable as error:
        if not (error.outcome_unknown and key is not None):
            raise
        holder[PENDING_CHECKOUT] = {"key": key, "user_id": user_id}
        return Unconfirmed(error)
    holder["cart"] = {}
    if user_id is None:
        holder["guest_orders"] = [*guest_order_ids(holder), order.id][-MAX_GUEST_ORDERS:]
    return Placed(order)


def pending_checkout(holder: dict[str, Any]) -> dict[str, Any] | None:
    """The holder's checkout whose outcome is not known yet, if it has one it can settle."""
    pending = holder.get(PENDING_CHECKOUT)
    if not isinstance(pending, dict) or not isinstance(pending.get("key"), str):
        return None
    return pending


def pending_user_id(pending: dict[str, Any]) -> int | None:
    """The account a pending checkout was for; None for a guest's."""
    return pending.get("user_id") if type(pending.get("user_id")) is int else None


def settle(holder: dict[str, Any], pending: dict[str, Any], order: Order | None) -> bool:
    """Settle pending in holder (locked), now that the database told its order (None: never placed):
    the marker goes, and a placed order's lines leave the cart. False, and nothing changed, if
    holder no longer holds pending (another request of this person settled it meanwhile)."""
    if holder.get(PENDING_CHECKOUT) != pending:
        return False
    del holder[PENDING_CHECKOUT]
    if order is not None:
        holder["cart"] = remove_ordered(clean_cart(holder.get("cart")),
                                        {line.product_id: line.quantity for line in order.lines})
        if order.user_id is None:
            holder["guest_orders"] = [*guest_order_ids(holder), order.id][-MAX_GUEST_ORDERS:]
    return True


def guest_order_ids(holder: dict[str, Any]) -> list[int]:
    """The ids of the orders this session placed as a guest, oldest first."""
    ids = holder.get("guest_orders")
    return [i for i in ids if type(i) is int] if isinstance(ids, list) else []
