"""What a request must pass before a handler acts on it, and what every answer carries: the
security headers, every header value visible ASCII (handlers/headers.py), the method (405 with Allow;
HEAD wherever GET is), the XSRF token, the per-client rate limits (429), and the redirect guard (only
local paths, every Location ASCII)."""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

import tornado.web

from handlers.errors import METHOD_MESSAGE, XSRF_MESSAGE, ShopError
from handlers.headers import CheckedHeaders
from handlers.limits import RateLimit
from handlers.parts import ShopParts
from handlers.proxies import request_client_address
from shop.throttle import whole_seconds

log = logging.getLogger("shop.web")

# A path on this site: one leading slash, not "//host" or "/\host" (browsers read both as another
# host), and no whitespace, control characters or backslashes anywhere (browsers drop or rewrite them).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*")

# RFC 3986: what a URI may hold unencoded (unreserved and reserved characters); "%" only as the start of
# an escape. Everything else in a Location is percent-encoded as UTF-8.
_URI_SAFE = "!#$&'()*+,/:;=?@[]~-._"
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

# Guards.allowed_methods(), by handler class.
_ALLOWED_METHODS: dict[type, tuple[str, ...]] = {}


def local_path(value: str | None, default: str = "/") -> str:
    """value if it is a path on this site, else default: never redirect to somewhere else."""
    if value and len(value) <= 2000 and _LOCAL_PATH.fullmatch(value):
        return value
    return default


def ascii_url(url: str) -> str:
    """url as an ASCII URI reference (RFC 3986): characters outside ASCII, spaces and controls
    percent-encoded as UTF-8, escapes already there kept, a bare "%" encoded as "%25".
    "/?q=café" -> "/?q=caf%C3%A9"."""
    if url.isascii() and url.isprintable() and " " not in url and "%" not in url:
        return url
    return urllib.parse.quote(_BARE_PERCENT.sub("%25", url), safe=_URI_SAFE + "%")


class Guards(CheckedHeaders):
    """The checks and headers of every request (every header value by handlers/headers.py's rule);
    part of BaseHandler, whose prepare() asks refusal() first."""

    application: ShopParts

    def set_default_headers(self) -> None:
        # Pages carry per-person data and XSRF tokens: no shared cache may keep them.
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'",
        )

    def refusal(self) -> ShopError | None:
        """Why this request is refused before its handler runs, if it is: a method the page does
        not answer (405, checked first: a PUT on a page is not "form expired"), or a form without
        a valid XSRF token (403)."""
        if self.request.method not in self.allowed_methods():
            return ShopError(405, METHOD_MESSAGE)
        if not self._xsrf_valid():
            return ShopError(403, XSRF_MESSAGE)
        return None

    @classmethod
    def allowed_methods(cls) -> tuple[str, ...]:
        """The methods this handler answers (its Allow header): those it implements, and HEAD with GET.
        Worked out once per class (every request asks)."""
        allowed = _ALLOWED_METHODS.get(cls)
        if allowed is None:
            implemented = [method for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
                           if getattr(cls, method.lower()) is not getattr(tornado.web.RequestHandler, method.lower())]
            if "GET" in implemented:
                implemented[1:1] = ["HEAD"]
            allowed = _ALLOWED_METHODS[cls] = tuple(implemented)
        return allowed

    async def head(self, *args: Any, **kwargs: Any) -> None:
        """HEAD wherever GET is allowed: the GET runs, and Tornado sends its headers without the
        body. Nothing is changed: no flash message is taken, no session's ttl rolled."""
        if "GET" not in self.allowed_methods():
            raise tornado.web.HTTPError(405)
        result = self.get(*args, **kwargs)
        if result is not None:
            await result

    def check_xsrf_cookie(self) -> None:
        """Deferred to prepare() (refusal()): Tornado calls this before prepare(), and the 403 page
        should show the person's own header (cart count, name), which needs the session loaded first."""

    def _xsrf_valid(self) -> bool:
        if self.request.method in ("GET", "HEAD", "OPTIONS") or not self.settings.get("xsrf_cookies"):
            return True
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError:
            return False
        return True

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Tornado's redirect, with every Location ASCII (ascii_url)."""
        super().redirect(ascii_url(url), permanent=permanent, status=status)

    @property
    def client_address(self) -> str:
        """The client's IP address; X-Forwarded-For counts only from TRUSTED_PROXIES."""
        return request_client_address(self.request, self.application.config.limits.trusted_proxies)

    async def check_rate(self, limit: RateLimit, message: str, cause: str) -> None:
        """Spend one of this client's tokens in limit, or raise 429 with message (it may hold {seconds});
        cause names the limit in the metrics."""
        wait = await limit.take(self.client_address)
        if wait > 0:
            seconds = whole_seconds(wait)
            log.info("%s %s refused: rate limit for %s", self.request.method, self.request.path, self.client_address)
            self.application.metrics.refused(429, cause)
            raise ShopError(429, message.format(seconds=seconds), retry_after=seconds)
