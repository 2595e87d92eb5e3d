"""The person's session and cart as a handler sees them: read at most once a request (a snapshot that
sets current_user), changed under the session's lock (update_session), the cart changed in its holder
(update_cart: the account's record when logged in, else the session); and login_required."""

from __future__ import annotations

import contextlib
import functools
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import tornado.web
from sessions import SessionMoved, StoreUnavailable

from handlers.errors import MOVED_MESSAGE, SESSION_ENDED_MESSAGE, TOO_MANY_SESSIONS_MESSAGE, ShopError
from handlers.guards import local_path
from handlers.parts import ShopParts
from shop.cart import PricedCart, clean_cart, price_cart


def account_owner(user: dict[str, Any]) -> str:
    """The owner of a logged-in person's sessions and record in the session library: the user's id."""
    return str(user["id"])


class SessionAccess(tornado.web.RequestHandler):
    """The session, current_user and the priced cart; part of BaseHandler, whose other parts give
    store_unavailable (errors), check_rate (guards) and flash (flash)."""

    application: ShopParts

    def initialize(self) -> None:
        super().initialize()
        # Until the session is read, pages (an error page too) show an empty one.
        self.session: dict[str, Any] = {}
        self.session_id: str | None = None
        self.current_user = None
        # A logged-in person's cart lives in the account's record (sessions.SessionManager.owner_record),
        # the same on every device; an anonymous one's in the session.
        self.account_record: dict[str, Any] | None = None
        self._session_read = False
        self._cart: PricedCart | None = None

    async def load_session(self) -> dict[str, Any]:
        """The person's session as a snapshot for reading (never locked, never saved), read once per
        request; it also sets current_user. After update_session(), its result."""
        if not self._session_read:
            sessions = self.application.sessions
            try:
                # A HEAD only looks: it does not roll the session's ttl (a write in every store).
                session = await sessions.load(self, read_only=self.request.method == "HEAD")
                self._show_session(session, session.owner, session.id)
                if self.current_user is not None:
                    self.account_record = await sessions.load_owner_record(account_owner(self.current_user))
            except StoreUnavailable as error:
                raise self.store_unavailable(error) from None
        return self.session

    @property
    def cart(self) -> PricedCart:
        """This person's cart (the account's when logged in), priced at the catalog's prices
        (products no longer sold left out)."""
        if self._cart is None:
            self._cart = price_cart(clean_cart(self.cart_holder.get("cart")), self.application.catalog)
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
        # A login counts only in a session that belongs to that account (one from before issue 16
        # gets its owner as it is read: handlers/session_shapes.py): every login is then listed on /account.
        self.current_user = user if user is not None and owner == account_owner(user) else None
        self._cart = None
        self._session_read = True

    @contextlib.asynccontextmanager
    async def update_session(self) -> AsyncIterator[dict[str, Any]]:
        """Change the session: locked, re-read, saved when the block ends; nothing saved if it raises.

        Inside the block, self.session, self.current_user and self.cart show the session as read
        under the lock; afterwards, the result.
        """
        try:
            async with self.application.sessions.transaction(self) as session:
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
            async with self.application.sessions.owner_record(account_owner(self.current_user),
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


def login_required(form_page: str | None = None) -> Callable:
    """For a handler method that needs a login (instead of Tornado's @authenticated, whose POST
    answers a bare 403): a GET goes to the login page and back; a form sent without a login goes
    to the login page and back to form_page (the page the form was on), told nothing was lost."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        async def wrapper(self: SessionAccess, *args: Any, **kwargs: Any) -> None:
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


def _user_from(session: dict[str, Any]) -> dict[str, Any] | None:
    user = session.get("user")
    if isinstance(user, dict) and type(user.get("id")) is int and isinstance(user.get("username"), str):
        return user
    return None
