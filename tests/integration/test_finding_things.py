"""Finding things in the catalog (issue 17): price filters, category names in search, whole-word
ranking, "Did you mean", and a query of symbols only."""

import re
import urllib.parse

import pytest

_PRICE = re.compile(r'<p class="price">[^0-9]*([0-9][0-9,]*\.[0-9]{2})')


def card_ids(page):
    return [card["attrs"]["data-product-id"] for card in page.all("product-card")]


def shown_prices(page):
    """The prices on the page's cards, in cents."""
    return [round(float(price.replace(",", "")) * 100) for price in _PRICE.findall(page.html)]


async def every_page(client, path):
    """The cards' ids and prices on every page of a list, following its page links."""
    ids, prices = [], []
    number = 1
    while True:
        page = await client.page(f"{path}&page={number}")
        ids += card_ids(page)
        prices += shown_prices(page)
        if not any(link["attrs"].get("data-page") == str(number + 1) for link in page.all("page-link")):
            return ids, prices
        number += 1


@pytest.mark.gen_test
async def test_max_price_30_shows_only_prices_up_to_30_dollars_on_every_page(client, app):
    ids, prices = await every_page(client, "/?max_price=30&sort=price-asc")
    assert prices and max(prices) <= 3000
    assert prices == sorted(prices)
    assert set(ids) == {p.id for p in app.catalog.search() if p.price_cents <= 3000}


@pytest.mark.gen_test
async def test_price_range_combines_with_query_category_and_sort(client, app):
    page = await client.page("/?q=steel&category=kitchen&min_price=20&max_price=50.5&sort=price-desc")
    expected = [p for p in app.catalog.search("steel", "kitchen") if 2000 <= p.price_cents <= 5050]
    assert card_ids(page) == [p.id for p in sorted(expected, key=lambda p: -p.price_cents)]
    assert len(expected) >= 2
    # Every other link of the page keeps the filter.
    for link in page.all("sort-option"):
        assert "min_price=20" in link["attrs"]["href"] and "max_price=50.5" in link["attrs"]["href"]


@pytest.mark.gen_test
async def test_price_links_are_offered_and_keep_the_search(client):
    page = await client.page("/?q=towel")
    links = {link["text"].strip(): link["attrs"]["href"] for link in page.all("price-filter")}
    assert {"Under $20", "$20 to $50", "Over $50"} <= set(links)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(links["$20 to $50"]).query) == {
        "q": ["towel"], "min_price": ["20"], "max_price": ["50"]}
    under = await client.page(links["Under $20"])
    assert card_ids(under) == ["linen-tea-towel"]
    assert under.first("price-filter") is not None


@pytest.mark.parametrize("query, message", [
    ("max_price=cheap", "amount in dollars"),
    ("min_price=-5", "amount in dollars"),
    ("min_price=1e3", "amount in dollars"),
    ("max_price=20.999", "amount in dollars"),
    ("max_price=99999999", "amount in dollars"),
    ("min_price=%EF%BC%92", "amount in dollars"),  # a fullwidth digit
    ("min_price=50&max_price=20", "lowest price (min_price) is above the highest"),
])
@pytest.mark.gen_test
async def test_bad_price_filter_is_400_with_a_message(client, query, message):
    response = await client.get(f"/?{query}")
    assert response.code == 400
    assert message in client.page_of(response).flash


@pytest.mark.gen_test
async def test_searching_a_category_name_finds_its_products(client, app):
    page = await client.page("/?q=kitchen")
    kitchen = [p.id for p in app.catalog.search(category="kitchen")]
    assert set(card_ids(page)) == set(kitchen)


@pytest.mark.gen_test
async def test_tea_ranks_whole_word_name_matches_then_name_starts_then_descriptions(client):
    ids = card_ids(await client.page("/?q=tea"))
    # Linen Tea Towel (the word "tea"), Cast Iron Teapot (a word starting "tea"), then the mug
    # whose description says "teal".
    assert ids.index("linen-tea-towel") < ids.index("cast-iron-teapot") < ids.index("stoneware-mug")
    assert ids[:2] == ["linen-tea-towel", "cast-iron-teapot"]


@pytest.mark.gen_test
async def test_a_typo_with_no_results_suggests_the_close_name(client):
    page = await client.page("/?q=teapott&category=kitchen")
    assert card_ids(page) == []
    suggestion = page.first("did-you-mean")
    assert suggestion is not None and suggestion["text"] == "teapot"
    followed = await client.page(suggestion["attrs"]["href"])
    assert card_ids(followed) == ["cast-iron-teapot"]
    assert "category=kitchen" in suggestion["attrs"]["href"]


@pytest.mark.gen_test
async def test_a_query_far_from_every_name_suggests_nothing(client):
    page = await client.page("/?q=xylophone")
    assert card_ids(page) == [] and page.first("did-you-mean") is None


@pytest.mark.parametrize("query", ["!!!", "%2A%2A", "%E2%80%94", "_"])
@pytest.mark.gen_test
async def test_a_query_of_symbols_only_finds_nothing_and_says_why(client, query):
    page = await client.page(f"/?q={query}")
    assert card_ids(page) == []
    assert "needs a word or a number" in page.text("search-message")
