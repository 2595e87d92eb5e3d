"""Checkout: the shipping form, then the order placed and the cart emptied while the session is locked.

The order (the database) and the emptied cart (the session store) are two writes: if the second
fails, the person is told that the order stands and the cart could not be emptied; the form's
one-time key makes a resubmit show that order instead of placing another."""

from __future__ import annotations

import logging

import tornado.web
from tornado.ioloop import IOLoop

from handlers.base import BaseHandler, ShopError
from shop.orders import (
    CHECKOUT_KEY_PATTERN, COUNTRIES, FORM_EXPIRED, OrderError, new_checkout_key, validate_shipping,
)

log = logging.getLogger("shop.checkout")

SHIPPING_FIELDS = ("name", "street", "city", "postcode", "country")
ORDER_PLACED_CART_KEPT = (
    "Your order #{order_id} is placed, but we could not empty your cart just now. "
    "Please do not check out again; remove its items when the shop is back."
)
EMPTY_CART = "Your cart is empty. Add something to it before checking out."
ALREADY_PLACED = "This order was already placed; here it is. Nothing was ordered twice."


class CheckoutHandler(BaseHandler):
    async def prepare(self) -> None:
        await super().prepare()
        # @tornado.web.authenticated reads current_user, which get_current_user() cannot load
        # (it is not a coroutine): read the session first, for the POST too.
        await self.load_session()

    @tornado.web.authenticated
    async def get(self) -> None:
        cart = self.cart
        if cart.is_empty:
            self.flash(EMPTY_CART)
            self.redirect("/cart", status=303)
            return
        await self.show_form(cart=cart, form={field: "" for field in SHIPPING_FIELDS}, errors={})

    @tornado.web.authenticated
    async def post(self) -> None:
        form = {field: self.get_body_argument(field, "") for field in SHIPPING_FIELDS}
        # The form's one-time key: a second submit of the same form finds the order, never places
        # another. A client that sends none (a script, an old page) gets no such protection.
        checkout_key = self.get_body_argument("checkout_key", None)
        if checkout_key is not None and not CHECKOUT_KEY_PATTERN.fullmatch(checkout_key):
            raise ShopError(400, FORM_EXPIRED)
        address, errors = validate_shipping(form)
        if address is None:
            await self.show_form(status=400, cart=self.cart, form=form, errors=errors, checkout_key=checkout_key)
            return
        order = already_placed = None
        # The order is written while the session is locked: a second tab placing the same cart
        # at the same moment waits, then finds the cart already empty.
        try:
            async with self.update_session() as session:
                cart = self.cart  # as read under the lock
                if checkout_key is not None:
                    # A form submitted again (Back, then Place order) shows its order and leaves
                    # the cart alone: what is in it now was added since.
                    already_placed = await IOLoop.current().run_in_executor(
                        None, self.orders.find_by_checkout_key, self.current_user["id"], checkout_key
                    )
                if already_placed is None and not cart.is_empty:
                    try:
                        order = await IOLoop.current().run_in_executor(
                            None, self.orders.place, self.current_user["id"], cart, address, checkout_key
                        )
                    except OrderError as error:
                        raise ShopError(400, str(error)) from None
                    session["cart"] = {}
        except ShopError as error:
            if order is None:
                raise
            # "Nothing was changed" would be false now: say the order stands.
            log.warning("order %d placed, but the emptied cart could not be saved (%d)", order.id, error.status_code)
            self.flash(ORDER_PLACED_CART_KEPT.format(order_id=order.id), "error")
            self.redirect(f"/orders/{order.id}", status=303)
            return
        if already_placed is not None:
            self.flash(ALREADY_PLACED, "success")
            self.redirect(f"/orders/{already_placed.id}", status=303)
            return
        if order is None:
            self.flash(EMPTY_CART)
            self.redirect("/cart", status=303)
            return
        self.flash("Your order is placed.", "success")
        log.info("order %d placed by user %d (%d items)", order.id, order.user_id, order.item_count)
        self.redirect(f"/orders/{order.id}", status=303)

    async def show_form(self, *, status: int = 200, checkout_key: str | None = None, **context) -> None:
        await self.render_page("checkout.html", status=status, countries=COUNTRIES,
                               checkout_key=checkout_key or new_checkout_key(), **context)
