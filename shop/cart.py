"""Cart rules: pure functions over the session's cart dict {product_id: quantity}.

Every function returns a new dict and leaves its argument alone, so a failed change never
leaves a half-edited cart in the session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shop.catalog import Catalog, Product

MAX_QUANTITY = 99
SHIPPING_CENTS = 495
FREE_SHIPPING_FROM_CENTS = 5000

# A bounded run of ASCII digits: str.isdigit() would accept "²" or Arabic-Indic digits, and an
# unbounded run would let int() chew on a megabyte of input.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")


class CartError(ValueError):
    """A cart change that cannot be made; str(error) is a message for the shopper, and `field` names
    the form field at fault ("quantity"), if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int
    unit_price_cents: int
    line_total_cents: int


@dataclass(frozen=True)
class PricedCart:
    lines: tuple[CartLine, ...]
    subtotal_cents: int
    shipping_cents: int
    total_cents: int
    count: int

    @property
    def is_empty(self) -> bool:
        return not self.lines

    @property
    def to_free_shipping_cents(self) -> int:
        """How much more the goods must cost for free shipping (0 once shipping is free)."""
        return max(0, FREE_SHIPPING_FROM_CENTS - self.subtotal_cents) if self.shipping_cents else 0


def parse_quantity(raw: str | None, *, default: int | None = None, allow_zero: bool = False) -> int:
    """Turn a form value into a quantity in 1..99 (0..99 with allow_zero), or raise CartError."""
    lowest = 0 if allow_zero else 1
    message = f"Quantity must be a whole number from {lowest} to {MAX_QUANTITY}."
    if raw is None:
        if default is None:
            raise CartError(message, "quantity")
        return default
    text = raw.strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        raise CartError(message, "quantity")
    quantity = int(text)
    if not lowest <= quantity <= MAX_QUANTITY:
        raise CartError(message, "quantity")
    return quantity


def clean_cart(raw: object) -> dict[str, int]:
    """Keep only well-formed lines of a cart read from storage, dropping anything else."""
    if not isinstance(raw, dict):
        return {}
    return {
        product_id: quantity
        for product_id, quantity in raw.items()
        if isinstance(product_id, str)
        and type(quantity) is int
        and 1 <= quantity <= MAX_QUANTITY
    }


def add_item(cart: dict[str, int], catalog: Catalog, product_id: str, quantity: int) -> dict[str, int]:
    """Add `quantity` to the product's line, creating it if needed."""
    _check_quantity(quantity, lowest=1)
    if catalog.get(product_id) is None:
        raise CartError("That product does not exist.")
    updated = clean_cart(cart)
    total = updated.get(product_id, 0) + quantity
    if total > MAX_QUANTITY:
        raise CartError(
            f"You can have at most {MAX_QUANTITY} of one product in your cart "
            f"(you already have {updated.get(product_id, 0)}).",
            "quantity",
        )
    updated[product_id] = total
    return updated


def set_quantity(cart: dict[str, int], catalog: Catalog, product_id: str, quantity: int) -> dict[str, int]:
    """Set the line's quantity; 0 removes the line."""
    _check_quantity(quantity, lowest=0)
    if catalog.get(product_id) is None:
        raise CartError("That product does not exist.")
    updated = clean_cart(cart)
    if product_id not in updated:
        raise CartError("That product is not in your cart.")
    if quantity == 0:
        del updated[product_id]
    else:
        updated[product_id] = quantity
    return updated


def remove_item(cart: dict[str, int], product_id: str) -> dict[str, int]:
    """Remove the line; works for products that have since left the catalog too."""
    updated = clean_cart(cart)
    if product_id not in updated:
        raise CartError("That product is not in your cart.")
    del updated[product_id]
    return updated


def remove_ordered(cart: dict[str, int], ordered: dict[str, int]) -> dict[str, int]:
    """The cart without what an order took from it (ordered: product id -> quantity): each line
    less that quantity, so that what was added after the order stays."""
    updated = clean_cart(cart)
    for product_id, quantity in ordered.items():
        left = updated.get(product_id, 0) - quantity
        if left > 0:
            updated[product_id] = left
        else:
            updated.pop(product_id, None)
    return updated


def merge_carts(account: dict[str, int], anonymous: dict[str, int],
                catalog: Catalog) -> tuple[dict[str, int], list[str]]:
    """The account's cart with an anonymous cart added in at login (django-oscar's basket merge):
    quantities of a product are added, and capped at MAX_QUANTITY. Returns the merged cart and one
    sentence per line merged, saying what was added (and where the cap took some off)."""
    merged = clean_cart(account)
    notes = []
    for product_id, quantity in clean_cart(anonymous).items():
        product = catalog.get(product_id)
        if product is None:
            continue
        before = merged.get(product_id, 0)
        merged[product_id] = min(before + quantity, MAX_QUANTITY)
        if before + quantity > MAX_QUANTITY:
            notes.append(f"{product.name}: {before} + {quantity} is more than the {MAX_QUANTITY} a cart can "
                         f"hold of one product, so your cart now has {MAX_QUANTITY}.")
        else:
            notes.append(f"{quantity} × {product.name}")
    return merged, notes


def item_count(cart: dict[str, int]) -> int:
    """The number of items (sum of quantities), as shown in the header."""
    return sum(clean_cart(cart).values())


def price_cart(cart: dict[str, int], catalog: Catalog) -> PricedCart:
    """Price each line at the catalog's current price; products no longer sold are skipped."""
    lines = []
    for product_id, quantity in clean_cart(cart).items():
        product = catalog.get(product_id)
        if product is None:
            continue
        lines.append(
            CartLine(
                product=product,
                quantity=quantity,
                unit_price_cents=product.price_cents,
                line_total_cents=product.price_cents * quantity,
            )
        )
    subtotal = sum(line.line_total_cents for line in lines)
    if not lines or subtotal >= FREE_SHIPPING_FROM_CENTS:
        shipping = 0
    else:
        shipping = SHIPPING_CENTS
    return PricedCart(
        lines=tuple(lines),
        subtotal_cents=subtotal,
        shipping_cents=shipping,
        total_cents=subtotal + shipping,
        count=sum(line.quantity for line in lines),
    )


def _check_quantity(quantity: int, *, lowest: int) -> None:
    # Handlers pass parse_quantity()'s result; this guards other callers from bypassing the range.
    if type(quantity) is not int or not lowest <= quantity <= MAX_QUANTITY:
        raise CartError(f"Quantity must be a whole number from {lowest} to {MAX_QUANTITY}.", "quantity")
