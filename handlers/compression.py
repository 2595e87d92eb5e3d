"""gzip for pages, CSS and JavaScript, at level 1, as nginx does by default; only for a client whose
Accept-Encoding accepts gzip (a q of 0 refuses it), and never for a part of a file (206, or anything
with a Content-Range, which counts the plain bytes).

Measured on the home page (10.9 KB of HTML), as the server's CPU time per request under
`wrk -t2 -c16 -d5s`: 0.84-0.90 ms plain, 0.99-1.00 ms at level 1 (2.5 KB sent), 1.00-1.30 ms at
Tornado's default level 6 (2.3 KB). Level 1 saves three quarters of the bytes for about 0.1 ms.
"""

from __future__ import annotations

import tornado.httputil
import tornado.web


class FastGzip(tornado.web.GZipContentEncoding):
    GZIP_LEVEL = 1

    def __init__(self, request: tornado.httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self._gzipping = accepts_gzip(request.headers.get("Accept-Encoding", ""))

    def transform_first_chunk(self, status_code: int, headers: tornado.httputil.HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        if status_code == 206 or "Content-Range" in headers:
            # Content-Range counts bytes of the plain file: compressed, the part would not match it.
            self._gzipping = False
        return super().transform_first_chunk(status_code, headers, chunk, finishing)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (RFC 9110, section 12.5.3): named (or x-gzip)
    with a q above 0, or, when not named, `*` with a q above 0. A malformed q counts as 0."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, parameters = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        weights[coding] = weight
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0
