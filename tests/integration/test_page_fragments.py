"""Kept page fragments (handlers/fragments.py): a page built from kept fragments is the same, byte for
byte, as one rendered afresh; lines with an error are never kept; each person gets their own XSRF
field in a kept fragment."""

import re

import pytest
from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup

from handlers.fragments import Fragments
from tests.pages import Page

_PER_USE_VALUE = re.compile(r'(name="(?:_xsrf|idempotency_key)" value=")[^"]+"')


def without_xsrf_values(html: str) -> str:
    """Tornado masks the XSRF token afresh for each response, and every form gets a one-time key of
    its own; everything else must match."""
    return _PER_USE_VALUE.sub(r'\1…"', html)


def xsrf_values(html: str) -> set[str]:
    return set(re.findall(r'name="_xsrf" value="([^"]+)"', html))


async def fill_cart(client, product_ids):
    for index, product_id in enumerate(product_ids[:6]):
        assert (await client.add(product_id, 1 + index % 3)).code == 303
    await client.get("/login")  # shows (and so clears) the "Added" messages


async def cart_page_uncached(app, client) -> str:
    """The cart page with nothing kept: every line rendered afresh, as before fragments existed."""
    kept = app.fragments
    app.fragments = Fragments(app.template_env, limit=0)
    try:
        response = await client.get("/cart")
    finally:
        app.fragments = kept
    assert response.code == 200
    return response.body.decode()


@pytest.mark.parametrize("session_backend", ["memory"])
@pytest.mark.gen_test
async def test_cart_page_from_kept_lines_is_the_same_as_rendered_afresh(app, client, product_ids):
    await fill_cart(client, product_ids)
    first = (await client.get("/cart")).body.decode()
    assert len(app.fragments) == 6
    again = (await client.get("/cart")).body.decode()
    afresh = await cart_page_uncached(app, client)
    assert len(Page(again).all("cart-line")) == 6
    assert without_xsrf_values(first) == without_xsrf_values(again) == without_xsrf_values(afresh)
    # One field per line form, the same on the whole page.
    assert len(xsrf_values(again)) == 1

    # A changed quantity is another fragment.
    assert (await client.post("/cart/update", {"product_id": product_ids[0], "quantity": "7"})).code == 303
    await client.get("/login")
    changed = (await client.get("/cart")).body.decode()
    assert Page(changed).cart_lines[product_ids[0]] == 7
    assert without_xsrf_values(changed) == without_xsrf_values(await cart_page_uncached(app, client))


@pytest.mark.parametrize("session_backend", ["memory"])
@pytest.mark.parametrize("sent", ["1000", "\"><b>x</b>", "-1"])
@pytest.mark.gen_test
async def test_a_line_with_an_error_is_rendered_afresh_and_never_kept(app, client, product_ids, sent):
    await fill_cart(client, product_ids)
    await client.get("/cart")  # every line kept as stored
    kept_before = len(app.fragments)
    bad = product_ids[1]
    response = await client.post("/cart/update", {"product_id": bad, "quantity": sent})
    assert response.code == 400
    html = response.body.decode()
    page = Page(html, status=400)
    assert page.first("field-error") is not None
    assert f'id="quantity-{bad}" name="quantity" type="number" inputmode="numeric" min="0" max="99" value="' \
           f'{Markup.escape(sent)}" aria-describedby="quantity-{bad}-error" aria-invalid="true">' in html
    assert len(app.fragments) == kept_before

    # The same refusal with nothing kept renders the same page.
    kept = app.fragments
    app.fragments = Fragments(app.template_env, limit=0)
    try:
        afresh = (await client.post("/cart/update", {"product_id": bad, "quantity": sent})).body.decode()
    finally:
        app.fragments = kept
    assert without_xsrf_values(html) == without_xsrf_values(afresh)

    # The error stays on that one page: the next shows the line as stored, from the kept fragment.
    after = (await client.get("/cart")).body.decode()
    assert "aria-invalid" not in after and 'data-testid="field-error"' not in after
    assert without_xsrf_values(after) == without_xsrf_values(await cart_page_uncached(app, client))


@pytest.mark.parametrize("session_backend", ["memory"])
@pytest.mark.gen_test
async def test_kept_lines_carry_each_persons_own_xsrf_field(app, make_client, product_ids):
    first, second = make_client(), make_client()
    await fill_cart(first, product_ids)
    await first.get("/cart")
    await fill_cart(second, product_ids)  # the same lines: all kept already
    kept = len(app.fragments)
    html = (await second.get("/cart")).body.decode()
    assert len(app.fragments) == kept
    (token,) = xsrf_values(html)
    # The token in the kept line's form is the second person's: their update goes through...
    second._xsrf = token
    assert (await second.post("/cart/update", {"product_id": product_ids[0], "quantity": "5"})).code == 303
    assert (await second.cart_quantities())[product_ids[0]] == 5
    # ...and is refused from the first person's browser.
    first._xsrf = token
    assert (await first.post("/cart/update", {"product_id": product_ids[0], "quantity": "5"})).code == 403


def make_env(templates: dict[str, str]) -> Environment:
    return Environment(loader=DictLoader(templates), autoescape=select_autoescape(default=True))


def test_fragments_escape_what_they_show_and_put_the_field_in_unescaped():
    fragments = Fragments(make_env({"f.html": "<p>{{ name }}</p>{{ xsrf_form_html() }}<i>{{ name }}</i>"}))
    field = Markup('<input type="hidden" name="_xsrf" value="a&amp;b">')
    html = fragments.render("f.html", "k", {"name": "<Tom & Jerry>"}, lambda: field)
    expected = '<p>&lt;Tom &amp; Jerry&gt;</p><input type="hidden" name="_xsrf" value="a&amp;b"><i>&lt;Tom &amp; Jerry&gt;</i>'
    assert html == expected and isinstance(html, Markup)
    # Kept: the same key gives the kept HTML, with this page's field.
    other = Markup('<input type="hidden" name="_xsrf" value="zz">')
    assert fragments.render("f.html", "k", {"name": "ignored"}, lambda: other) == expected.replace("a&amp;b", "zz")


def test_fragments_keep_at_most_the_limit_dropping_the_oldest():
    fragments = Fragments(make_env({"f.html": "{{ n }}"}), limit=2)
    no_field = lambda: Markup("")  # noqa: E731
    for n in (1, 2, 3):
        fragments.render("f.html", n, {"n": n}, no_field)
    assert len(fragments) == 2
    assert fragments.render("f.html", 1, {"n": "one again"}, no_field) == "one again"  # 1 was dropped
    assert fragments.render("f.html", 3, {"n": "three again"}, no_field) == "3"  # 3 was kept


def test_fragments_without_a_key_are_rendered_afresh_and_not_kept():
    fragments = Fragments(make_env({"f.html": "{{ n }}"}))
    assert fragments.render("f.html", None, {"n": 1}, lambda: Markup("")) == "1"
    assert fragments.render("f.html", None, {"n": 2}, lambda: Markup("")) == "2"
    assert len(fragments) == 0
