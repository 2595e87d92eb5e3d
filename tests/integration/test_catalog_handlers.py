"""The catalog pages, /healthz, unknown paths, and what a cookie-less crawler leaves behind."""

import json
import os
import re
import socket
import urllib.parse

import pytest

from shop.catalog import PAGE_SIZE


@pytest.mark.gen_test
async def test_home_lists_the_first_page_of_products_with_picture_price_and_add_button(client, app):
    page = await client.page("/")
    cards = page.all("product-card")
    assert len(cards) == PAGE_SIZE < len(app.catalog.search())
    assert len(page.all("add-to-cart")) == len(cards)
    first = app.catalog.search()[0]
    assert f'src="/static/img/products/{first.image}?v=' in page.html
    assert page.text("cart-count") == "0"
    assert page.first("current-user") is None


@pytest.mark.gen_test
async def test_card_picture_is_decorative_inside_the_link_that_names_the_product(client, app):
    html = (await client.page("/")).html
    first = app.catalog.search()[0]
    link = re.search(rf'<a class="card-link" href="/product/{first.id}">(.*?)</a>', html, re.S).group(1)
    assert 'alt=""' in link and first.name in link
    assert f'alt="{first.name}"' not in html


@pytest.mark.gen_test
async def test_catalog_page_carries_one_xsrf_field_for_all_its_add_buttons(client):
    html = (await client.page("/")).html
    assert html.count('name="_xsrf"') == 1
    assert html.count('name="product_id"') == PAGE_SIZE


@pytest.mark.parametrize("sort, key", [
    ("price-asc", lambda p: p.price_cents),
    ("price-desc", lambda p: -p.price_cents),
    ("name", lambda p: p.name.casefold()),
])
@pytest.mark.gen_test
async def test_sort_orders_every_page(client, app, sort, key):
    ids = []
    for number in (1, 2):
        page = await client.page(f"/?sort={sort}&page={number}")
        ids += card_ids(page)
    expected = [p.id for p in sorted(app.catalog.search(), key=key)]
    assert ids == expected


@pytest.mark.gen_test
async def test_sort_page_query_and_category_combine_in_every_link(client, app):
    page = await client.page("/?category=kitchen&sort=price-desc")
    prices = [app.catalog.get(pid).price_cents for pid in card_ids(page)]
    assert prices == sorted(prices, reverse=True) and len(prices) == 6
    assert 'href="/?category=kitchen&amp;sort=name"' in page.html
    # Sorting a search keeps the query; the pages of a sorted list keep the sort.
    search = await client.page("/?q=set&sort=name")
    assert 'href="/?q=set&amp;sort=price-asc"' in search.html
    first = await client.page("/?sort=price-asc")
    assert 'href="/?sort=price-asc&amp;page=2"' in first.html
    second = await client.page("/?sort=price-asc&page=2")
    assert [link["attrs"]["data-page"] for link in second.all("page-link")] == ["1", "2"]
    assert 'href="/?sort=price-asc"' in second.html  # page 1 is the plain URL


@pytest.mark.gen_test
async def test_pages_split_the_catalog_without_overlap(client, app):
    first, second = await client.page("/"), await client.page("/?page=2")
    assert set(card_ids(first)).isdisjoint(card_ids(second))
    assert card_ids(first) + card_ids(second) == [p.id for p in app.catalog.search()][:2 * PAGE_SIZE]
    assert "page 2 of 2" in second.text("result-count")


@pytest.mark.parametrize("query, expected_first", [
    ("mugs", "stoneware-mug"), ("tea pot", "cast-iron-teapot"), ("TEAPOTS", "cast-iron-teapot"),
    ("knives", "chefs-knife"), ("fountain", "fountain-pen"),
])
@pytest.mark.gen_test
async def test_search_tolerates_plurals_and_spaces_and_ranks_name_matches_first(client, query, expected_first):
    page = await client.page(f"/?q={urllib.parse.quote(query)}")
    assert card_ids(page)[0] == expected_first


@pytest.mark.parametrize("query, status, message", [
    ("sort=cheapest", 400, "cannot sort that way"),
    ("page=0", 404, "no page 0"),
    ("page=abc", 400, "whole number"),
    ("page=-1", 400, "whole number"),
    ("page=99999999999999999999", 400, "whole number"),
    ("page=3", 404, "this list has 2 pages"),
    ("q=mug&page=2", 404, "this list has 1 page"),
])
@pytest.mark.gen_test
async def test_bad_sort_or_page_is_a_clear_4xx_never_a_500(client, query, status, message):
    response = await client.get(f"/?{query}")
    assert response.code == status
    assert message in client.page_of(response).flash
    assert b"Traceback" not in response.body


@pytest.mark.gen_test
async def test_empty_sort_and_page_mean_the_defaults(client):
    page = await client.page("/?sort=&page=")
    assert len(card_ids(page)) == PAGE_SIZE


@pytest.mark.gen_test
async def test_versioned_static_files_are_immutable_with_a_short_hash(client):
    html = (await client.page("/")).html
    url = re.search(r'href="(/static/css/shop\.css\?v=([0-9a-f]+))"', html)
    assert url and len(url.group(2)) == 12
    response = await client.get(url.group(1))
    assert response.code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = await client.get("/static/css/shop.css")
    assert "immutable" not in plain.headers.get("Cache-Control", "")


@pytest.mark.gen_test
async def test_pages_are_gzipped_for_browsers_that_ask(client):
    response = await client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.code == 200
    assert response.headers.get("Content-Encoding") == "gzip" or response.headers.get("X-Consumed-Content-Encoding") == "gzip"


def card_ids(page):
    return [card["attrs"]["data-product-id"] for card in page.all("product-card")]



@pytest.mark.gen_test
async def test_search_finds_by_name_and_description(client, app):
    product = app.catalog.search()[0]
    word = product.name.split()[-1]
    page = await client.page(f"/?q={word.upper()}")
    ids = [card["attrs"]["data-product-id"] for card in page.all("product-card")]
    assert product.id in ids
    assert len(ids) < len(app.catalog.search())


@pytest.mark.gen_test
async def test_search_without_match_says_so(client):
    page = await client.page("/?q=zzzz-no-such-thing")
    assert page.all("product-card") == []
    assert "Nothing matches" in page.html


@pytest.mark.gen_test
async def test_search_query_is_escaped_in_the_page(client):
    page = await client.page("/?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in page.html
    assert "&lt;script&gt;" in page.html


@pytest.mark.gen_test
async def test_category_filter_shows_only_that_category(client, app):
    catalog = app.catalog
    slug, _ = catalog.categories()[1]
    page = await client.page(f"/?category={slug}")
    ids = {card["attrs"]["data-product-id"] for card in page.all("product-card")}
    assert ids == {p.id for p in catalog.search() if p.category == slug}


@pytest.mark.gen_test
async def test_unknown_category_is_404_with_message(client):
    response = await client.get("/?category=nope")
    assert response.code == 404
    assert "no such category" in client.page_of(response).flash


@pytest.mark.gen_test
async def test_product_page_has_quantity_field_with_label_and_add_button(client, app):
    product = app.catalog.search()[3]
    page = await client.page(f"/product/{product.id}")
    assert product.name in page.html and product.description in page.html
    assert '<label for="quantity">' in page.html and 'id="quantity" name="quantity"' in page.html
    assert page.first("add-to-cart") is not None


@pytest.mark.gen_test
async def test_unknown_product_is_404_with_message(client):
    response = await client.get("/product/no-such-thing")
    assert response.code == 404
    assert "do not sell that product" in client.page_of(response).flash


@pytest.mark.gen_test
async def test_unknown_path_is_404_page_without_traceback(client):
    response = await client.get("/no/such/page")
    assert response.code == 404
    assert "could not find that page" in client.page_of(response).flash
    assert b"Traceback" not in response.body


@pytest.mark.gen_test
async def test_healthz_names_the_session_backend_the_database_their_states_and_the_instance(client, config):
    response = await client.get("/healthz")
    assert response.code == 200
    assert json.loads(response.body) == {
        "status": "ok",
        "session_backend": config.session_backend,
        "session_store": "ok",
        "database_engine": "sqlite",
        "database": "ok",
        "instance": {"hostname": socket.gethostname(), "pid": os.getpid()},
    }


@pytest.mark.gen_test
async def test_pages_load_nothing_from_other_sites(client):
    page = await client.page("/")
    assert "http://" not in page.html and "https://" not in page.html
    response = await client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.gen_test
async def test_static_files_are_served(client):
    for path in ("/static/css/shop.css", "/static/js/cart.js", "/static/favicon.svg"):
        assert (await client.get(path)).code == 200


@pytest.mark.gen_test
async def test_crawler_without_cookies_stores_no_session(make_client, app, config, product_ids):
    for path in ("/", f"/product/{product_ids[0]}", "/cart", "/login", "/register", "/orders", "/checkout",
                 "/api/cart", "/healthz", "/nope", "/?q=mug"):
        crawler = make_client()  # a fresh client each time: no cookies at all
        response = await crawler.get(path)
        assert response.code < 500
        assert all("session=" not in h for h in response.headers.get_list("Set-Cookie"))
    stats = await app.session_store.stats()
    assert stats.sessions == 0 and stats.expired == 0
    if config.session_backend == "file":
        assert [path for path in config.session_dir.rglob("*") if path.is_file()] == []
