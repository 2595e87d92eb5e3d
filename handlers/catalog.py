"""The catalog pages: the product grid (search, category filter, sort, pages) and one product's page."""

from __future__ import annotations

import re
import urllib.parse

from handlers.base import BaseHandler
from handlers.errors import ShopError
from shop.cart import SHIPPING_CENTS
from shop.catalog import PAGE_SIZE, SORTS, Catalog, Product, paginate, search_problem

MAX_PAGE_DIGITS = 6
# ?min_price= and ?max_price=: whole dollars or dollars and cents ("20", "19.99"), at most $1,000,000.
_PRICE = re.compile(r"([0-9]{1,7})(?:\.([0-9]{1,2}))?")
MAX_PRICE_CENTS = 100_000_000
BAD_PRICE = "A price filter is an amount in dollars, such as 20 or 19.99, from 0 to 1000000."
# The price ranges offered as links, after Dawn's price filter: (label, min_price, max_price).
PRICE_RANGES = (("Under $20", "", "20"), ("$20 to $50", "20", "50"), ("Over $50", "50", ""))


class CatalogHandler(BaseHandler):
    async def get(self) -> None:
        # The search is typed: one it cannot take (the rule for text in, its length) is the catalog
        # again, 400, with the message at the search field and the text as sent (without what the
        # rule refuses) in it. The other parameters come from the page's links: a 400 page.
        values, refused = self.query_values(("q",))
        search_error = refused.get("q") or search_problem(values["q"])
        query = "" if search_error else values["q"]
        category = self.get_query_argument("category", "").strip()
        sort = self.get_query_argument("sort", "").strip()
        raw_page = self.get_query_argument("page", "1").strip() or "1"
        min_price = self.get_query_argument("min_price", "").strip()
        max_price = self.get_query_argument("max_price", "").strip()
        min_cents, max_cents = price_cents(min_price), price_cents(max_price)
        if min_cents is not None and max_cents is not None and min_cents > max_cents:
            raise ShopError(400, "The lowest price (min_price) is above the highest (max_price). "
                                 "Swap them, or leave one out.")
        category_name = self.catalog.category_name(category) if category else None
        if category and category_name is None:
            raise ShopError(404, "We have no such category. Have a look at the ones in the menu.")
        if sort and sort not in SORTS:
            raise ShopError(400, "We cannot sort that way. Choose name, price-asc or price-desc, "
                                 "or leave the sort out.")
        if not (raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= MAX_PAGE_DIGITS):
            raise ShopError(400, "A page number is a whole number: 1, 2, 3 …")
        # A query of symbols only ("!!!") has no word to look for: it finds nothing, and says why.
        no_words = bool(query) and not any(ch.isalnum() for ch in query)
        results = self.catalog.search(query, category, sort, min_price_cents=min_cents, max_price_cents=max_cents)
        suggestion = self.catalog.suggest(query) if query and not results and not no_words else None
        page = paginate(results, int(raw_page))
        if page is None:
            last = max(1, -(-len(results) // PAGE_SIZE))
            raise ShopError(404, f"There is no page {int(raw_page)} here: this list has {last} "
                                 f"page{'' if last == 1 else 's'}.")

        def link(**changes: str | int) -> str:
            """This list's URL with some parameters changed; empty ones and page 1 are left out."""
            params = {"q": query, "category": category, "min_price": min_price, "max_price": max_price,
                      "sort": sort, "page": page.number, **changes}
            kept = {k: v for k, v in params.items() if v and not (k == "page" and v == 1)}
            return "/?" + urllib.parse.urlencode(kept) if kept else "/"

        await self.render_page(
            "catalog.html",
            status=400 if search_error else 200,
            search_error=search_error,
            search_sent=values["q"] if search_error else None,
            products=page.items,
            page=page,
            link=link,
            sort=sort,
            sorts=[(key, label) for key, (label, _) in SORTS.items()],
            query=query,
            no_words=no_words,
            suggestion=suggestion,
            min_price=min_price,
            max_price=max_price,
            price_ranges=PRICE_RANGES,
            current_category=category or None,
            category_name=category_name,
        )


def price_cents(value: str) -> int | None:
    """A ?min_price= or ?max_price= value in dollars as cents; None when empty; 400 when malformed."""
    if not value:
        return None
    match = _PRICE.fullmatch(value) if value.isascii() else None
    if match is None:
        raise ShopError(400, BAD_PRICE)
    cents = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    if cents > MAX_PRICE_CENTS:
        raise ShopError(400, BAD_PRICE)
    return cents


class ProductHandler(BaseHandler):
    async def get(self, product_id: str) -> None:
        product = self.catalog.get(product_id)
        if product is None:
            raise ShopError(404, "We do not sell that product (any more). Have a look at the catalog.")
        refused = self.take_refused_form()
        errors = refused.get("errors")
        quantity = refused.get("quantity")
        await render_product_page(self, product, errors=errors if isinstance(errors, dict) else None,
                                  quantity=quantity if isinstance(quantity, str) else "1")


async def render_product_page(handler: BaseHandler, product: Product, *, status: int = 200,
                              quantity: str = "1", errors: dict[str, str] | None = None) -> None:
    """The product page; after a refused add-to-cart, the quantity as sent and the message at its field."""
    await handler.render_page(
        "product.html",
        status=status,
        product=product,
        quantity=quantity,
        errors=errors or {},
        current_category=product.category,
        category_name=handler.catalog.category_name(product.category),
        related=related_products(handler.catalog, product),
        shipping_cents=SHIPPING_CENTS,
    )


RELATED_COUNT = 4


def related_products(catalog: Catalog, product: Product) -> list[Product]:
    """"You may also like": up to RELATED_COUNT other products of the same category, in catalog order."""
    return [each for each in catalog.search(category=product.category) if each.id != product.id][:RELATED_COUNT]
