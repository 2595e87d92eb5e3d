"""The HTTP server in front of the application: limits that must act before a request reaches a
handler. A cap on open connections, a header size and a body size decided from the headers (before
any of the body is read), timeouts for slow headers and bodies. Every refusal is an answer with a
page, never a silent close.

Why not Tornado's own `max_header_size` alone: over it, Tornado closes the connection without a
word (the person sees a broken page, curl exit 52, and nginx takes the replica for a dead one and
sets it aside). So Tornado reads up to `_HEADER_READ_LIMIT`, and the shop answers anything over
`MAX_HEADER_SIZE` with 431 and a page that says what to do (clear this site's cookies). Headers
longer still, which Tornado stops reading, get the same 431 on a duplicate of the socket as
Tornado closes its own (see `_answer_unreadable`).

Why not Tornado's own `max_body_size` alone: a request over it is answered with a bare
"400 Bad Request" and no message, and handlers' `prepare()` runs only once the whole body has been
read into memory. So the headers are checked here, and an oversized form gets a 413 page at once;
`max_body_size` stays on as the hard stop for bodies without a Content-Length (chunked).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from typing import Protocol

import tornado.httputil
import tornado.iostream
from tornado.httpserver import HTTPServer

from config import Limits
from handlers.headers import checked_header_value
from handlers.logs import REQUEST_ID_HEADER, choose_request_id, request_id
from handlers.parts import RequestCounts
from handlers.proxies import is_trusted

log = logging.getLogger("shop.server")

# The most the request line and headers together may take; deploy/nginx/nginx.conf's header
# buffers (2 x 8k) refuse the same, so that nginx and the shop agree.
MAX_HEADER_SIZE = 16 * 1024
# What Tornado reads before giving up on a request's headers (by closing). Well over MAX_HEADER_SIZE
# so that a request between the two is answered, and small enough that MAX_CONNECTIONS connections
# each holding that much stay within a few tens of MB.
_HEADER_READ_LIMIT = 64 * 1024
MALFORMED_MESSAGE = "This shop could not read that request. Please go back and try again."
HEADERS_TOO_LARGE_MESSAGE = (
    "Your browser sent this shop more cookies or headers than it accepts. Please clear this site's "
    "cookies (in your browser's settings for this site), then reload the page."
)
TOO_LARGE_MESSAGE = "That form is too large for this shop (over {size} KB), so nothing was changed. Please go back and send less."
BUSY_MESSAGE = "The shop is very busy right now. Nothing was changed; please try again in a moment."
# After answering early, read (and drop) what the client is still sending before closing, as nginx's
# lingering close does: closing a socket with unread data sends a reset, which destroys the answer
# in flight (a client still sending its body gets a broken pipe instead of the 413). Bounded: at
# most this long in all, this long without a byte, and this many bytes.
_LINGER_SECONDS = 10.0
_LINGER_IDLE_SECONDS = 2.0
_LINGER_BYTES = 16 * 1024 * 1024
# A connection over the cap is sent away sooner: a flood of them must not hold sockets for long.
_BUSY_LINGER_SECONDS = 2.0

def _request_id_header() -> str:
    return f"{REQUEST_ID_HEADER}: {checked_header_value(REQUEST_ID_HEADER, request_id.get() or '')}\r\n"


def _plain_response(status: int, reason: str, message: str, extra_headers: str = "") -> bytes:
    body = (f"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{reason}</title>"
            f"<p data-testid=\"flash\">{message}</p></html>").encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n"
            f"X-Content-Type-Options: nosniff\r\n{extra_headers}\r\n")
    return head.encode("latin-1") + body


async def _answer_and_close(stream: tornado.iostream.IOStream, response: bytes,
                            linger_seconds: float = _LINGER_SECONDS) -> None:
    try:
        await stream.write(response)
        stream.socket.shutdown(socket.SHUT_WR)
        drained = 0
        deadline = asyncio.get_running_loop().time() + linger_seconds
        while drained < _LINGER_BYTES:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            chunk = await asyncio.wait_for(stream.read_bytes(65536, partial=True),
                                           min(remaining, _LINGER_IDLE_SECONDS))
            drained += len(chunk)
    except (tornado.iostream.StreamClosedError, asyncio.TimeoutError, OSError):
        pass
    finally:
        stream.close()


class _SizeLimits(tornado.httputil.HTTPMessageDelegate):
    """Gives the request its id (handlers/logs.py); answers 431 when the headers are over
    MAX_HEADER_SIZE, and 413 when the declared body is larger than the limit: from the headers
    alone, before any of the body is read."""

    def __init__(self, delegate: tornado.httputil.HTTPMessageDelegate,
                 connection: tornado.httputil.HTTPConnection, server: ShopHTTPServer) -> None:
        self._delegate = delegate
        self._connection = connection
        self._server = server
        self._max_body_size = server.limits.max_body_size
        # Until headers_received: what Tornado reads on this connection is this request's headers.
        self.reading_headers = True

    def headers_received(self, start_line, headers):
        self.reading_headers = False
        remote_ip = getattr(getattr(self._connection, "context", None), "remote_ip", None)
        from_proxy = remote_ip is not None and is_trusted(remote_ip, self._server.limits.trusted_proxies)
        # Set here, in the connection's task: the handler's task, started after this, inherits it.
        request_id.set(choose_request_id(headers.get(REQUEST_ID_HEADER), from_proxy))
        headers[REQUEST_ID_HEADER] = request_id.get()
        header_size = _header_size(start_line, headers)
        if header_size > MAX_HEADER_SIZE:
            self._server.application.metrics.refused(431, "header_size")
            log.info("refused a %s %s with %d bytes of headers (limit %d)", start_line.method,
                     start_line.path[:100], header_size, MAX_HEADER_SIZE)
            self._refuse(_plain_response(431, "Request Header Fields Too Large", HEADERS_TOO_LARGE_MESSAGE,
                                         _request_id_header()))
            return None
        if _declared_length(headers) > self._max_body_size:
            self._server.application.metrics.refused(413, "body_size")
            log.info("refused a %s %s body of %s bytes (limit %d)", start_line.method,
                     start_line.path[:100], headers.get("Content-Length"), self._max_body_size)
            message = TOO_LARGE_MESSAGE.format(size=self._max_body_size // 1024)
            self._refuse(_plain_response(413, "Content Too Large", message, _request_id_header()))
            return None
        return self._delegate.headers_received(start_line, headers)

    def _refuse(self, response: bytes) -> None:
        # Detached, Tornado reads none of the body; the stream is ours to answer and close.
        stream = self._connection.detach()
        asyncio.ensure_future(_answer_and_close(stream, response))

    def data_received(self, chunk):
        return self._delegate.data_received(chunk)

    def finish(self) -> None:
        self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()


def _answer_unreadable(stream: tornado.iostream.IOStream, reading_headers, metrics: RequestCounts) -> None:
    """When Tornado gives up a read on stream (UnsatisfiableReadError: headers past its read limit,
    or a chunk-size line past 64 bytes), it closes the stream without a word. Answer first, 431 for
    headers (reading_headers() is true then), else 400, on a duplicate of the socket: it keeps the
    connection open after Tornado closes its own, for the lingering close."""
    close = stream.close

    def close_with_answer(exc_info=False) -> None:
        error = exc_info[1] if isinstance(exc_info, tuple) else exc_info
        if isinstance(error, tornado.iostream.UnsatisfiableReadError) and not stream.closed():
            if reading_headers():
                log.info("refused a request with more than %d bytes of headers", _HEADER_READ_LIMIT)
                metrics.refused(431, "header_size")
                response = _plain_response(431, "Request Header Fields Too Large", HEADERS_TOO_LARGE_MESSAGE)
            else:
                response = _plain_response(400, "Bad Request", MALFORMED_MESSAGE)
            try:
                duplicate = tornado.iostream.IOStream(stream.socket.dup())
            except OSError:
                pass
            else:
                asyncio.ensure_future(_answer_and_close(duplicate, response))
        close(exc_info)

    stream.close = close_with_answer  # type: ignore[method-assign]


def _header_size(start_line: tornado.httputil.RequestStartLine, headers: tornado.httputil.HTTPHeaders) -> int:
    """The request line and headers as sent, in bytes (give or take folded lines): "name: value\r\n" each."""
    size = len(start_line.method) + len(start_line.path) + len(start_line.version) + 4
    for name, value in headers.get_all():
        size += len(name) + len(value) + 4
    return size


def _declared_length(headers: tornado.httputil.HTTPHeaders) -> int:
    raw = headers.get("Content-Length", "").split(",")[0].strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else 0


class CountedApplication(Protocol):
    """What the server needs of the application it serves: Tornado's request callback, and the
    metrics it tells of the refusals made before a request reaches a handler."""

    metrics: RequestCounts

    def __call__(self, request: tornado.httputil.HTTPServerRequest) -> object: ...


class ShopHTTPServer(HTTPServer):
    """Tornado's HTTPServer with the shop's limits (see the module docstring)."""

    # HTTPServer is Configurable: it is set up in initialize(), which receives the constructor's arguments.
    def initialize(self, application: CountedApplication, limits: Limits) -> None:  # type: ignore[override]
        super().initialize(
            application,
            # Also the longest a kept-alive connection may sit idle between requests.
            idle_connection_timeout=limits.header_timeout,
            body_timeout=limits.body_timeout,
            # The hard stop, for bodies that declare no length; declared ones are refused earlier.
            max_body_size=limits.max_body_size * 2,
            max_header_size=_HEADER_READ_LIMIT,
        )
        self.limits = limits
        self.application = application
        # Each connection's request being read, for _answer_unreadable.
        self._requests: weakref.WeakKeyDictionary[tornado.iostream.IOStream, _SizeLimits] = weakref.WeakKeyDictionary()

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        if len(self._connections) >= self.limits.max_connections:
            log.warning("refused a connection: %d open, the limit (MAX_CONNECTIONS)", len(self._connections))
            self.application.metrics.refused(503, "connection_cap")
            asyncio.ensure_future(_answer_and_close(
                stream, _plain_response(503, "Service Unavailable", BUSY_MESSAGE, "Retry-After: 5\r\n"),
                _BUSY_LINGER_SECONDS))
            return
        _answer_unreadable(stream, lambda: self._requests.get(stream) is not None
                           and self._requests[stream].reading_headers, self.application.metrics)
        super().handle_stream(stream, address)

    def start_request(self, server_conn, request_conn):
        request = _SizeLimits(super().start_request(server_conn, request_conn), request_conn, self)
        self._requests[server_conn.stream] = request
        return request
