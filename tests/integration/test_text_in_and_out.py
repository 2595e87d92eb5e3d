"""Issue 25's two rules in the app (the checkout's address fields are in test_hostile_input.py): every text the shop takes goes through shop.text.read_text (UTF-8,
NFC, control and invisible characters refused at the field, nothing replaced), and every Location it
sends is ASCII."""

import logging
import urllib.parse

import pytest

from handlers.guards import ascii_url
from handlers.logs import TextFormatter
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
