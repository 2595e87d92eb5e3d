"""BaseHandler: what every page needs: the session, the current user, the priced cart, flash
messages, Jinja2 rendering and error pages for people.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import urllib.parse
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar

import tornado.iostream
import tornado.web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sessions import SessionManager, SessionMoved, StoreFull, StoreUnavailable

from handlers.limits import RateLimit
from handlers.server import client_address
from shop.cart import FREE_SHIPPING_FROM_CENTS, PricedCart, clean_cart, price_cart
from shop.catalog import Catalog
from shop import idempotency
from shop.db import DatabaseUnavailable
from shop.money import format_cents, format_price
from shop.orders import OrderStore
from shop.text import TextRefused, read_text, without_refused_characters
from shop.throttle import whole_seconds
from shop.users import UserStore

if TYPE_CHECKING:
    from handlers.application import ShopApplication

log = logging.getLogger("shop.web")

T = TypeVar("T")

# How much longer than DATABASE_TIMEOUT a request waits for its database work (see run_database).
DATABASE_GRACE_SECONDS = 0.5

SHOP_NAME = "Tornado Trading Post"
FLASH_COOKIE = "flash"
# A refused form's messages and values, carried across the redirect to the page that shows them.
REFUSED_FORM_COOKIE = "refused_form"
MAX_REFUSED_FORM_CHARS = 3000
SESSION_ENDED_MESSAGE = (
    "Your session had ended (it ran out, or was ended from another device), so that was not done yet. "
    "Nothing was lost: log in and you will be back where you were."
)
MAX_FLASH_MESSAGES = 5
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

# A path on this site: one leading slash, not "//host" or "/\host" (browsers read both as another
# host), and no whitespace, control characters or backslashes anywhere (browsers drop or rewrite them).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*")


def local_path(value: str | None, default: str = "/") -> str:
    """value if it is a path on this site, else default: never redirect to somewhere else."""
    if value and len(value) <= 2000 and _LOCAL_PATH.fullmatch(value):
        return value
    return default


# RFC 3986: what a URI may hold unencoded (unreserved and reserved characters); "%" only as the start of
# an escape. Everything else in a Location is percent-encoded as UTF-8.
_URI_SAFE = "!#$&'()*+,/:;=?@[]~-._"
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

# Fields compared as typed, never normalised (shop/passwords.py has their own rule).
AS_TYPED_FIELDS = frozenset({"password", "current_password", "new_password"})
# Fields that name a page to go to next: what local_path refuses falls back to "/", never a 400.
LOCAL_PATH_FIELDS = frozenset({"next"})


def ascii_url(url: str) -> str:
    """url as an ASCII URI reference (RFC 3986): characters outside ASCII, spaces and controls
    percent-encoded as UTF-8, escapes already there kept, a bare "%" encoded as "%25".
    "/?q=café" -> "/?q=caf%C3%A9"."""
    if url.isascii() and url.isprintable() and " " not in url and "%" not in url:
        return url
    return urllib.parse.quote(_BARE_PERCENT.sub("%25", url), safe=_URI_SAFE + "%")


def field_refused(error: TextRefused) -> "ShopError":
    """The 400 for a field whose text broke the rule for text in, naming the field."""
    message = error.message[0].lower() + error.message[1:]
    return ShopError(400, f"In the field \u201c{error.field}\u201d: {message}" if error.field else error.message)


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
    env.filters["price"] = format_price
    env.globals["free_shipping_from_cents"] = FREE_SHIPPING_FROM_CENTS
    env.globals["idempotency_field"] = idempotency_field
    return env


def idempotency_field() -> Markup:
    """The hidden field of a form's one-time key (shop/idempotency.py): put in every form that
    changes the cart, once per form, so that a retried submit is applied at most once."""
    return Markup(f'<input type="hidden" name="idempotency_key" value="{idempotency.new_key()}">')


# BaseHandler.allowed_methods(), by handler class.
_ALLOWED_METHODS: dict[type, tuple[str, ...]] = {}


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


class BaseHandler(tornado.web.RequestHandler):
    """What every page needs. The session is read when first asked for: `await self.load_session()`
    for a snapshot (a GET asks in prepare()), `update_session()` to change it under its lock."""

    application: ShopApplication

    def initialize(self) -> None:
        # Until the session is read, pages (an error page too) show an empty one.
        self.session: dict[str, Any] = {}
        self.session_id: str | None = None
        self.current_user = None
        # A logged-in person's cart lives in the account's record (sessions.SessionManager.owner_record),
        # the same on every device; an anonymous one's in the session.
        self.account_record: dict[str, Any] | None = None
        self._session_read = False
        self._cart: PricedCart | None = None
        self._outgoing_flashes: list[dict[str, str]] = []
        self._counted = False
        self._xsrf_field: Markup | None = None

    # --- shared objects -------------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        return self.application.catalog

    @property
    def users(self) -> UserStore:
        return self.application.users

    @property
    def orders(self) -> OrderStore:
        return self.application.orders

    @property
    def sessions(self) -> SessionManager:
        return self.application.sessions

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
        self.count_in_flight()
        # The method first: a PUT or DELETE on a page is 405 (with Allow), not "form expired".
        if self.request.method not in self.allowed_methods():
            await self.load_session()  # the refusal's page shows the person's own header
            raise ShopError(405, METHOD_MESSAGE)
        if not self._xsrf_valid():
            await self.load_session()  # the refusal's page shows the person's own header
            raise ShopError(403, XSRF_MESSAGE)
        if self.request.method != "POST":
            # What a GET answers (a page, its error page, the cart's JSON) shows this person's
            # session, and write_error cannot await: read it before anything can fail. A POST
            # reads it when it asks: most under the session's lock, in update_session().
            await self.load_session()

    def count_in_flight(self) -> None:
        """Count this request until on_finish(), so a shutdown waits for it."""
        self.application.in_flight.started()
        self.application.metrics.request_started()
        self._counted = True

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

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Every text the shop takes from a query, a form or a path goes through shop.text.read_text
        (UTF-8, NFC, no control or invisible characters); a text that breaks it is a 400 naming the
        field. Handlers that show a form again catch TextRefused by field (form_values)."""
        if name in LOCAL_PATH_FIELDS:
            # Checked by local_path where it is used: anything that is not a path here is "/".
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return ""
        try:
            return read_text(value, name or "", as_typed=name in AS_TYPED_FIELDS)
        except TextRefused as error:
            raise field_refused(error) from None

    def _get_arguments(self, name: str, source: dict[str, list[bytes]], strip: bool = True) -> list[str]:
        # Tornado's own replaces control characters with spaces, silently: ours refuses them instead
        # (decode_argument), so what is stored is what was typed.
        values = []
        for raw in source.get(name, []):
            text = self.decode_argument(raw, name=name)
            values.append(text.strip() if strip else text)
        return values

    def form_values(self, names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        """The body fields names (each "" when absent), and a message per field whose text broke
        the rule for text in; a refused field's value is shown without the refused characters."""
        values: dict[str, str] = {}
        errors: dict[str, str] = {}
        for name in names:
            raw = self.request.body_arguments.get(name, [b""])[-1]
            try:
                values[name] = read_text(raw, name).strip()
            except TextRefused as error:
                errors[name] = error.message
                values[name] = without_refused_characters(raw.decode("utf-8", "replace")).strip()
        return values, errors

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Tornado's redirect, with every Location ASCII (ascii_url)."""
        super().redirect(ascii_url(url), permanent=permanent, status=status)

    @property
    def client_address(self) -> str:
        """The client's IP address; X-Forwarded-For counts only from TRUSTED_PROXIES."""
        return client_address(self.request.remote_ip, self.request.headers.get("X-Forwarded-For"),
                              self.application.config.limits.trusted_proxies)

    async def check_rate(self, limit: RateLimit, message: str, cause: str) -> None:
        """Spend one of this client's tokens in limit, or raise 429 with message (it may hold {seconds});
        cause names the limit in the metrics."""
        wait = await limit.take(self.client_address)
        if wait > 0:
            seconds = whole_seconds(wait)
            log.info("%s %s refused: rate limit for %s", self.request.method, self.request.path, self.client_address)
            self.application.metrics.refused(429, cause)
            raise ShopError(429, message.format(seconds=seconds), retry_after=seconds)

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.application.in_flight.finished()
            self.application.metrics.request_finished()

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

    # --- the database -------------------------------------------------------------------------------
    async def run_database(self, operation: str, function: Callable[..., T], *args: Any,
                           executor: Executor | None = None) -> T:
        """function(*args), blocking database work, on a thread (the database's own, or executor),
        answered within DATABASE_TIMEOUT (and a grace of half a second) whatever the database does:
        past it, DatabaseUnavailable
        naming operation (the page's 503), with outcome_unknown, as the work may still be running.
        It can no longer commit then (shop.db: call_within), and work that had not started never
        will."""
        database = self.application.database
        deadline = time.monotonic() + database.timeout
        work = asyncio.get_running_loop().run_in_executor(
            executor or self.application.database_threads, database.call_within, deadline, function, *args)
        try:
            # A little longer than the work's own bounds, so that a failure it can name (a lock
            # held too long, no connection free) arrives as such, as "nothing was changed".
            return await asyncio.wait_for(work, database.timeout + DATABASE_GRACE_SECONDS)
        except asyncio.TimeoutError:
            self.application.metrics.database_call(operation, time.monotonic() - deadline + database.timeout,
                                                   "timeout")
            raise DatabaseUnavailable(operation, f"no answer within {database.timeout + DATABASE_GRACE_SECONDS:g}s",
                                      "timeout", outcome_unknown=True) from None

    # --- the session --------------------------------------------------------------------------------
    async def load_session(self) -> dict[str, Any]:
        """The person's session as a snapshot for reading (never locked, never saved), read once per
        request; it also sets current_user. After update_session(), its result."""
        if not self._session_read:
            try:
                # A HEAD only looks: it does not roll the session's ttl (a write in every store).
                session = await self.sessions.load(self, read_only=self.request.method == "HEAD")
                self._show_session(session, session.owner, session.id)
                if self.current_user is not None:
                    self.account_record = await self.sessions.load_owner_record(account_owner(self.current_user))
            except StoreUnavailable as error:
                raise self.store_unavailable(error) from None
        return self.session

    @property
    def cart(self) -> PricedCart:
        """This person's cart (the account's when logged in), priced at the catalog's prices
        (products no longer sold left out)."""
        if self._cart is None:
            self._cart = price_cart(clean_cart(self.cart_holder.get("cart")), self.catalog)
        return self._cart

    @property
    def cart_holder(self) -> dict[str, Any]:
        """Where this person's cart is kept: the account's record when logged in, else the session."""
        if self.current_user is not None and self.account_record is not None:
            return self.account_record
        return self.session

    def _show_session(self, session: dict[str, Any], owner: str | None, session_id: str | None) -> None:
        self.session = session
        self.session_id = session_id
        user = _user_from(session)
        # A login counts only in a session that belongs to that account (sessions from before
        # issue 16 do not, and are asked to log in again): every login is then listed on /account.
        self.current_user = user if user is not None and owner == account_owner(user) else None
        self._cart = None
        self._session_read = True

    # --- session changes --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def update_session(self) -> AsyncIterator[dict[str, Any]]:
        """Change the session: locked, re-read, saved when the block ends; nothing saved if it raises.

        Inside the block, self.session, self.current_user and self.cart show the session as read
        under the lock; afterwards, the result.
        """
        try:
            async with self.sessions.transaction(self) as session:
                # Until the block ends, pages (an error page too) show the session as it was read.
                self._show_session(dict(session), session.owner, session.id)
                yield session
                if session.id is None and session and not session.ended:
                    # About to store a new session: one client may not create them without limit.
                    await self.check_rate(self.application.session_limit, TOO_MANY_SESSIONS_MESSAGE, "session_limit")
        except StoreUnavailable as error:
            raise self.store_unavailable(error) from None
        except SessionMoved:
            raise ShopError(409, MOVED_MESSAGE) from None
        self._show_session(session, session.owner, session.id)

    @contextlib.asynccontextmanager
    async def update_cart(self) -> AsyncIterator[dict[str, Any]]:
        """Change this person's cart: yields its holder (the account's record when logged in, else
        the session) locked across every process and re-read; saved when the block ends, nothing
        saved if it raises. The holder also keeps what belongs with the cart (one-time keys).

        Who is logged in is read under the session's lock (one read, as for any change); a logged-in
        person's session is let go unchanged before the record is locked, so no request ever holds
        two locks."""
        if not self._session_read or self.current_user is None:
            async with self.update_session() as session:
                if self.current_user is None:
                    yield session
                    return
        try:
            async with self.sessions.owner_record(account_owner(self.current_user),
                                                  ttl=self.application.config.account_cart_ttl) as record:
                self.account_record, self._cart = dict(record), None
                yield record
        except StoreUnavailable as error:
            raise self.store_unavailable(error) from None
        self.account_record, self._cart = record, None

    def session_ended(self, form_page: str) -> None:
        """Answer a form sent without a login (it ran out, or was ended elsewhere): 303 to the login
        page, which brings the person back to form_page, with a message that nothing was lost."""
        self.flash(SESSION_ENDED_MESSAGE, "error")
        self.redirect("/login?" + urllib.parse.urlencode({"next": local_path(form_page)}), status=303)

    def store_unavailable(self, error: StoreUnavailable) -> ShopError:
        """The 503 for a session store that failed, logged; its message says what the shop knows:
        the store is full, the change may have been made, or nothing was changed."""
        # The store's message names the operation and the cause (errno), never a full id.
        log.warning("503 for %s %s: session store unavailable: %s", self.request.method, self.request.path, error)
        if isinstance(error, StoreFull):
            return ShopError(503, BUSY_MESSAGE, retry_after=60, cause="session_store")
        return ShopError(503, UNCONFIRMED_MESSAGE if error.maybe_written else UNAVAILABLE_MESSAGE,
                         cause="session_store")

    def flash(self, message: str, kind: str = "info", *, undo: dict[str, Any] | None = None,
              alone: bool = False) -> None:
        """Keep a message for the next page this person sees (kind: info, success or error); undo
        (product_id, quantity, name) adds an Undo button that puts a removed cart line back; alone
        drops the messages still waiting (a logout: they were for the person who left).

        Messages ride in a short-lived signed cookie, not in the session: showing one on the next
        page then costs no session write, which on the file store is a durable write.
        """
        if not self._outgoing_flashes and not alone:
            self._outgoing_flashes = self._incoming_flashes()
        if alone:
            self._outgoing_flashes = []
        entry: dict[str, Any] = {"kind": kind, "text": message}
        if undo is not None:
            entry["undo"] = undo
        self._outgoing_flashes = [*self._outgoing_flashes, entry][-MAX_FLASH_MESSAGES:]
        self.set_signed_cookie(self.application.cookie_name(FLASH_COOKIE), json.dumps(self._outgoing_flashes),
                               expires_days=None, httponly=True, samesite="Lax", secure=self.sessions.secure)

    def take_flashes(self) -> list[dict[str, str]]:
        """The messages waiting for this person; they are shown once."""
        messages = self._incoming_flashes()
        # A HEAD shows nothing, so it leaves the messages for the next GET.
        if messages and self.request.method != "HEAD":
            self.clear_cookie(self.application.cookie_name(FLASH_COOKIE), secure=self.sessions.secure)
        return messages

    def _incoming_flashes(self) -> list[dict[str, str]]:
        raw = self.get_signed_cookie(self.application.cookie_name(FLASH_COOKIE), max_age_days=1)
        if raw is None:
            return []
        try:
            messages = json.loads(raw)
        except ValueError:
            return []
        return [m for m in messages if _is_message(m)] if isinstance(messages, list) else []

    # --- a refused form, shown by a GET (Post/Redirect/Get) ---------------------------------------
    def is_navigation(self) -> bool:
        """The browser is loading a page (a form sent without JavaScript), by its Fetch Metadata
        header `Sec-Fetch-Mode: navigate`: such a refusal goes through a redirect, so that Back or
        a reload never asks to send the form again. Other clients get the 4xx the contract names."""
        return self.request.headers.get("Sec-Fetch-Mode", "").lower() == "navigate"

    def redirect_refused(self, url: str, state: dict[str, Any]) -> None:
        """303 to url (a local path, perhaps with #fragment), whose GET shows the refusal in state
        (the messages and the values as sent, JSON-serializable; never a password) through
        take_refused_form(). Carried in a short-lived signed cookie, like flash messages."""
        path = url.split("#", 1)[0].split("?", 1)[0]
        raw = json.dumps({"path": path, **state})
        if len(raw) <= MAX_REFUSED_FORM_CHARS:
            self.set_signed_cookie(self.application.cookie_name(REFUSED_FORM_COOKIE), raw, expires_days=None, httponly=True, samesite="Lax",
                                   secure=self.sessions.secure)
        self.redirect(url, status=303)

    def take_refused_form(self) -> dict[str, Any]:
        """The refused form's state for this page, shown once; {} when there is none."""
        name = self.application.cookie_name(REFUSED_FORM_COOKIE)
        raw = self.get_signed_cookie(name, max_age_days=1)
        if raw is None:
            return {}
        self.clear_cookie(name, secure=self.sessions.secure)
        try:
            state = json.loads(raw)
        except ValueError:
            return {}
        if not isinstance(state, dict) or state.get("path") != self.request.path:
            return {}
        return state

    # --- rendering ----------------------------------------------------------------------------------
    def wants_json(self) -> bool:
        """The JavaScript enhancement asks for JSON; forms without JavaScript get pages."""
        return (
            self.request.headers.get("X-Requested-With", "").lower() == "fetch"
            or "application/json" in self.request.headers.get("Accept", "")
        )

    async def render_page(self, template_name: str, *, status: int = 200, **context: Any) -> None:
        """Render a page with the flash messages waiting for this person, and any given in context."""
        await self.load_session()  # the header shows the person's cart and name
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
        return self.application.template_env.get_template(template_name).render(namespace)

    def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str:
        # Static files do not change while the shop runs: build each versioned URL once, not once
        # per picture per page.
        if include_host is not None or kwargs:
            return super().static_url(path, include_host, **kwargs)
        urls = self.application.static_urls
        url = urls.get(path)
        if url is None:
            url = urls[path] = super().static_url(path)
        return url

    def page_xsrf_field(self) -> Markup:
        """The XSRF hidden field: the same for every form of the page (a cart page has one per line)."""
        if self._xsrf_field is None:
            # Tornado's helper returns HTML as a str; mark it so autoescape leaves it alone.
            self._xsrf_field = Markup(self.xsrf_form_html())
        return self._xsrf_field

    def render_fragment(self, template_name: str, key: Hashable | None, **context: Any) -> Markup:
        """A part of a page, kept under key once rendered (see handlers/fragments.py); key None:
        rendered afresh. The template sees context, static_url and xsrf_form_html."""
        context["static_url"] = self.static_url
        return self.application.fragments.render(template_name, key, context, self.page_xsrf_field)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(
            xsrf_form_html=self.page_xsrf_field,
            shop_name=SHOP_NAME,
            # Products since dropped from the catalog are left out, as on the cart page.
            cart_count=self.cart.count,
            categories=self.catalog.categories(),
            current_category=None,
            query="",
            messages=[],
        )
        return namespace

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


class NotFoundHandler(BaseHandler):
    """Every unknown path: the 404 page, with the person's own header."""

    async def prepare(self) -> None:
        # Whatever the method (so not BaseHandler's method and XSRF checks): nothing is here to change.
        self.count_in_flight()
        await self.load_session()  # the page shows the person's header
        raise ShopError(404, NOT_FOUND_MESSAGE)


def login_required(form_page: str | None = None) -> Callable:
    """For a handler method that needs a login (instead of Tornado's @authenticated, whose POST
    answers a bare 403): a GET goes to the login page and back; a form sent without a login goes
    to the login page and back to form_page (the page the form was on), told nothing was lost."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        async def wrapper(self: BaseHandler, *args: Any, **kwargs: Any) -> None:
            await self.load_session()
            if self.current_user is None:
                if self.request.method in ("GET", "HEAD"):
                    self.redirect("/login?" + urllib.parse.urlencode({"next": self.request.uri}))
                else:
                    self.session_ended(form_page or self.request.path)
                return
            result = method(self, *args, **kwargs)
            if result is not None:
                await result

        return wrapper

    return decorate


def account_owner(user: dict[str, Any]) -> str:
    """The owner of a logged-in person's sessions and record in the session library: the user's id."""
    return str(user["id"])


def _user_from(session: dict[str, Any]) -> dict[str, Any] | None:
    user = session.get("user")
    if isinstance(user, dict) and type(user.get("id")) is int and isinstance(user.get("username"), str):
        return user
    return None


def _is_message(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("text"), str) and isinstance(value.get("kind"), str)


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
        return "That page cannot be used this way."
    if status_code == 403:
        # Tornado's @authenticated answers a POST without a login with a bare 403.
        return "Please log in first."
    if 400 <= status_code < 500:
        return "We could not understand that request. Please go back and try again."
    return "Something went wrong on our side. Please try again in a moment."
