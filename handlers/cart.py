"""The cart: its page, its JSON view, and the three changes (add, update, remove).

Every change is validated inside the session transaction, so a refused change saves nothing; the
person then sees the page the form was on again, with the message at the field. A change that
carries a one-time key (the forms' `idempotency_key` field, the JSON API's `Idempotency-Key`
header) and was made already is answered as it was then, and not made again.
"""

from __future__ import annotations

from markupsafe import Markup

from handlers.base import BaseHandler
from handlers.catalog import render_product_page
from handlers.checkout import show_settled_checkout
from handlers.errors import ShopError
from shop import idempotency
from shop.cart import CartError, CartLine, add_item, clean_cart, parse_quantity, remove_item, set_quantity


class CartHandler(BaseHandler):
    async def get(self) -> None:
        # Only for a person whose last checkout's outcome is unknown does the cart wait on the database.
        if await show_settled_checkout(self):
            return
        refused = self.take_refused_form()
        await render_cart_page(self, errors=_string_dict(refused.get("errors")),
                               quantities=_string_dict(refused.get("quantities")))


def _string_dict(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {key: item for key, item in value.items() if isinstance(key, str) and isinstance(item, str)}


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


class LineErrors(CartError):
    """A refused change of one or more cart lines: errors and the quantities as sent, by product id."""

    def __init__(self, errors: dict[str, str], quantities: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())), "quantity")
        self.errors = errors
        self.quantities = quantities


class _CartChangeHandler(BaseHandler):
    """POST product_id (+ quantity): change the cart, then 303 to /cart, or JSON for fetch()."""

    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        """The changed cart and a message saying what was done; raises CartError when refused."""
        raise NotImplementedError

    def show_refusal(self, product_id: str, error: CartError):
        """The page for a refused change (a coroutine), shown with status 400."""
        return render_cart_page(self, status=400, messages=[{"kind": "error", "text": str(error)}])

    def refusal_target(self, product_id: str, error: CartError) -> tuple[str, dict]:
        """Where a browser goes after a refused change, and the state that page shows."""
        self.flash(str(error), "error")
        return "/cart", {}

    def after_change(self, product_id: str) -> str:
        """Where the browser goes once the change is saved."""
        return "/cart"

    def flash_change(self, message: str, cart_before: dict[str, int], product_id: str) -> None:
        self.flash(message, "success")

    def get(self) -> None:
        """Only forms post here; an address bar or a bookmark that ends up here goes to the cart
        (303), not to a 405."""
        self.redirect("/cart", status=303)

    async def refused_text(self) -> CartError | None:
        """The refusal, at its field, of a form whose text breaks the rule for text in (checked
        before anything is locked or changed); None when every field keeps it."""
        product_ids, id_errors = self.form_lists("product_id")
        if id_errors:
            # A product id is ours, in a hidden field: one that is not text is no product of ours.
            return CartError(next(iter(id_errors.values())), "product_id")
        quantities, quantity_errors = self.form_lists("quantity")
        if quantity_errors:
            return await self.quantity_refused(product_ids, quantities, quantity_errors)
        _, refused = self.form_values(("line",))
        return CartError(refused["line"], "line") if refused else None

    async def quantity_refused(self, product_ids: list[str], quantities: list[str],
                               errors: dict[int, str]) -> CartError:
        """The refusal of quantities (by position) that broke the rule for text in."""
        return CartError(next(iter(errors.values())), "quantity")

    def sent_quantity(self) -> str:
        """The quantity as sent (without what the rule for text in refuses), for the form shown again."""
        values, _ = self.form_lists("quantity")
        return values[-1][:10] if values else "1"

    async def refuse(self, product_id: str, error: CartError) -> None:
        """Nothing was saved: the refusal as JSON for fetch(), through a redirect for a browser's
        page load (Post/Redirect/Get), else the page the form was on with the message, 400."""
        if self.wants_json():
            self.set_status(400)
            self.finish({"error": str(error), "status": 400, "field": error.field,
                         "product_id": next(iter(error.errors)) if isinstance(error, LineErrors) else product_id})
        elif self.is_navigation():
            url, state = self.refusal_target(product_id, error)
            self.redirect_refused(url, state)
        else:
            await self.show_refusal(product_id, error)

    async def post(self) -> None:
        refused = await self.refused_text()
        if refused is not None:
            # A refused product id names no product (its page is not shown again with it).
            product_ids = self.form_lists("product_id")[0]
            await self.refuse(product_ids[-1] if product_ids and refused.field != "product_id" else "", refused)
            return
        product_id = self.get_body_argument("product_id", "").strip()
        before: dict[str, int] = {}
        change = self.change_fingerprint(product_id)
        try:
            async with self.update_cart() as holder:
                if not product_id:
                    raise ShopError(400, "Please choose a product.")
                # The check and the change in one locked step: a retry cannot slip in between.
                message = idempotency.outcome(holder, change) if change else None
                if message is None:
                    before = clean_cart(holder.get("cart"))
                    cart, message = self.change(before, product_id)
                    holder["cart"] = cart
                    if change:
                        idempotency.remember(holder, change, message)
        except CartError as error:
            # Raised inside the block, so nothing was saved; self.session is the cart as it was.
            await self.refuse(product_id, error)
            return
        if self.wants_json():
            self.finish(self.changed_json(message, product_id))
            return
        # After the block: a message only once the change is saved.
        self.flash_change(message, before, product_id)
        self.redirect(self.after_change(product_id), status=303)

    def changed_json(self, message: str, product_id: str) -> dict:
        """What fetch() gets after a change: the message, the new count and totals, and the summary's
        HTML (templates/_totals.html) for the cart page to put in place, as Dawn's cart does with
        Shopify's section rendering."""
        cart = self.cart
        line = next((line for line in cart.lines if line.product.id == product_id), None)
        return {"ok": True, "message": message, "count": cart.count, "total_cents": cart.total_cents,
                "quantity": line.quantity if line else 0,
                "line_total": self.application.template_env.filters["price"](line.line_total_cents) if line else "",
                "shipping_note": self.render_string("_shipping_note.html", cart=cart).strip(),
                "totals_html": self.render_string("_totals.html", cart=cart).strip()}

    def change_fingerprint(self, product_id: str) -> str | None:
        """What identifies this change if it carries a one-time key (None without one); 400 for a
        key that is not one of ours."""
        key = self.request.headers.get("Idempotency-Key") or self.get_body_argument("idempotency_key", None)
        if key is None:
            return None
        if not idempotency.KEY_PATTERN.fullmatch(key):
            raise ShopError(400, "This form has expired. Please reload the page and try again.")
        # Every line the form sends (the cart page's form sends them all).
        return idempotency.fingerprint(key, self.request.path,
                                       ",".join(each.strip() for each in self.get_body_arguments("product_id")),
                                       ",".join(each.strip() for each in self.get_body_arguments("quantity")))

    def product_name(self, product_id: str) -> str:
        product = self.catalog.get(product_id)
        return product.name if product is not None else "That product"


class CartAddHandler(_CartChangeHandler):
    def show_refusal(self, product_id: str, error: CartError):
        product = self.catalog.get(product_id)
        if product is None:
            raise ShopError(400, str(error))
        return render_product_page(self, product, status=400, errors={error.field or "quantity": str(error)},
                                   quantity=self.sent_quantity())

    def refusal_target(self, product_id: str, error: CartError) -> tuple[str, dict]:
        if self.catalog.get(product_id) is None:
            return super().refusal_target(product_id, error)
        return f"/product/{product_id}", {"errors": {error.field or "quantity": str(error)},
                                          "quantity": self.sent_quantity()}

    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        quantity = parse_quantity(self.get_body_argument("quantity", None), default=1)
        updated = add_item(cart, self.catalog, product_id, quantity)
        return updated, f"Added {quantity} × {self.product_name(product_id)} to your cart."


class CartUpdateHandler(_CartChangeHandler):
    """One line (product_id, quantity), or every line of the cart page's form (product_id and
    quantity repeated, in pairs): all are saved or, if any is refused, none. The field `line` names
    the line whose Update was pressed (the page comes back at it); `next=/checkout` goes on to the
    checkout once saved (the cart's Check out button)."""

    def show_refusal(self, product_id: str, error: CartError):
        if isinstance(error, LineErrors):
            return render_cart_page(self, status=400, errors=error.errors, quantities=error.quantities)
        return super().show_refusal(product_id, error)

    def refusal_target(self, product_id: str, error: CartError) -> tuple[str, dict]:
        if isinstance(error, LineErrors):
            return "/cart", {"errors": error.errors, "quantities": error.quantities}
        return super().refusal_target(product_id, error)

    async def quantity_refused(self, product_ids: list[str], quantities: list[str],
                               errors: dict[int, str]) -> CartError:
        """At the lines of the cart whose quantity broke the rule for text in, as a quantity out of
        range is (one of a product not in the cart: a message on the page)."""
        await self.load_session()
        cart = clean_cart(self.cart_holder.get("cart"))
        at_lines = {product_ids[i]: message for i, message in errors.items()
                    if i < len(product_ids) and product_ids[i] in cart}
        if not at_lines:
            return CartError(next(iter(errors.values())), "quantity")
        return LineErrors(at_lines, {product_ids[i]: quantities[i][:10] for i in errors
                                     if i < len(product_ids) and product_ids[i] in at_lines})

    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        product_ids = [value.strip() for value in self.get_body_arguments("product_id")]
        sent = self.get_body_arguments("quantity")
        if len(sent) != len(product_ids):
            raise CartError("Please send one quantity for each product.")
        if len(product_ids) == 1:
            return self._set_one(cart, product_id, sent[0])
        # The whole cart form: a line no longer in the cart (removed in another tab) is left alone.
        updated, errors = cart, {}
        for each, raw in zip(product_ids, sent):
            if each not in updated:
                continue
            try:
                updated = set_quantity(updated, self.catalog, each, parse_quantity(raw, allow_zero=True))
            except CartError as error:
                errors[each] = str(error)
        if errors:
            raise LineErrors(errors, {each: raw[:10] for each, raw in zip(product_ids, sent) if each in errors})
        return updated, "Your cart is updated."

    def _set_one(self, cart: dict[str, int], product_id: str, raw: str) -> tuple[dict[str, int], str]:
        try:
            quantity = parse_quantity(raw, allow_zero=True)
        except CartError as error:
            if product_id in cart:
                raise LineErrors({product_id: str(error)}, {product_id: raw[:10]}) from None
            raise
        updated = set_quantity(cart, self.catalog, product_id, quantity)
        name = self.product_name(product_id)
        if quantity == 0:
            return updated, f"Removed {name} from your cart."
        return updated, f"{name}: quantity is now {quantity}."

    def flash_change(self, message: str, cart_before: dict[str, int], product_id: str) -> None:
        if self.get_body_argument("next", "") != "/checkout":
            super().flash_change(message, cart_before, product_id)

    def after_change(self, product_id: str) -> str:
        if self.get_body_argument("next", "") == "/checkout":
            return "/checkout"
        line = self.get_body_argument("line", "") or product_id
        # Back at the line whose Update was pressed, not at the top of the page.
        return f"/cart#line-{line}" if line in clean_cart(self.cart_holder.get("cart")) else "/cart"


class CartRemoveHandler(_CartChangeHandler):
    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        updated = remove_item(cart, product_id)
        return updated, f"Removed {self.product_name(product_id)}."

    def flash_change(self, message: str, cart_before: dict[str, int], product_id: str) -> None:
        """"Removed X." with an Undo that puts the line back with its quantity (templates/base.html)."""
        if product_id not in cart_before:  # a retry answered from memory: the message alone
            super().flash_change(message, cart_before, product_id)
            return
        self.flash(message, "success", undo={"product_id": product_id, "quantity": cart_before[product_id],
                                             "name": self.product_name(product_id)})
