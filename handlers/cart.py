"""The cart: its page, its JSON view, and the three changes (add, update, remove).

Every change is validated inside the session transaction, so a refused change saves nothing.
"""

from __future__ import annotations

from handlers.base import BaseHandler, ShopError
from shop.cart import CartError, add_item, clean_cart, parse_quantity, remove_item, set_quantity


class CartHandler(BaseHandler):
    async def get(self) -> None:
        await self.render_page("cart.html", cart=self.cart)


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

    async def post(self) -> None:
        product_id = self.get_body_argument("product_id", "").strip()
        async with self.update_session() as session:
            if not product_id:
                raise ShopError(400, "Please choose a product.")
            try:
                cart, message = self.change(clean_cart(session.get("cart")), product_id)
            except CartError as error:
                raise ShopError(400, str(error)) from None
            session["cart"] = cart
        if self.wants_json():
            self.finish({"ok": True, "message": message, "count": self.cart.count, "total_cents": self.cart.total_cents})
            return
        # After the block: a message only once the change is saved.
        self.flash(message, "success")
        self.redirect("/cart", status=303)

    def product_name(self, product_id: str) -> str:
        product = self.catalog.get(product_id)
        return product.name if product is not None else "That product"


class CartAddHandler(_CartChangeHandler):
    def change(self, cart: dict[str, int], product_id: str) -> tuple[dict[str, int], str]:
        quantity = parse_quantity(self.get_body_argument("quantity", None), default=1)
        updated = add_item(cart, self.catalog, product_id, quantity)
        return updated, f"Added {quantity} × {self.product_name(product_id)} to your cart."


class CartUpdateHandler(_CartChangeHandler):
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
