"""Issue 25's rules as properties, against a real `python app.py` on each database (SQLite and
PostgreSQL): for generated text in the contract's query parameters and form fields (every Unicode
category, lone surrogates sent as their escaped UTF-8 bytes, very long values, malformed
percent-encoding), the shop answers 2xx, 3xx or 4xx, never 5xx; every header of every answer (each hop
of a redirect included) is visible ASCII, by handlers/headers.py's rule; a search longer than its bound
is a 400; a refused registration or checkout changes nothing, and an accepted one reads back exactly as
accepted.

`make test` runs a fixed seed and a bounded number of examples; `make fuzz` (HYPOTHESIS_PROFILE=fuzz)
runs many more."""

from __future__ import annotations

import html
import http.client
import itertools
import os
import re
import unicodedata
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from shop.catalog import MAX_QUERY_LENGTH
from shop.text import TextRefused, read_text
from tests.shop_process import Shopper

pytestmark = pytest.mark.timeout(600)

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=1500, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

QUERY_PARAMETERS = ("q", "category", "sort", "page", "min_price", "max_price")
_names = itertools.count(1)

# Text of every category (surrogates are not valid str for an HTTP client: they come as bytes below).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
long_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=2000, max_size=9000)
# What a hostile client can put in a percent-encoded value: raw escapes of any byte (a lone surrogate
# is %ED%A0%80), malformed escapes ("%", "%G1"), and ordinary text.
raw_piece = st.one_of(
    st.binary(min_size=1, max_size=6).map(lambda b: "".join(f"%{byte:02X}" for byte in b)),
    st.sampled_from(["%", "%G1", "%%", "%E2%80%AE", "%ED%A0%80", "%00", "%0D%0A", "+", "&", "="]),
    any_text.map(lambda text: urllib.parse.quote(text, safe="")),
)
raw_value = st.lists(raw_piece, max_size=8).map("".join)


@pytest.fixture
def shop(start_app, tmp_path, database_url):
    app = start_app("memory", tmp_path / f"data-{next(_names)}", DATABASE_URL=database_url,
                    REGISTER_PER_MINUTE="100000", SESSIONS_PER_MINUTE="100000")
    return app


def raw_request(shop, method: str, target: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def assert_headers_are_visible_ascii(headers) -> None:
    """RFC 9110's field-value without obs-text: visible ASCII, spaces and tabs (http.client reads the
    bytes as Latin-1, so a byte over 0x7F shows as a character outside ASCII)."""
    for name, value in headers:
        assert all(c == "\t" or " " <= c <= "~" for c in value), (name, value)


def assert_answer_is_sane(response: http.client.HTTPResponse) -> None:
    assert response.status < 500, response.status
    location = response.getheader("Location")
    if location is not None:
        assert location.isascii() and location.isprintable(), location
    assert_headers_are_visible_ascii(response.getheaders())


class _HeaderCheck(urllib.request.BaseHandler):
    """Checks the headers of every answer a Shopper gets, each hop of a redirect too (before
    urllib's own processors, which follow redirects and raise for errors)."""

    handler_order = 100

    def http_response(self, request, response):
        assert_headers_are_visible_ascii(response.headers.items())
        return response


def checked_shopper(base_url: str) -> Shopper:
    shopper = Shopper(base_url)
    shopper.opener.add_handler(_HeaderCheck())
    return shopper


def stored_form_of(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def breaks_the_rule_for_text_in(query: str, name: str) -> bool:
    """True when the last value of name in query (as Tornado parses it) is not UTF-8 or holds a
    control or invisible character: the shop must refuse it."""
    values = urllib.parse.parse_qs(query, keep_blank_values=True, encoding="latin-1").get(name)
    if not values:
        return False
    try:
        read_text(values[-1].encode("latin-1"), name)
    except TextRefused:
        return True
    return False


@given(name=st.sampled_from(QUERY_PARAMETERS), value=raw_value)
def test_any_query_parameter_gets_a_2xx_3xx_or_4xx_and_ascii_locations(shop, name, value):
    response = raw_request(shop, "GET", f"/?{name}={value}")
    assert_answer_is_sane(response)
    if breaks_the_rule_for_text_in(f"{name}={value}", name):
        assert response.status == 400


# Around the bound; far longer ones (long_text) would make a URL over the 16 KB of headers (a 431).
# Letters, digits and spaces too, which the rule for text in keeps: then the length alone decides.
search_text = st.one_of(*(st.text(alphabet, min_size=MAX_QUERY_LENGTH - 10, max_size=MAX_QUERY_LENGTH + 200)
                          for alphabet in (st.characters(exclude_categories=("Cs",)),
                                           st.characters(categories=("L", "N", "Zs")))))


@given(text=search_text)
def test_a_search_longer_than_its_bound_is_a_400_at_the_search_field(shop, text):
    # Counted as the shop counts it: NFC characters after the spaces around are stripped.
    response = raw_request(shop, "GET", "/?q=" + urllib.parse.quote(text))
    assert_answer_is_sane(response)
    try:
        too_long = len(read_text(text.encode(), "q").strip()) > MAX_QUERY_LENGTH
    except TextRefused:
        too_long = True  # refused by the rule for text in: a 400 all the same
    assert response.status == (400 if too_long else 200)


local_next = st.one_of(raw_value, raw_value.map(lambda v: "/" + v), raw_value.map(lambda v: "%2F%3Fq%3D" + v),
                       long_text.map(lambda text: "/" + urllib.parse.quote(text, safe="")))


@given(value=local_next)
def test_any_next_logs_in_to_an_ascii_local_location(shop, value):
    shopper = checked_shopper(shop.url)
    shopper.get("/login")
    xsrf = shopper._cookie("_xsrf")
    body = f"username=demo&password=demo1234&_xsrf={xsrf}&next={value}".encode()
    response = raw_request(shop, "POST", "/login", body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"_xsrf={xsrf}",
    })
    assert_answer_is_sane(response)
    if response.status == 303:
        location = response.getheader("Location")
        assert location.startswith("/") and not location.startswith("//")


@given(username=any_text)
def test_a_registration_is_refused_whole_or_reads_back_as_accepted(shop, username):
    username = f"u{next(_names)}{username}"
    shopper = checked_shopper(shop.url)
    page = shopper.post("/register", username=username, password="correct horse battery")
    assert page.status < 500
    if page.status >= 400:
        assert page.current_user is None
        again = checked_shopper(shop.url).post("/login", username=username, password="correct horse battery")
        assert again.current_user is None
    else:
        assert page.current_user == stored_form_of(username)


@given(name=st.one_of(any_text, long_text))
def test_a_guest_checkout_is_refused_whole_or_ships_to_the_name_as_typed(shop, name):
    shopper = checked_shopper(shop.url)
    product_id = shopper.get("/").all("product-card")[0]["attrs"]["data-product-id"]
    assert shopper.post("/cart/add", product_id=product_id, quantity="1").status == 200
    page = shopper.post("/checkout", email="dana@example.com", name=name, street="1 Main Street",
                        city="Portland", postcode="97201", country="US", country_area="OR")
    assert page.status < 500
    if page.status >= 400:
        assert shopper.get("/api/cart").status == 200
        assert re.search(r'"quantity": ?1', shopper.get("/api/cart").html)
    else:
        address = page.html.split('data-testid="ship-address">', 1)[1].split("</address>", 1)[0]
        first_line = html.unescape(address.split("<br>", 1)[0]).strip()
        assert first_line == " ".join(stored_form_of(name).split())


READ_HEADERS = ("Cookie", "Idempotency-Key", "Accept", "Accept-Encoding", "X-Forwarded-For", "X-Request-ID",
                "If-None-Match", "Range", "Referer")
# A header value as bytes on the wire: any byte but CR, LF and NUL (which end or break the header line).
header_bytes = st.binary(max_size=60).map(lambda b: bytes(c for c in b if c not in b"\r\n\x00").strip())


@given(name=st.sampled_from(READ_HEADERS),
       value=st.one_of(header_bytes, header_bytes.map(lambda b: b"session=" + b), header_bytes.map(lambda b: b"flash=" + b),
                       header_bytes.map(lambda b: b"2|1:0|10:1796685827|7:session|" + b)),
       target=st.sampled_from(["/", "/cart", "/api/cart", "/login", "/orders"]))
def test_any_header_the_shop_reads_gets_a_2xx_3xx_or_4xx(shop, name, value, target):
    connection = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=30)
    try:
        connection.putrequest("GET", target)
        connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert_answer_is_sane(response)
