"""The product catalog: loaded once from data/products.json, validated, then read-only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from os import PathLike

PRODUCT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,40}")
_IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,40}\.svg")


@dataclass(frozen=True)
class Category:
    slug: str
    name: str


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    description: str
    price_cents: int
    category: str
    image: str  # a file name under static/img/products/


class Catalog:
    """The products and their categories, in file order."""

    def __init__(self, products: list[Product], categories: list[Category]) -> None:
        category_slugs = set()
        for category in categories:
            if not category.slug or category.slug in category_slugs:
                raise ValueError(f"catalog: duplicate or empty category slug {category.slug!r}")
            category_slugs.add(category.slug)
        self._categories = tuple(categories)
        self._products: dict[str, Product] = {}
        for product in products:
            _validate_product(product, category_slugs)
            if product.id in self._products:
                raise ValueError(f"catalog: duplicate product id {product.id!r}")
            self._products[product.id] = product

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Catalog:
        """Read and validate the catalog file; any problem is a ValueError naming the entry."""
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        try:
            categories = [Category(slug=c["slug"], name=c["name"]) for c in data["categories"]]
            products = [
                Product(
                    id=p["id"],
                    name=p["name"],
                    description=p["description"],
                    price_cents=p["price_cents"],
                    category=p["category"],
                    image=p["image"],
                )
                for p in data["products"]
            ]
        except (KeyError, TypeError) as error:
            raise ValueError(f"catalog {path}: malformed entry ({error!r})") from error
        return cls(products, categories)

    def get(self, product_id: str) -> Product | None:
        return self._products.get(product_id)

    def categories(self) -> list[tuple[str, str]]:
        """(slug, display name) pairs in catalog order."""
        return [(c.slug, c.name) for c in self._categories]

    def category_name(self, slug: str) -> str | None:
        return next((c.name for c in self._categories if c.slug == slug), None)

    def search(self, query: str = "", category: str = "") -> list[Product]:
        """Products whose name or description contains `query` (any case), within `category` if given."""
        needle = query.strip().casefold()
        return [
            product
            for product in self._products.values()
            if (not category or product.category == category)
            and (
                not needle
                or needle in product.name.casefold()
                or needle in product.description.casefold()
            )
        ]


def _validate_product(product: Product, category_slugs: set[str]) -> None:
    def fail(reason: str) -> None:
        raise ValueError(f"catalog: product {product.id!r}: {reason}")

    if not isinstance(product.id, str) or not PRODUCT_ID_PATTERN.fullmatch(product.id):
        fail("id must match ^[a-z0-9][a-z0-9-]{1,40}$")
    if not isinstance(product.name, str) or not product.name.strip():
        fail("name must be a non-empty string")
    if not isinstance(product.description, str) or not product.description.strip():
        fail("description must be a non-empty string")
    # bool is an int subclass; True must not pass as a price of one cent.
    if type(product.price_cents) is not int or product.price_cents <= 0:
        fail(f"price_cents must be a positive whole number of cents, not {product.price_cents!r}")
    if product.category not in category_slugs:
        fail(f"unknown category {product.category!r}")
    if not isinstance(product.image, str) or not _IMAGE_PATTERN.fullmatch(product.image):
        fail(f"image must be a plain .svg file name, not {product.image!r}")
