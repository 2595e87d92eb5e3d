"""Static files with short version hashes in their URLs, cached as immutable when versioned, and nosniff."""

from __future__ import annotations

import datetime

import tornado.web

from handlers.headers import CheckedHeaders

VERSION_LENGTH = 12  # hex digits: 48 bits tell a changed file apart from its old version
ONE_YEAR_SECONDS = 365 * 24 * 3600


class StaticFiles(CheckedHeaders, tornado.web.StaticFileHandler):
    """Tornado's handler with `?v=` twelve hex digits long instead of 128, and
    `Cache-Control: public, max-age=31536000, immutable` for a versioned URL: its content never
    changes, so a browser need not even revalidate it on reload. Its headers by the shop's rule
    (handlers/headers.py), as every page's."""

    def set_default_headers(self) -> None:
        # As on every response of the shop: a browser must not guess another type than the one sent.
        self.set_header("X-Content-Type-Options", "nosniff")

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        return super().get_content_version(abspath)[:VERSION_LENGTH]

    def get_cache_time(self, path: str, modified: datetime.datetime | None, mime_type: str) -> int:
        return ONE_YEAR_SECONDS if "v" in self.request.arguments else 0

    def set_extra_headers(self, path: str) -> None:
        if "v" in self.request.arguments:
            self.set_header("Cache-Control", f"public, max-age={ONE_YEAR_SECONDS}, immutable")

    def check_xsrf_cookie(self) -> None:
        """Nothing: static files change nothing, so another method than GET or HEAD is a 405 (with
        Allow), not a 403 "form expired"."""

    def write_error(self, status_code: int, **kwargs) -> None:
        if status_code == 405:
            self.set_header("Allow", "GET, HEAD")
        super().write_error(status_code, **kwargs)
