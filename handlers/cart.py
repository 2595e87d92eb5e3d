"""The cart: its page, its JSON view, and the three changes (add, update, remove).

Every change is validated inside the session transaction, so a refused change saves nothing; the
person then sees the page the form was on again, with the message at the field. A change that
carries a one-time key (the forms' `idempotency_key` field, the JSON API's `Idempotency-Key`
header) and was made already is answered as it was then, and not made again.
"""

from __future__ import annotations

from markupsafe import Markup

from handlers.base import BaseHandler, ShopError
from handlers.catalog import render_product_page
from handlers.checkout import show_settled_checkout
from shop import idempotency
from shop.cart import CartError, CartLine, add_item, clean_cart, parse_quantity, remove_item, set_quantity


class CartHandler(BaseHandler):
    async def get(self) -> None:
        # Only for a person whose last checkout's outcome is unknown does the cart wait on the database.
        if await show_settled_checkout(self):
            return
        await render_cart_page(self)


async def render_cart_page(handler: BaseHandler, *, status: int = 200, errors: dict[str, str] | None = None,
                           quantities: dict[str, str] | None = None, messages: list | None = None) -> None:
    """The cart page; errors and quantities (as sent) are keyed by product id, shown at that line."""
    errors = errors or {}
    quantities = quantities or {}
    await handler.load_session()
    # The lines are joined here rather than looped over in the template: a call from Jinja per
    # line cost more than the kept line's look-up.
    lines = Markup("\n".join(cart_line(handler, line, errors.get(line.product.id), quantities.get(line.product.id))
                              for line in handler.cart.lines))
    await handler.render_page("cart.html", status=status, cart=handler.cart, errors=errors, cart_lines=lines,
                              messages=messages or [])


def cart_line(handler: BaseHandler, line: CartLine, error: str | None, sent: str | None) -> Markup:
    """One line of the cart page, with the error and the quantity as sent if there are any."""
    # A line as stored looks the same for everyone: kept. One with a message or a value as sent: not.
    key = ("cart-line", line) if error is None and sent is None else None
    return handler.render_fragment("_cart_line.html", key, line=line, error=error,
                                   quantity=line.quantity if sent is None else sent)


class CartApiHandler(BaseHandler):
    def get(self) -> None:
        cart = self.cart
        self.finish(
            {
                "lines": [
                    {
                        "product_id": line.product.id,
                        "name": line.product.name,
                        "quantity": line.quantity,
                        "unit_price_cents": line.unit_price_cents,
                        "line_total_cents": line.line_total_cents,
                    }
                    for line in cart.lines
                ],
                "count": cart.count,
                "subtotal_cents": cart.subtotal_cents,
                "shipping_cents": cart.shipping_cents,
                "total_cents": cart.total_cents,
            }
        )


class _CartChangeHandler(BaseHandler):
    """POST product_id (+ quantity): change the cart, then 303 to /cart, or JSON for fetch()."""

    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        """The changed cart and a message saying what was done; raises CartError when refused."""
        raise NotImplementedError

    def show_refusal(self, product_id: str, error: CartError):
        """The page for a refused change (a coroutine), shown with status 400."""
        return render_cart_page(self, status=400, messages=[{"kind": "error", "text": str(error)}])

    async def post(self) -> None:
        product_id = self.get_body_argument("product_id", "").strip()
        change = self.change_fingerprint(product_id)
        try:
            async with self.update_cart() as holder:
                if not product_id:
                    raise ShopError(400, "Please choose a product.")
                # The check and the change in one locked step: a retry cannot slip in between.
                message = idempotency.outcome(holder, change) if change else None
                if message is None:
                    cart, message = self.change(clean_cart(holder.get("cart")), product_id)
                    holder["cart"] = cart
                    if change:
                        idempotency.remember(holder, change, message)
        except CartError as error:
            # Raised inside the block, so nothing was saved; self.session is the cart as it was.
            if self.wants_json():
                self.set_status(400)
                self.finish({"error": str(error), "status": 400, "field": error.field})
            else:
                await self.show_refusal(product_id, error)
            return
        if self.wants_json():
            self.finish({"ok": True, "message": message, "count": self.cart.count, "total_cents": self.cart.total_cents,
                         "shipping_note": self.render_string("_shipping_note.html", cart=self.cart).strip()})
            return
        # After the block: a message only once the change is saved.
        self.flash(message, "success")
        self.redirect("/cart", status=303)

    def change_fingerprint(self, product_id: str) -> str | None:
        """What identifies this change if it carries a one-time key (None without one); 400 for a
        key that is not one of ours."""
        key = self.request.headers.get("Idempotency-Key") or self.get_body_argument("idempotency_key", None)
        if key is None:
            return None
        if not idempotency.KEY_PATTERN.fullmatch(key):
            raise ShopError(400, "This form has expired. Please reload the page and try again.")
        return idempotency.fingerprint(key, self.request.path, product_id,
                                       self.get_body_argument("quantity", "").strip())

    def product_name(self, product_id: str) -> str:
        product = self.catalog.get(product_id)
        return product.name if product is not None else "That product"


class CartAddHandler(_CartChangeHandler):
    def show_refusal(self, product_id: str, error: CartError):
        product = self.catalog.get(product_id)
        if product is None:
            raise ShopError(400, str(error))
        return render_product_page(self, product, status=400, errors={error.field or "quantity": str(error)},
                                   quantity=self.get_body_argument("quantity", "1")[:10])

    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        quantity = parse_quantity(self.get_body_argument("quantity", None), default=1)
        updated = add_item(cart, self.catalog, product_id, quantity)
        return updated, f"Added {quantity} × {self.product_name(product_id)} to your cart."


class CartUpdateHandler(_CartChangeHandler):
    def show_refusal(self, product_id: str, error: CartError):
        if error.field == "quantity" and product_id in clean_cart(self.cart_holder.get("cart")):
            return render_cart_page(self, status=400, errors={product_id: str(error)},
                                    quantities={product_id: self.get_body_argument("quantity", "")[:10]})
        return super().show_refusal(product_id, error)

    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        quantity = parse_quantity(self.get_body_argument("quantity", None), allow_zero=True)
        updated = set_quantity(cart, self.catalog, product_id, quantity)
        name = self.product_name(product_id)
        if quantity == 0:
            return updated, f"Removed {name} from your cart."
        return updated, f"{name}: quantity is now {quantity}."


class CartRemoveHandler(_CartChangeHandler):
    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        updated = remove_item(cart, product_id)
        return updated, f"Removed {self.product_name(product_id)} from your cart."
