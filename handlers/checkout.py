"""Checkout: the shipping form, then the order placed and the cart emptied while the cart (the
account's record in the session store) is locked. The steps and their rules are shop/checkout.py's;
this module shows each outcome (a redirect, a message, a status).

A visitor chooses between logging in (the cart is kept) and checking out as a guest with an email
address: a guest's order belongs to no account, and their session keeps its id (`guest_orders`),
which is what lets them see it. The address form follows the country, chosen first
(shop/addresses.py): without JavaScript its own small form reloads the page as `/checkout?country=XX`;
with it, static/js/address.js swaps the fields in place.

The order (the database) and the emptied cart (the session store) are two writes: if the second
fails, the person is told that the order stands and the cart could not be emptied; the form's
one-time key makes a resubmit show that order instead of placing another. If the database hangs
while the order commits, nobody knows whether it was placed: the session keeps the form's key as a
pending checkout, and the person's next visit to the cart, checkout or orders settles it (the order
exists: its lines leave the cart and the person is shown it; it does not: the cart stays as it is)."""

from __future__ import annotations

import logging
import urllib.parse

from handlers.base import BaseHandler
from handlers.errors import ShopError
from shop import checkout
from shop.addresses import ADDRESS_FIELDS, COUNTRIES, COUNTRY_NAMES, DEFAULT_COUNTRY, ShippingAddress, fields_for
from shop.checkout import (
    PENDING_CHECKOUT, AlreadyPlaced, CheckoutOutcome, CheckoutRequest, EmptyCart, Placed, Refused, Unconfirmed,
    pending_checkout, pending_user_id, validate_checkout,
)
from shop.db import DatabaseUnavailable
from shop.orders import CHECKOUT_KEY_PATTERN, FORM_EXPIRED, Order, new_checkout_key

log = logging.getLogger("shop.checkout")

FORM_FIELDS = ("email", *ADDRESS_FIELDS, "country")
UNKNOWN_COUNTRY = "We do not ship to that country. Please choose one from the list."
ORDER_PLACED_CART_KEPT = (
    "Your order #{order_id} is placed, but we could not empty your cart just now. "
    "Please do not check out again; remove its items when the shop is back."
)
# The hidden field of the checkout form shown to a logged-in person: a POST carrying it without a
# login is an account whose session ended, not a guest.
ACCOUNT_FORM_FIELD = "for_account"
EMPTY_CART = "Your cart is empty. Add something to it before checking out."
ALREADY_PLACED = "This order was already placed; here it is. Nothing was ordered twice."
ORDER_UNCONFIRMED = (
    "Our orders database is not answering, so we could not confirm whether your order was placed. "
    "Your cart is kept for now: come back in a minute and we will check, and show you the order if "
    "it was placed. Please do not order again until then."
)
STILL_SETTLING = (
    "We are still checking whether your last order was placed, so we cannot place another yet. "
    "Nothing was changed; please try again in a minute."
)
SETTLED_PLACED = "Your order #{order_id} was placed after all. Its items have left your cart."


class CheckoutHandler(BaseHandler):
    async def prepare(self) -> None:
        await super().prepare()
        # Whether this is a guest or an account decides the form: read the session for the POST too.
        await self.load_session()

    async def get(self) -> None:
        if await show_settled_checkout(self):
            return
        cart = self.cart
        if cart.is_empty:
            # No message: the cart page says it is empty (Back from an order said it twice).
            self.redirect("/cart", status=303)
            return
        refused = self.take_refused_form()
        if isinstance(refused.get("form"), dict) and isinstance(refused.get("errors"), dict):
            # The form as it was sent, with its messages, after the redirect (Post/Redirect/Get).
            form = {field: str(refused["form"].get(field, "")) for field in FORM_FIELDS}
            key = refused.get("checkout_key")
            await self.show_form(cart=cart, form=form, errors={k: str(v) for k, v in refused["errors"].items()},
                                 checkout_key=key if isinstance(key, str) and CHECKOUT_KEY_PATTERN.fullmatch(key) else None)
            return
        country = self.get_query_argument("country", "").strip().upper() or DEFAULT_COUNTRY
        if country not in COUNTRY_NAMES:
            raise ShopError(400, UNKNOWN_COUNTRY)
        form = {field: "" for field in FORM_FIELDS}
        form["country"] = country
        await self.show_form(cart=cart, form=form, errors={})

    async def post(self) -> None:
        if self.current_user is None and self.get_body_argument(ACCOUNT_FORM_FIELD, None) is not None:
            # The form was an account's, and its login ended meanwhile (it ran out, or was ended
            # from another device): not a guest's checkout; log in and come back to it.
            self.session_ended("/checkout")
            return
        form, refused = self.form_values(FORM_FIELDS)
        # The form's one-time key: a second submit of the same form finds the order, never places
        # another. A client that sends none (a script, an old page) gets no such protection.
        checkout_key = self.get_body_argument("checkout_key", None)
        if checkout_key is not None and not CHECKOUT_KEY_PATTERN.fullmatch(checkout_key):
            raise ShopError(400, FORM_EXPIRED)
        address, email, errors = validate_checkout(form, guest=self.current_user is None)
        if refused:
            address, errors = None, {**errors, **refused}
        if errors:
            await self.show_refused(form, errors, checkout_key)
            return
        if await show_settled_checkout(self):
            return
        if self.cart_holder.get(PENDING_CHECKOUT):
            raise ShopError(503, STILL_SETTLING)
        await self.check_out(address, email, checkout_key)

    async def show_refused(self, form: dict[str, str], errors: dict[str, str], checkout_key: str | None) -> None:
        if self.is_navigation():
            # In a browser: back to the form by a redirect, so Back after the order never asks
            # to send the form again.
            self.redirect_refused("/checkout", {"form": {k: v[:200] for k, v in form.items()}, "errors": errors,
                                                "checkout_key": checkout_key})
            return
        await self.show_form(status=400, cart=self.cart, form=form, errors=errors, checkout_key=checkout_key)

    async def check_out(self, address: ShippingAddress, email: str | None, checkout_key: str | None) -> None:
        """Checkout's steps (shop/checkout.py) while the cart is locked, and their outcome shown: a
        second tab (or device) placing the same cart at the same moment waits, then finds the cart
        already empty."""
        outcome = None
        try:
            async with self.update_cart() as holder:
                request = CheckoutRequest(self.current_user["id"] if self.current_user else None,
                                          address, email, checkout_key)
                # self.cart as read under the lock.
                outcome = await checkout.place(self.run_database, self.orders, holder, self.cart, request)
                if isinstance(outcome, Refused):
                    raise ShopError(400, outcome.message)
                if isinstance(outcome, Placed):
                    self.application.metrics.order_placed()
        except ShopError as error:
            if not isinstance(outcome, Placed):
                raise
            # "Nothing was changed" would be false now: say the order stands.
            order = outcome.order
            log.warning("order %d placed, but the emptied cart could not be saved (%d)", order.id, error.status_code)
            self.flash(ORDER_PLACED_CART_KEPT.format(order_id=order.id), "error")
            self.redirect(f"/orders/{order.id}", status=303)
            return
        self.show_outcome(outcome)

    def show_outcome(self, outcome: CheckoutOutcome) -> None:
        if isinstance(outcome, Unconfirmed):
            log.warning("order outcome unknown, to be settled at the next visit: %s", outcome.error)
            raise ShopError(503, ORDER_UNCONFIRMED, retry_after=60)
        if isinstance(outcome, AlreadyPlaced):
            self.flash(ALREADY_PLACED, "success")
            self.redirect(f"/orders/{outcome.order.id}", status=303)
        elif isinstance(outcome, EmptyCart):
            self.flash(EMPTY_CART)
            self.redirect("/cart", status=303)
        elif isinstance(outcome, Placed):
            order = outcome.order
            # No flash: the order page itself says "Your order is placed." (once).
            log.info("order %d placed by %s (%d items)", order.id,
                     f"user {order.user_id}" if order.user_id is not None else "a guest", order.item_count)
            self.redirect(f"/orders/{order.id}", status=303)

    async def show_form(self, *, status: int = 200, checkout_key: str | None = None, **context) -> None:
        form = context["form"]
        country = form["country"].strip().upper()
        chosen = country if country in COUNTRY_NAMES else DEFAULT_COUNTRY
        await self.render_page(
            "checkout.html", status=status, countries=COUNTRIES, country=chosen,
            address_fields=fields_for(chosen),
            # Every country's fields, for the page's script to swap in without a request.
            all_fields=[(code, fields_for(code)) for code, _ in COUNTRIES],
            guest=self.current_user is None, login_url="/login?" + urllib.parse.urlencode({"next": "/checkout"}),
            checkout_key=checkout_key or new_checkout_key(), **context,
        )


async def show_settled_checkout(handler: BaseHandler, *, database_next: bool = False) -> bool:
    """Settle this person's pending checkout, if there is one; True when it turned out placed, and
    the answer is then a redirect to that order. While the database still does not answer, it stays
    pending, and the page is shown as it is; unless database_next (the page reads the database
    next, which would wait its whole timeout once more): then the page is the database's 503 at once."""
    order = await settle_pending_checkout(handler, reraise=database_next)
    if order is None:
        return False
    handler.flash(SETTLED_PLACED.format(order_id=order.id), "success")
    handler.redirect(f"/orders/{order.id}", status=303)
    return True


async def settle_pending_checkout(handler: BaseHandler, *, reraise: bool = False) -> Order | None:
    """The order of this session's pending checkout if it was placed after all (its lines then
    leave the cart); None if there is none pending, it was not placed (the marker goes), or the
    database still does not answer (the marker stays, for the next visit; with reraise, its
    DatabaseUnavailable is raised)."""
    await handler.load_session()
    pending = pending_checkout(handler.cart_holder)
    if pending is None:
        return None
    try:
        # Waits for a transaction placing that key that is still running, so "none" is final.
        order = await handler.run_database("settle checkout", handler.orders.settle_checkout,
                                           pending_user_id(pending), pending["key"])
    except DatabaseUnavailable as error:
        log.info("pending checkout not settled yet: %s", error)
        if reraise:
            raise
        return None
    async with handler.update_cart() as holder:
        if not checkout.settle(holder, pending, order):
            return None  # another request of this person settled it meanwhile
    log.info("pending checkout settled: %s", f"order {order.id} was placed" if order else "nothing was placed")
    return order
