"""Request ids and the shop's log lines: every line written while a request is handled carries its id,
the access log names the client as the throttles do, and LOG_FORMAT=json writes one JSON object a line.

The id comes from nginx (`X-Request-ID`, which it logs too) when the request came through a trusted
proxy and the id looks like one; otherwise the shop makes its own. It is set as soon as the request's
headers are read (handlers/server.py), so the 413 refused there carries it as well, kept in a
context variable that the handler's task inherits, and sent back in the response's `X-Request-ID`.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import re
import secrets

import tornado.httputil
import tornado.web

from handlers.headers import checked_header_value
from shop.text import escape_for_log

REQUEST_ID_HEADER = "X-Request-ID"
# nginx's $request_id is 32 hex digits; other proxies send UUIDs. Nothing that could break a log line.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
LOG_FORMATS = ("text", "json")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new_request_id() -> str:
    """A fresh id, in the shape of nginx's $request_id (128 random bits in hex)."""
    return secrets.token_hex(16)


def choose_request_id(incoming: str | None, from_trusted_proxy: bool) -> str:
    """The incoming id when a trusted proxy sent it and it looks like an id (so nobody can forge or
    break a log line by sending one), else a new one."""
    if from_trusted_proxy and incoming is not None and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


class RequestIdHeader(tornado.web.OutputTransform):
    """Sends the request's id back in every response of the application (pages, errors, static files)."""

    def transform_first_chunk(self, status_code: int, headers: tornado.httputil.HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        current = request_id.get()
        if current is not None:
            # Written here, past set_header: by the same rule (choose_request_id's ids always pass it).
            headers[REQUEST_ID_HEADER] = checked_header_value(REQUEST_ID_HEADER, current)
        return status_code, headers, chunk


class RequestContext(logging.Filter):
    """Gives every record the request id of the request being handled (None outside one), and the
    access log's fields (route, status, duration) their default of None."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        for name in ("route", "status", "duration"):
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


class TextFormatter(logging.Formatter):
    """The usual `time LEVEL [pid] logger: message`, then ` request_id=…` on a request's lines (at the
    end, so that what reads the start of a line keeps working)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message may carry what someone typed: a line break in it must not start a line.
        record.message = escape_for_log(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{line} request_id={rid}" if rid else line


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers: time (UTC, ISO 8601), level, logger, message,
    request_id, and on the access log's lines route, status and duration (seconds)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "route": getattr(record, "route", None),
            "status": getattr(record, "status", None),
            "duration": getattr(record, "duration", None),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, *, show_pid: bool) -> None:
    """The root logger at INFO to stderr, in LOG_FORMAT (text or json), every line with its request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestContext())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        process = " [%(process)d]" if show_pid else ""
        handler.setFormatter(TextFormatter(f"%(asctime)s %(levelname)s{process} %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


_access_log = logging.getLogger("tornado.access")


def log_access(handler: tornado.web.RequestHandler, client: str, route: str) -> None:
    """One line for an answered request: `303 POST /cart/add (203.0.113.9) 3.10ms`, naming the
    client by the address behind TRUSTED_PROXIES (as the throttles do), with its route pattern,
    status and duration as fields for the JSON format."""
    status = handler.get_status()
    seconds = handler.request.request_time()
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    request = handler.request
    _access_log.log(level, "%d %s %s (%s) %.2fms", status, request.method, request.uri, client, seconds * 1000,
                    extra={"route": route, "status": status, "duration": round(seconds, 6)})
