"""Issue 25's two rules in the app (the checkout's address fields are in test_hostile_input.py): every text the shop takes goes through shop.text.read_text (UTF-8,
NFC, control and invisible characters refused at the field, nothing replaced: every form shown again
with the message at the field, the search within its length bound, the flash and refused-form
cookies read back by the same rule), and every header it sends is visible ASCII (every Location
percent-encoded)."""

import json
import logging
import urllib.parse

import pytest
import tornado.web

from handlers.base import BaseHandler
from handlers.guards import ascii_url
from handlers.headers import checked_header_value
from handlers.logs import TextFormatter
from shop.catalog import MAX_QUERY_LENGTH
from shop.text import TextRefused, escape_for_log, read_text
from tests.conftest import DEMO_PASSWORD, DEMO_USERNAME


@pytest.mark.gen_test
async def test_login_with_a_non_ascii_next_redirects_to_an_ascii_location(auth):
    response = await auth.login(next="/?q=café")
    assert response.code == 303
    location = response.headers["Location"]
    assert location == "/?q=caf%C3%A9"
    assert location.isascii()
    assert urllib.parse.unquote(location) == "/?q=café"


@pytest.mark.gen_test
@pytest.mark.parametrize("next_url", ["/orders\r\nSet-Cookie: x=1", "/orders\n", "/a\x00b"])
async def test_a_next_with_a_line_break_or_nul_falls_back_to_home(auth, next_url):
    response = await auth.login(next=next_url)
    assert response.code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.gen_test
async def test_a_username_with_a_control_character_is_refused_at_the_field(auth, client):
    response = await auth.register("dana\x07", "correct horse battery")
    assert response.code == 400
    assert "no invisible or control characters" in response.body.decode()
    response = await auth.login("dana\x07", "correct horse battery")
    assert response.code == 400
    assert "no invisible or control characters" in response.body.decode()
    assert (await auth.login("dana\x07", "correct horse battery")).code == 400
    assert (await auth.login(DEMO_USERNAME, DEMO_PASSWORD)).code == 303


@pytest.mark.gen_test
@pytest.mark.parametrize("query", ["q=%FF%FE", "q=%C0%AF", "q=%ED%A0%80", "q=%E2%80%AE", "category=%00"])
async def test_undecodable_or_invisible_query_text_is_a_400_never_a_500(client, query):
    response = await client.get("/?" + query)
    assert response.code == 400
    assert "Traceback" not in response.body.decode()


@pytest.mark.gen_test
async def test_decomposed_search_text_finds_what_composed_text_finds(client):
    composed = await client.get("/?q=" + urllib.parse.quote("café"))
    decomposed = await client.get("/?q=" + urllib.parse.quote("cafe\u0301"))
    assert composed.code == decomposed.code == 200
    assert 'value="café"' in decomposed.body.decode()


def test_read_text_normalises_to_nfc_and_refuses_what_it_cannot_keep():
    assert read_text("cafe\u0301".encode(), "name") == "café"
    assert read_text(b"plain", "name") == "plain"
    for bad in (b"\xff", b"a\x00b", b"a\x07", "a\u202eb".encode(), "\u200b".encode()):
        with pytest.raises(TextRefused) as refused:
            read_text(bad, "name")
        assert refused.value.field == "name"
    assert read_text("می\u200cخواهم".encode(), "name") == "می\u200cخواهم"
    # Passwords are kept exactly as typed (no NFC), but NUL is still refused.
    assert read_text("e\u0301 \t".encode(), "password", as_typed=True) == "e\u0301 \t"
    with pytest.raises(TextRefused):
        read_text(b"a\x00", "password", as_typed=True)


@pytest.mark.parametrize("url, expected", [
    ("/orders/3", "/orders/3"),
    ("/?q=café", "/?q=caf%C3%A9"),
    ("/?q=a b", "/?q=a%20b"),
    ("/?q=100%", "/?q=100%25"),
    ("/?q=%C3%A9", "/?q=%C3%A9"),
    ("/?q=\u202e", "/?q=%E2%80%AE"),
    ("/login?next=%2Fcheckout", "/login?next=%2Fcheckout"),
])
def test_ascii_url_percent_encodes_what_rfc_3986_does_not_allow(url, expected):
    assert ascii_url(url) == expected
    assert ascii_url(url).isascii() and ascii_url(url).isprintable()


def test_a_name_with_a_line_break_cannot_forge_a_log_line():
    record = logging.LogRecord("shop.web", logging.INFO, __file__, 1, "order for %s", ("Dana\nFAKE 500",), None)
    line = TextFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert "\n" not in line
    assert line == "INFO shop.web: order for Dana\\nFAKE 500"
    assert escape_for_log("bidi \u202e") == "bidi \\u202e"


# --- Issue 25, round two: every header out, the cookies read back, the search's bound, every form ---

NAVIGATE = {"Sec-Fetch-Mode": "navigate"}


@pytest.mark.parametrize("value", ["no-store", "text/html; charset=UTF-8", "a\tb", "", "!~"])
def test_a_header_value_of_visible_ascii_passes(value):
    assert checked_header_value("X-Test", value) == value


@pytest.mark.parametrize("name, value", [
    ("X-Test", "café"), ("X-Test", "a\x07b"), ("X-Test", "a\x7fb"), ("X-Test", "\u202e"), ("X-Test", "a\x00"),
    ("X Test", "fine"), ("X-Tést", "fine"), ("", "fine"),
])
def test_a_header_value_outside_visible_ascii_or_a_bad_name_is_refused(name, value):
    with pytest.raises(ValueError):
        checked_header_value(name, value)


class _SendsABadHeader(BaseHandler):
    """A handler with a bug: it puts text from outside into a header as it is."""

    def get(self) -> None:
        how = self.get_query_argument("how")
        if how == "set_header":
            self.set_header("X-Greeting", "café")
        elif how == "add_header":
            self.add_header("X-Greeting", b"caf\xc3\xa9")
        elif how == "set_cookie":
            self.set_cookie("greeting", "café")
        self.finish("sent")


@pytest.mark.gen_test
@pytest.mark.parametrize("how", ["set_header", "add_header", "set_cookie"])
async def test_a_handler_setting_a_header_outside_ascii_cannot_send_it(app, client, how):
    app.add_handlers(r".*", [(r"/test-bad-header", _SendsABadHeader)])
    response = await client.get(f"/test-bad-header?how={how}")
    assert response.code == 500
    assert b"sent" not in response.body
    for name, value in response.headers.get_all():
        assert value.isascii() and "café" not in value, (name, value)
    assert "X-Greeting" not in response.headers
    assert not any("greeting" in cookie for cookie in response.headers.get_list("Set-Cookie"))


@pytest.mark.gen_test
async def test_every_header_of_the_usual_pages_is_visible_ascii(client, auth, product_ids):
    await auth.login()
    for path in ("/", "/?q=caf%C3%A9", f"/product/{product_ids[0]}", "/cart", "/account", "/static/css/shop.css",
                 "/nope", "/api/cart", "/healthz"):
        response = await client.get(path)
        for name, value in response.headers.get_all():
            assert all(c == "\t" or " " <= c <= "~" for c in value), (path, name, value)


def signed_cookie(app, name: str, value: bytes) -> str:
    return tornado.web.create_signed_value(app.config.cookie_secret, app.cookie_name(name), value).decode()


@pytest.mark.gen_test
@pytest.mark.parametrize("cookie", ["flash", "refused_form"])
@pytest.mark.parametrize("value", [
    b"\xff\xfe not UTF-8", b"[{\"kind\": \"error\", \"text\": \"Dana\\u0007\"}]", b"{\"path\": \"/cart\", \"e\\u202e\": 1}",
    b"not JSON", b"[" * 3000, b"[[[[[[\"deep\"]]]]]]",
])
async def test_a_flash_or_refused_form_cookie_that_breaks_the_rule_is_ignored(app, client, cookie, value):
    client.cookies[app.cookie_name(cookie)] = signed_cookie(app, cookie, value)
    response = await client.get("/cart")
    assert response.code == 200
    assert "Dana" not in response.body.decode() and "deep" not in response.body.decode()


@pytest.mark.gen_test
async def test_a_flash_cookie_that_keeps_the_rule_is_shown(app, client):
    client.cookies[app.cookie_name("flash")] = signed_cookie(
        app, "flash", json.dumps([{"kind": "info", "text": "Bonjour, café"}]).encode())
    assert "Bonjour, café" in (await client.page("/cart")).html


@pytest.mark.gen_test
@pytest.mark.parametrize("length, status", [(MAX_QUERY_LENGTH, 200), (MAX_QUERY_LENGTH + 1, 400), (5000, 400)])
async def test_a_search_over_its_length_bound_is_refused_at_the_search_field(client, length, status):
    text = ("mug " * length)[:length - 1] + "é"
    response = await client.get("/?q=" + urllib.parse.quote(text))
    assert response.code == status
    page = client.page_of(response)
    if status == 400:
        error = page.first("field-error")
        assert error["attrs"]["data-field"] == "q" and f"at most {MAX_QUERY_LENGTH} characters" in error["text"]
        assert f'value="{text}"' in page.html  # the search as typed, to shorten
        assert page.all("product-card")  # the catalog, unsearched
    else:
        assert page.first("field-error") is None


@pytest.mark.gen_test
async def test_a_search_with_a_control_character_is_refused_at_the_search_field(client):
    response = await client.get("/?q=" + urllib.parse.quote("mug\u202e"))
    assert response.code == 400
    page = client.page_of(response)
    assert page.first("field-error")["attrs"]["data-field"] == "q"
    assert 'value="mug"' in page.html


# Each form that is not checkout, login's username or register's: (path, fields, the field the message
# is at, or None where the field is hidden and the message is in the page's summary). "{p}" is a product.
BAD = "\x07"
FORMS = [
    ("/cart/add", {"product_id": "{p}", "quantity": f"2{BAD}"}, "quantity"),
    ("/cart/update", {"product_id": "{p}", "quantity": f"\x003"}, "quantity"),
    ("/cart/update", {"product_id": "{p}", "quantity": "3", "line": f"{{p}}{BAD}"}, None),
    ("/cart/remove", {"product_id": f"{{p}}{BAD}"}, None),
    ("/login", {"username": DEMO_USERNAME, "password": f"{DEMO_PASSWORD}\x00"}, "password"),
    ("/account/password", {"current_password": f"{DEMO_PASSWORD}\x00", "new_password": "a new long passphrase"},
     "current_password"),
    ("/account/password", {"current_password": DEMO_PASSWORD, "new_password": "a new long passphrase\x00"},
     "new_password"),
    ("/account/sessions/end", {"session": f"abc{BAD}"}, None),
]


async def post_refused_form(auth, client, product_ids, path, fields, headers=None):
    """Logged in (but for /login), with one of product_ids[0] in the cart; the form posted."""
    if path != "/login":
        assert (await auth.login()).code == 303
    await client.add(product_ids[0], 1)
    fields = {name: value.replace("{p}", product_ids[0]) for name, value in fields.items()}
    return await client.post(path, fields, headers=headers)


@pytest.mark.gen_test
@pytest.mark.parametrize("path, fields, field", FORMS)
async def test_a_form_field_that_breaks_the_rule_shows_the_form_again_with_the_message(
        auth, client, product_ids, path, fields, field):
    response = await post_refused_form(auth, client, product_ids, path, fields)
    assert response.code == 400
    page = client.page_of(response)
    assert "invisible or control characters" in page.html
    assert [error["attrs"]["data-field"] for error in page.all("field-error")] == ([field] if field else [])
    assert "That did not work" not in page.html  # the form's page, not the error page
    assert await client.cart_quantities() == {product_ids[0]: 1}
    if path != "/login":
        assert (await client.page("/account")).current_user == DEMO_USERNAME  # nothing ended, nothing changed


@pytest.mark.gen_test
@pytest.mark.parametrize("path, fields, field", [case for case in FORMS if case[0].startswith(("/cart", "/login"))])
async def test_a_browser_refused_at_a_field_is_redirected_to_the_form_with_the_message(
        auth, client, product_ids, path, fields, field):
    response = await post_refused_form(auth, client, product_ids, path, fields, headers=NAVIGATE)
    assert response.code == 303
    page = await client.page(response.headers["Location"].split("#")[0])
    assert "invisible or control characters" in page.html
    if field is not None:
        assert page.first("field-error")["attrs"]["data-field"] == field
    assert await client.cart_quantities() == {product_ids[0]: 1}


@pytest.mark.gen_test
@pytest.mark.parametrize("fields", [{"password": "a\x00b"}, {"password": "long enough", "username": f"dana{BAD}"}])
async def test_the_strength_meter_names_a_field_that_breaks_the_rule(client, fields):
    response = await client.post("/password-strength", fields, headers={"X-Requested-With": "fetch"})
    assert response.code == 400
    answer = json.loads(response.body)
    assert answer["field"] == next(name for name, value in fields.items() if "\x00" in value or BAD in value)
    assert "invisible or control characters" in answer["error"]
