"""The catalog pages: the product grid (search and category filter) and one product's page."""

from __future__ import annotations

from handlers.base import BaseHandler, ShopError

MAX_QUERY_LENGTH = 100


class CatalogHandler(BaseHandler):
    async def get(self) -> None:
        query = self.get_query_argument("q", "").strip()[:MAX_QUERY_LENGTH]
        category = self.get_query_argument("category", "").strip()
        category_name = self.catalog.category_name(category) if category else None
        if category and category_name is None:
            raise ShopError(404, "We have no such category. Have a look at the ones in the menu.")
        products = self.catalog.search(query, category)
        await self.render_page(
            "catalog.html",
            products=products,
            query=query,
            current_category=category or None,
            category_name=category_name,
        )


class ProductHandler(BaseHandler):
    async def get(self, product_id: str) -> None:
        product = self.catalog.get(product_id)
        if product is None:
            raise ShopError(404, "We do not sell that product (any more). Have a look at the catalog.")
        await self.render_page(
            "product.html",
            product=product,
            current_category=product.category,
            category_name=self.catalog.category_name(product.category),
        )
