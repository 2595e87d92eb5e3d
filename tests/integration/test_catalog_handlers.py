"""The catalog pages, /healthz, unknown paths, and what a cookie-less crawler leaves behind."""

import json

import pytest


@pytest.mark.gen_test
async def test_home_lists_every_product_with_picture_price_and_add_button(client, app):
    page = await client.page("/")
    cards = page.all("product-card")
    assert len(cards) == len(app.catalog.search()) >= 24
    assert len(page.all("add-to-cart")) == len(cards)
    first = app.catalog.search()[0]
    assert f'src="/static/img/products/{first.image}' in page.html
    assert f'alt="{first.name}"' in page.html
    assert page.text("cart-count") == "0"
    assert page.first("current-user") is None


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
async def test_healthz_names_the_session_backend(client, config):
    response = await client.get("/healthz")
    assert response.code == 200
    assert json.loads(response.body) == {"status": "ok", "session_backend": config.session_backend}


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
