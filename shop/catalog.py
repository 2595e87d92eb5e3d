"""The product catalog: loaded once from data/products.json, validated, then read-only; searched,
sorted and cut into pages for the catalog page."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from os import PathLike

PRODUCT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,40}")
_IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,40}\.svg")
_WORD = re.compile(r"[^\W_]+")

# ?sort= values and how each orders the products; "" keeps the default (relevance for a search,
# else the catalog's own order).
SORTS = {
    "name": ("Name", lambda product: product.name.casefold()),
    "price-asc": ("Price, low to high", lambda product: product.price_cents),
    "price-desc": ("Price, high to low", lambda product: -product.price_cents),
}
PAGE_SIZE = 12


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

    def search(self, query: str = "", category: str = "", sort: str = "") -> list[Product]:
        """Products matching every word of `query` within `category` (if given), ordered by `sort`.

        Words match any case and accent, singular or plural ("mugs" finds a Mug), at the start of
        a word of the name or description; the query's words run together match too ("tea pot"
        finds a Teapot). Without a sort, name matches come before description-only matches.
        """
        in_category = [p for p in self._products.values() if not category or p.category == category]
        terms = _terms(query)
        if terms:
            scored = [(score, p) for p in in_category if (score := _relevance(p, terms))]
            # sorted() is stable: equal scores keep the catalog's order.
            in_category = [p for _, p in sorted(scored, key=lambda pair: -pair[0])]
        if sort in SORTS:
            in_category.sort(key=SORTS[sort][1])
        return in_category


@dataclass(frozen=True)
class ResultPage:
    """One page of a list of products: its items, its number (from 1) and how many pages there are."""

    items: list[Product]
    number: int
    count: int
    total: int  # products on all pages


def paginate(products: list[Product], number: int, size: int = PAGE_SIZE) -> ResultPage | None:
    """Page `number` of `products`, or None when there is no such page (an empty list has page 1)."""
    count = max(1, math.ceil(len(products) / size))
    if not 1 <= number <= count:
        return None
    start = (number - 1) * size
    return ResultPage(items=products[start:start + size], number=number, count=count, total=len(products))


def _stem(word: str) -> str:
    """A word without its plural ending: good enough for a shop's product names."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("ves"):
        return word[:-3] + "f"  # knives -> knif, which starts "knife"
    if len(word) > 3 and word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(ch for ch in folded if not unicodedata.combining(ch)))


def _terms(query: str) -> list[str]:
    return [_stem(word) for word in _words(query)]


def _matches(terms: list[str], words: list[str]) -> int:
    """How many of the terms start a word of `words`; all of them when the terms run together do."""
    found = sum(1 for term in terms if any(word.startswith(term) for word in words))
    if found < len(terms) and len(terms) > 1:
        joined = "".join(terms)
        if any(word.startswith(joined) or _stem(word) == joined for word in words):
            return len(terms)
    return found


def _relevance(product: Product, terms: list[str]) -> int:
    """0 when some term is in neither the name nor the description; higher for name matches."""
    name_words, description_words = _words(product.name), _words(product.description)
    in_name = _matches(terms, name_words)
    if in_name == len(terms):
        return 100 + in_name
    if _matches(terms, name_words + description_words) < len(terms):
        return 0
    return 1 + in_name


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
