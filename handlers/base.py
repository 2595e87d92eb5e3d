"""BaseHandler: what every page needs: the session, the current user, flash messages, Jinja2
rendering and error pages for people. Also the in-flight request counter that a SIGTERM drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import tornado.iostream
import tornado.web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sessions import SessionMoved, StoreUnavailable

from shop.cart import FREE_SHIPPING_FROM_CENTS, clean_cart, item_count
from shop.money import format_cents

log = logging.getLogger("shop.web")

SHOP_NAME = "Tornado Trading Post"
FLASH_COOKIE = "flash"
MAX_FLASH_MESSAGES = 5
UNAVAILABLE_MESSAGE = (
    "We cannot reach your shopping session right now. Nothing was changed; please try again in a moment."
)
MOVED_MESSAGE = (
    "You logged in in another window, so this page is out of date. Nothing was changed; "
    "please reload the page and try again."
)
NOT_FOUND_MESSAGE = "We could not find that page. It may have moved, or the link may be mistyped."
XSRF_MESSAGE = (
    "This form has expired or did not come from this shop, so nothing was changed. "
    "Please reload the page and try again."
)

# A path on this site: one leading slash, not "//host" or "/\host" (browsers read both as another
# host), and no whitespace, control characters or backslashes anywhere (browsers drop or rewrite them).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*")


def local_path(value: str | None, default: str = "/") -> str:
    """value if it is a path on this site, else default: never redirect to somewhere else."""
    if value and len(value) <= 2000 and _LOCAL_PATH.fullmatch(value):
        return value
    return default


def make_template_env(template_path: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(template_path),
        autoescape=select_autoescape(("html",), default=True),
        trim_blocks=True,
        # Templates ship with the code; checking their mtimes on every render is wasted work.
        auto_reload=False,
        lstrip_blocks=True,
    )
    env.filters["money"] = format_cents
    env.globals["free_shipping_from_cents"] = FREE_SHIPPING_FROM_CENTS
    return env


class ShopError(tornado.web.HTTPError):
    """An error with a message for the person, shown on the error page with the given status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code)
        self.message = message


class InFlightRequests:
    """Counts the requests being handled, so a shutdown can wait until they are done."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def started(self) -> None:
        self.count += 1
        self._idle.clear()

    def finished(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True once no request is in flight; False if some still are after timeout seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


class BaseHandler(tornado.web.RequestHandler):
    """Loads the session in prepare(); changes go through update_session()."""

    uses_session = True
    # Handlers whose every POST goes through update_session() read the session there, under its
    # lock; a snapshot in prepare() as well would be a second read of the same session.
    snapshot_in_prepare = True

    def initialize(self) -> None:
        # A snapshot until prepare() loads the real one; error pages raised before then use it.
        self.session: dict[str, Any] = {}
        self._outgoing_flashes: list[dict[str, str]] = []
        self._counted = False
        self.current_user = None

    # --- shared objects -------------------------------------------------------------------------
    @property
    def catalog(self):
        return self.settings["catalog"]

    @property
    def users(self):
        return self.settings["users"]

    @property
    def orders(self):
        return self.settings["orders"]

    @property
    def session_manager(self):
        return self.settings["session_manager"]

    # --- request life cycle ---------------------------------------------------------------------
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

    async def prepare(self) -> None:
        self.settings["in_flight"].started()
        self._counted = True
        xsrf_valid = self._xsrf_valid()
        # A refused form still gets a page with the person's own header, so it needs the session.
        if self.uses_session and (self.snapshot_in_prepare or self.request.method == "GET" or not xsrf_valid):
            try:
                self.session = await self.session_manager.load(self)
            except StoreUnavailable:
                log.warning("session store unavailable while loading %s %s", self.request.method, self.request.path)
                raise ShopError(503, UNAVAILABLE_MESSAGE) from None
            self.current_user = _user_from(self.session)
        if not xsrf_valid:
            raise ShopError(403, XSRF_MESSAGE)

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.settings["in_flight"].finished()

    def check_xsrf_cookie(self) -> None:
        """Deferred to prepare(): Tornado calls this before prepare(), and the 403 page should show
        the person's own header (cart count, name), which needs the session loaded first."""

    def _xsrf_valid(self) -> bool:
        if self.request.method in ("GET", "HEAD", "OPTIONS") or not self.settings.get("xsrf_cookies"):
            return True
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError:
            return False
        return True

    # --- session changes --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def update_session(self) -> AsyncIterator[dict[str, Any]]:
        """Change the session: locked, re-read, saved when the block ends; nothing saved if it raises.

        Afterwards self.session and self.current_user show the result.
        """
        try:
            async with self.session_manager.transaction(self) as session:
                # Until the block ends, pages (an error page too) show the session as it was read.
                self.session = dict(session)
                self.current_user = _user_from(session)
                yield session
        except StoreUnavailable:
            log.warning("session store unavailable while saving %s %s", self.request.method, self.request.path)
            raise ShopError(503, UNAVAILABLE_MESSAGE) from None
        except SessionMoved:
            raise ShopError(409, MOVED_MESSAGE) from None
        self.session = session
        self.current_user = _user_from(session)

    def flash(self, message: str, kind: str = "info") -> None:
        """Keep a message for the next page this person sees (kind: info, success or error).

        Messages ride in a short-lived signed cookie, not in the session: showing one on the next
        page then costs no session write, which on the file store is a durable write.
        """
        if not self._outgoing_flashes:
            self._outgoing_flashes = self._incoming_flashes()
        self._outgoing_flashes = [*self._outgoing_flashes, {"kind": kind, "text": message}][-MAX_FLASH_MESSAGES:]
        self.set_signed_cookie(FLASH_COOKIE, json.dumps(self._outgoing_flashes), expires_days=None,
                               httponly=True, samesite="Lax", secure=self.session_manager.secure)

    def take_flashes(self) -> list[dict[str, str]]:
        """The messages waiting for this person; they are shown once."""
        messages = self._incoming_flashes()
        if messages:
            self.clear_cookie(FLASH_COOKIE)
        return messages

    def _incoming_flashes(self) -> list[dict[str, str]]:
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        if raw is None:
            return []
        try:
            messages = json.loads(raw)
        except ValueError:
            return []
        return [m for m in messages if _is_message(m)] if isinstance(messages, list) else []

    # --- rendering ----------------------------------------------------------------------------------
    def wants_json(self) -> bool:
        """The JavaScript enhancement asks for JSON; forms without JavaScript get pages."""
        return (
            self.request.headers.get("X-Requested-With", "").lower() == "fetch"
            or "application/json" in self.request.headers.get("Accept", "")
        )

    async def render_page(self, template_name: str, *, status: int = 200, **context: Any) -> None:
        """Render a page with the flash messages waiting for this person, and any given in context."""
        messages = self.take_flashes() + list(context.pop("messages", []))
        self.set_status(status)
        try:
            await self.render(template_name, messages=messages, **context)
        except tornado.iostream.StreamClosedError:
            pass  # the browser went away before the page was sent: nothing to do, nothing to log

    def compute_etag(self) -> str | None:
        # Pages are per person and marked no-store: hashing every body for an ETag is wasted work.
        return None

    def render_string(self, template_name: str, **kwargs: Any) -> str:
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return self.settings["template_env"].get_template(template_name).render(namespace)

    def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str:
        # Static files do not change while the shop runs: build each versioned URL once, not once
        # per picture per page.
        if include_host is not None or kwargs:
            return super().static_url(path, include_host, **kwargs)
        urls = self.settings["static_urls"]
        url = urls.get(path)
        if url is None:
            url = urls[path] = super().static_url(path)
        return url

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        # The same hidden field for every form of the page (a cart page has two per line).
        form_field: list[Markup] = []

        def xsrf_form_html() -> Markup:
            if not form_field:
                # Tornado's helper returns HTML as a str; mark it so autoescape leaves it alone.
                form_field.append(Markup(self.xsrf_form_html()))
            return form_field[0]

        namespace.update(
            xsrf_form_html=xsrf_form_html,
            shop_name=SHOP_NAME,
            cart_count=self.cart_count(),
            categories=self.catalog.categories(),
            current_category=None,
            query="",
            messages=[],
        )
        return namespace

    def cart_count(self) -> int:
        # Products since dropped from the catalog are left out, as on the cart page.
        cart = clean_cart(self.session.get("cart"))
        return item_count({pid: qty for pid, qty in cart.items() if self.catalog.get(pid) is not None})

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs["exc_info"][1] if "exc_info" in kwargs else None
        message = _error_message(status_code, error)
        if status_code == 503:
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


class NotFoundHandler(BaseHandler):
    """Every unknown path: the 404 page, with the person's own header."""

    async def prepare(self) -> None:
        await super().prepare()
        raise ShopError(404, NOT_FOUND_MESSAGE)


def _user_from(session: dict[str, Any]) -> dict[str, Any] | None:
    user = session.get("user")
    if isinstance(user, dict) and type(user.get("id")) is int and isinstance(user.get("username"), str):
        return user
    return None


def _is_message(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("text"), str) and isinstance(value.get("kind"), str)


def _error_title(status_code: int) -> str:
    titles = {403: "Please try again", 404: "Page not found", 409: "Please reload", 503: "Temporarily unavailable"}
    if status_code in titles:
        return titles[status_code]
    return "That did not work" if status_code < 500 else "Something went wrong"


def _error_message(status_code: int, error: BaseException | None) -> str:
    if isinstance(error, ShopError):
        return error.message
    if isinstance(error, tornado.web.MissingArgumentError):
        return f"The form is missing the field “{error.arg_name}”. Please go back and fill it in."
    if status_code == 404:
        return NOT_FOUND_MESSAGE
    if status_code == 405:
        return "That page cannot be used this way."
    if status_code == 403:
        # Tornado's @authenticated answers a POST without a login with a bare 403.
        return "Please log in first."
    if 400 <= status_code < 500:
        return "We could not understand that request. Please go back and try again."
    return "Something went wrong on our side. Please try again in a moment."
