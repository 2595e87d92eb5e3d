"""Errors for people: ShopError (a status and a message the person can act on), the messages every
page may need, and the error page itself (ErrorPages.write_error: HTML, or JSON for the script)."""

from __future__ import annotations

import logging
from typing import Any

import tornado.web
from sessions import StoreFull, StoreUnavailable

from handlers.parts import ShopParts
from shop.db import DatabaseUnavailable

log = logging.getLogger("shop.web")

SESSION_ENDED_MESSAGE = (
    "Your session had ended (it ran out, or was ended from another device), so that was not done yet. "
    "Nothing was lost: log in and you will be back where you were."
)
UNAVAILABLE_MESSAGE = (
    "We cannot reach your shopping session right now. Nothing was changed; please try again in a moment."
)
# The store answered too late to know whether the change was made: never "nothing was changed".
UNCONFIRMED_MESSAGE = (
    "The shop is slow to answer right now, and we could not confirm that your change was saved. "
    "Please look at your cart in a moment before trying again."
)
BUSY_MESSAGE = (
    "The shop is very busy right now and could not save your change. Nothing was changed; "
    "please try again in a few minutes."
)
DATABASE_UNAVAILABLE_MESSAGE = (
    "We cannot reach our accounts and orders right now. Nothing was changed; "
    "please try again in a moment. Your cart is kept."
)
DATABASE_UNCONFIRMED_MESSAGE = (
    "Our accounts and orders database is not answering, so we could not confirm whether that was "
    "saved. Please check in a moment before trying again. Your cart is kept."
)
MOVED_MESSAGE = (
    "You logged in in another window, so this page is out of date. Nothing was changed; "
    "please reload the page and try again."
)
NOT_FOUND_MESSAGE = "We could not find that page. It may have moved, or the link may be mistyped."
TOO_MANY_SESSIONS_MESSAGE = (
    "Too many new visits from your network in a short time, so nothing was changed. "
    "Please wait {seconds} seconds and try again."
)
METHOD_MESSAGE = "That page cannot be used this way."
XSRF_MESSAGE = (
    "This form has expired or did not come from this shop, so nothing was changed. "
    "Please reload the page and try again."
)


class ShopError(tornado.web.HTTPError):
    """An error with a message for the person, shown on the error page with the given status;
    retry_after (seconds) is sent as Retry-After; cause names a refusal for the metrics
    (handlers.metrics.REFUSAL_CAUSES), counted when the error page is sent."""

    def __init__(self, status_code: int, message: str, *, retry_after: int | None = None,
                 cause: str | None = None) -> None:
        super().__init__(status_code)
        self.message = message
        self.retry_after = retry_after
        self.cause = cause


class ErrorPages(tornado.web.RequestHandler):
    """The error page (HTML, or JSON when the script asks: wants_json), and the 503s of a store or
    a database that failed. Part of BaseHandler, whose other parts give wants_json (rendering) and
    allowed_methods (guards)."""

    application: ShopParts

    def store_unavailable(self, error: StoreUnavailable) -> ShopError:
        """The 503 for a session store that failed, logged; its message says what the shop knows:
        the store is full, the change may have been made, or nothing was changed."""
        # The store's message names the operation and the cause (errno), never a full id.
        log.warning("503 for %s %s: session store unavailable: %s", self.request.method, self.request.path, error)
        if isinstance(error, StoreFull):
            return ShopError(503, BUSY_MESSAGE, retry_after=60, cause="session_store")
        return ShopError(503, UNCONFIRMED_MESSAGE if error.maybe_written else UNAVAILABLE_MESSAGE,
                         cause="session_store")

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, DatabaseUnavailable):
            # Expected while the database is away: one line naming the operation and the cause.
            log.warning("database unavailable: %s (%s %s)", value, self.request.method, self.request.path)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs["exc_info"][1] if "exc_info" in kwargs else None
        if isinstance(error, DatabaseUnavailable):
            # Raised by the domain (which knows no HTTP) and uncaught: a 503, not a 500.
            status_code = 503
            self.set_status(status_code)
            self.application.metrics.refused(503, "database")
        elif isinstance(error, ShopError) and error.cause is not None:
            self.application.metrics.refused(status_code, error.cause)
        message = _error_message(status_code, error)
        if isinstance(error, DatabaseUnavailable) and error.outcome_unknown and self.request.method == "POST":
            message = DATABASE_UNCONFIRMED_MESSAGE
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        if isinstance(error, ShopError) and error.retry_after is not None:
            self.set_header("Retry-After", str(error.retry_after))
        elif status_code == 503:
            self.set_header("Retry-After", "5")
        if self.wants_json():
            self.finish({"error": message, "status": status_code})
            return
        try:
            html = self.render_string(
                "error.html",
                status=status_code,
                title=_error_title(status_code),
                explanation=message,
            )
        except Exception:
            log.exception("could not render the error page")
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(message)
            return
        self.finish(html)


def _error_title(status_code: int) -> str:
    titles = {403: "Please try again", 404: "Page not found", 409: "Please reload", 429: "Please wait a moment",
              503: "Temporarily unavailable"}
    if status_code in titles:
        return titles[status_code]
    return "That did not work" if status_code < 500 else "Something went wrong"


def _error_message(status_code: int, error: BaseException | None) -> str:
    if isinstance(error, ShopError):
        return error.message
    if isinstance(error, DatabaseUnavailable):
        return DATABASE_UNAVAILABLE_MESSAGE
    if isinstance(error, tornado.web.MissingArgumentError):
        return f"The form is missing the field “{error.arg_name}”. Please go back and fill it in."
    if status_code == 404:
        return NOT_FOUND_MESSAGE
    if status_code == 405:
        return METHOD_MESSAGE
    if status_code == 403:
        # Tornado's @authenticated answers a POST without a login with a bare 403.
        return "Please log in first."
    if 400 <= status_code < 500:
        return "We could not understand that request. Please go back and try again."
    return "Something went wrong on our side. Please try again in a moment."
