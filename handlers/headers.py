"""Text out in headers: every header value the shop writes is visible ASCII (or a tab), by RFC 9110's
field-value without obs-text. A value outside it is a programming error, refused loudly (ValueError,
so a 500 and a traceback, never a header a browser or proxy must guess at): text from outside is
encoded by the code that builds the header, by that header's own grammar (Location: ascii_url;
cookies: signed, so base64), before it gets here."""

from __future__ import annotations

import datetime
import numbers
import re

import tornado.web

# RFC 9110 5.6.2 token (a field name) and 5.5 field-value, obs-text (bytes over 0x7F) left out.
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
HeaderValue = str | bytes | int | datetime.datetime


def checked_header_value(name: str, value: str) -> str:
    """value, if name is a token and value visible ASCII, spaces and tabs; else ValueError."""
    if _FIELD_NAME.fullmatch(name) is None:
        raise ValueError(f"header name {name!r} is not an RFC 9110 token")
    if _FIELD_VALUE.fullmatch(value) is None:
        raise ValueError(f"header {name}: value {value!r} is not visible ASCII (encode it by the header's grammar)")
    return value


def _checked(name: str, value: HeaderValue) -> HeaderValue:
    """value for Tornado's set_header and add_header, by the rule: text and bytes checked (bytes must
    be ASCII), numbers and dates as they are (Tornado writes them in ASCII)."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"header {name}: value {value!r} is not ASCII") from None
    if isinstance(value, str):
        return checked_header_value(name, value)
    if isinstance(value, (numbers.Integral, datetime.datetime)):
        return value
    raise TypeError(f"header {name}: unsupported value {value!r}")


class CheckedHeaders(tornado.web.RequestHandler):
    """set_header and add_header by the rule (Tornado's redirect, set_cookie's Set-Cookie, finish's
    Etag and every handler's own headers go through them): part of every handler of the shop."""

    def set_header(self, name: str, value: HeaderValue) -> None:
        super().set_header(name, _checked(name, value))

    def add_header(self, name: str, value: HeaderValue) -> None:
        super().add_header(name, _checked(name, value))

    def set_cookie(self, name: str, value: str | bytes, *args, **kwargs) -> None:
        # Tornado writes Set-Cookie in flush(), once the headers count as sent: checked here, while
        # a refusal can still be a 500 page rather than a dropped connection.
        _checked("Set-Cookie", name)
        _checked("Set-Cookie", value)
        super().set_cookie(name, value, *args, **kwargs)
