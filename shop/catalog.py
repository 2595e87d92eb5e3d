"""The product catalog: loaded once from data/products.json, validated, then read-only; searched,
sorted and cut into pages for the catalog page."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from os import PathLike

from rapidfuzz import fuzz, process

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
# The longest search the shop takes, in characters (NFC, after the spaces around are stripped): a
# product's whole description pasted in (the longest is 126) with words to spare, and a bound on a
# search's work, which matches every word against every product and, when nothing is found, asks
# rapidfuzz for each word's nearest (at most 100 words).
MAX_QUERY_LENGTH = 200
QUERY_TOO_LONG = f"Please search with at most {MAX_QUERY_LENGTH} characters: a few words find more."
# A query word and a catalog word this alike (rapidfuzz's ratio, 0 to 100) make a "Did you mean"
# suggestion: "teapott" -> "teapot" scores 92, "mug" -> "rug" 67.
SUGGESTION_CUTOFF = 75
# How well a query word matches a product, best first: the tiers that rank search results.
_WHOLE_NAME_WORD, _NAME_PREFIX, _CATEGORY_WORD, _DESCRIPTION_PREFIX = 4, 3, 2, 1


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

    def search(self, query: str = "", category: str = "", sort: str = "", *,
               min_price_cents: int | None = None, max_price_cents: int | None = None) -> list[Product]:
        """Products matching every word of `query` within `category` (if given) and the price range
        (both ends included, in cents), ordered by `sort`.

        Words match any case and accent, singular or plural ("mugs" finds a Mug), at the start of
        a word of the name, the category's name or the description; the query's words run together
        match too ("tea pot" finds a Teapot). Without a sort, the best matches come first: a whole
        word of the name ("tea": the Tea Towel), then the start of one (the Teapot), then the
        category, then the description (a mug "glazed in teal"). A query with no word at all
        (only symbols) matches nothing.
        """
        chosen = [
            p for p in self._products.values()
            if (not category or p.category == category)
            and (min_price_cents is None or p.price_cents >= min_price_cents)
            and (max_price_cents is None or p.price_cents <= max_price_cents)
        ]
        if query.strip():
            terms = _terms(query)
            scored = [(score, p) for p in chosen if (score := self._relevance(p, terms))]
            # sorted() is stable: equal scores keep the catalog's order.
            chosen = [p for _, p in sorted(scored, key=lambda pair: -pair[0])]
        if sort in SORTS:
            chosen.sort(key=SORTS[sort][1])
        return chosen

    def suggest(self, query: str) -> str | None:
        """A query close to `query` that finds something ("teapott" -> "teapot"), or None.

        Each word of the query is replaced by the most alike word of a product's or category's name
        (rapidfuzz's ratio, at least SUGGESTION_CUTOFF); None when nothing is that alike.
        """
        words = _words(query)
        if not words:
            return None
        vocabulary = self._vocabulary()
        suggested = []
        for word in words:
            if word in vocabulary:
                suggested.append(word)
                continue
            match = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=SUGGESTION_CUTOFF)
            suggested.append(match[0] if match else word)
        suggestion = " ".join(suggested)
        if suggested == words or not self.search(suggestion):
            return None
        return suggestion

    def _vocabulary(self) -> list[str]:
        """The words of every product's and category's name, once each, in catalog order."""
        names = [p.name for p in self._products.values()] + [c.name for c in self._categories]
        return list(dict.fromkeys(word for name in names for word in _words(name) if len(word) > 2))

    def _relevance(self, product: Product, terms: list[str]) -> int:
        """0 when some term matches nowhere; otherwise the sum of each term's best tier."""
        category = next(c for c in self._categories if c.slug == product.category)
        return _relevance(product, _words(category.name), terms)


@dataclass(frozen=True)
class ResultPage:
    """One page of a list of products: its items, its number (from 1) and how many pages there are."""

    items: list[Product]
    number: int
    count: int
    total: int  # products on all pages


def search_problem(query: str) -> str | None:
    """Why query cannot be searched for (too long), in words for the shopper; None when it can."""
    return QUERY_TOO_LONG if len(query) > MAX_QUERY_LENGTH else None


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


def _tier(term: str, name_words: list[str], category_words: list[str], description_words: list[str]) -> int:
    """How well one term matches a product: one of the tiers above, or 0."""
    if any(word == term or _stem(word) == term for word in name_words):
        return _WHOLE_NAME_WORD
    if any(word.startswith(term) for word in name_words):
        return _NAME_PREFIX
    if any(word.startswith(term) for word in category_words):
        return _CATEGORY_WORD
    if any(word.startswith(term) for word in description_words):
        return _DESCRIPTION_PREFIX
    return 0


def _relevance(product: Product, category_words: list[str], terms: list[str]) -> int:
    """0 when some term is found nowhere; else the sum of the terms' tiers. Terms that run together
    into the start of a name's word ("tea pot": Teapot) count as that name match, each of them."""
    if not terms:
        return 0
    name_words, description_words = _words(product.name), _words(product.description)
    tiers = [_tier(term, name_words, category_words, description_words) for term in terms]
    if len(terms) > 1 and min(tiers) < _NAME_PREFIX:
        joined = "".join(terms)
        if any(word.startswith(joined) or _stem(word) == joined for word in name_words):
            return _NAME_PREFIX * len(terms)
    return 0 if 0 in tiers else sum(tiers)


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
