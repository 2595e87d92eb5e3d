import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from shop.catalog import MAX_QUERY_LENGTH, PRODUCT_ID_PATTERN, Catalog, search_problem
from shop.money import format_cents

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS_FILE = ROOT / "data" / "products.json"
PICTURES = ROOT / "static" / "img" / "products"
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


def write_catalog(tmp_path, products, categories=None):
    path = tmp_path / "products.json"
    categories = categories or [{"slug": "kitchen", "name": "Kitchen"}]
    path.write_text(json.dumps({"categories": categories, "products": products}))
    return path


def product(**overrides):
    fields = {
        "id": "mug",
        "name": "Mug",
        "description": "A mug.",
        "price_cents": 1200,
        "category": "kitchen",
        "image": "mug.svg",
    }
    fields.update(overrides)
    return fields


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load(PRODUCTS_FILE)


def test_real_catalog_has_24_products_in_4_categories(catalog):
    assert len(catalog.search()) >= 24
    slugs = [slug for slug, _ in catalog.categories()]
    assert len(slugs) >= 4
    assert {p.category for p in catalog.search()} == set(slugs)


def test_real_catalog_ids_are_slugs_with_real_descriptions(catalog):
    for item in catalog.search():
        assert PRODUCT_ID_PATTERN.fullmatch(item.id)
        assert item.description.endswith(".") and len(item.description) > 30


def test_every_product_has_an_svg_picture_that_parses(catalog):
    for item in catalog.search():
        picture = PICTURES / item.image
        assert picture.name == f"{item.id}.svg"
        root = ElementTree.parse(picture).getroot()
        assert root.tag == f"{SVG_NAMESPACE}svg"
        assert root.get("viewBox")
        assert root.find(f"{SVG_NAMESPACE}title").text.strip()
        assert "http" not in picture.read_text().replace("http://www.w3.org/2000/svg", "")


def test_get_returns_product_or_none(catalog):
    assert catalog.get("stoneware-mug").name == "Stoneware Mug"
    assert catalog.get("no-such-thing") is None


def test_categories_keep_file_order(tmp_path):
    path = write_catalog(
        tmp_path,
        [product()],
        [{"slug": "kitchen", "name": "Kitchen"}, {"slug": "garden", "name": "Garden"}],
    )
    assert Catalog.load(path).categories() == [("kitchen", "Kitchen"), ("garden", "Garden")]


def test_search_matches_name_and_description_ignoring_case(catalog):
    # The pen matches by name, the notebook by its description ("fountain pens do not bleed"):
    # a name match ranks first.
    assert [p.id for p in catalog.search("FOUNTAIN")] == ["fountain-pen", "dot-grid-notebook"]
    assert [p.id for p in catalog.search("Pen")] == [p.id for p in catalog.search("pen")]


def test_search_with_empty_query_returns_everything(catalog):
    in_file = [p["id"] for p in json.loads(PRODUCTS_FILE.read_text(encoding="utf-8"))["products"]]
    assert [p.id for p in catalog.search()] == in_file
    assert catalog.search("   ") == catalog.search()


def test_search_combines_query_and_category(catalog):
    results = catalog.search("steel", "outdoor")
    assert results and all(p.category == "outdoor" for p in results)
    assert "chefs-knife" not in [p.id for p in results]


def test_search_in_unknown_category_is_empty(catalog):
    assert catalog.search("", "weapons") == []


def test_load_rejects_duplicate_ids(tmp_path):
    path = write_catalog(tmp_path, [product(), product(name="Other mug")])
    with pytest.raises(ValueError, match="duplicate product id 'mug'"):
        Catalog.load(path)


@pytest.mark.parametrize("price", [0, -100, 12.5, "1200", True, None])
def test_load_rejects_bad_prices(tmp_path, price):
    path = write_catalog(tmp_path, [product(price_cents=price)])
    with pytest.raises(ValueError, match="price_cents"):
        Catalog.load(path)


@pytest.mark.parametrize("bad_id", ["", "a", "Mug", "-mug", "mug/../x", "m" * 42])
def test_load_rejects_ids_that_are_not_slugs(tmp_path, bad_id):
    path = write_catalog(tmp_path, [product(id=bad_id)])
    with pytest.raises(ValueError, match="id must match"):
        Catalog.load(path)


def test_load_rejects_unknown_category(tmp_path):
    path = write_catalog(tmp_path, [product(category="garden")])
    with pytest.raises(ValueError, match="unknown category"):
        Catalog.load(path)


def test_load_rejects_missing_field(tmp_path):
    fields = product()
    del fields["description"]
    with pytest.raises(ValueError, match="malformed"):
        Catalog.load(write_catalog(tmp_path, [fields]))


@pytest.mark.parametrize(
    "cents, text",
    [(0, "$0.00"), (5, "$0.05"), (1250, "$12.50"), (123456, "$1,234.56"), (-495, "-$4.95")],
)
def test_format_cents(cents, text):
    assert format_cents(cents) == text


def test_a_search_over_max_query_length_characters_is_refused_with_a_reason():
    assert search_problem("é" * MAX_QUERY_LENGTH) is None
    assert search_problem("") is None
    assert f"at most {MAX_QUERY_LENGTH} characters" in search_problem("é" * (MAX_QUERY_LENGTH + 1))
