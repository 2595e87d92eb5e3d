"""BaseHandler: what every page needs, put together from the modules that each do one job:

    guards.py          security headers, the method (405, HEAD), the XSRF token, rate limits (429),
                       the redirect guard (local_path, ascii_url)
    form_input.py      text in: every argument through shop.text.read_text
    session_access.py  the session, current_user, the priced cart, update_session/update_cart,
                       login_required, account_owner
    flash.py           flash messages and the refused form's cookie (Post/Redirect/Get)
    rendering.py       Jinja2: the environment, render_page, fragments, the template namespace
    errors.py          ShopError, the messages, the error page

Here: the request's life (counted in flight, the session read in prepare() for all but a POST),
the shop's stores, and database work within its timeout (run_database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from sessions import SessionManager

from handlers.errors import NOT_FOUND_MESSAGE, ErrorPages, ShopError
from handlers.flash import FlashCookies
from handlers.form_input import FormInput
from handlers.guards import Guards
from handlers.parts import ShopParts
from handlers.rendering import Rendering, make_template_env
from handlers.session_access import SessionAccess, account_owner
from shop.catalog import Catalog
from shop.db import DatabaseUnavailable
from shop.orders import OrderStore
from shop.users import UserStore

# Imported from here still by handlers/application.py (make_template_env) and handlers/session_shapes.py
# (account_owner); their homes are rendering.py and session_access.py.
__all__ = ["BaseHandler", "NotFoundHandler", "account_owner", "make_template_env"]

T = TypeVar("T")

# How much longer than DATABASE_TIMEOUT a request waits for its database work (see run_database).
DATABASE_GRACE_SECONDS = 0.5


class BaseHandler(SessionAccess, FlashCookies, Rendering, FormInput, Guards, ErrorPages):
    """What every page needs. The session is read when first asked for: `await self.load_session()`
    for a snapshot (a GET asks in prepare()), `update_session()` to change it under its lock."""

    application: ShopParts

    def initialize(self) -> None:
        super().initialize()
        self._counted = False

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
    async def prepare(self) -> None:
        self.count_in_flight()
        refusal = self.refusal()
        if refusal is not None:
            await self.load_session()  # the refusal's page shows the person's own header
            raise refusal
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

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.application.in_flight.finished()
            self.application.metrics.request_finished()

    # --- the database -------------------------------------------------------------------------------
    async def run_database(self, operation: str, function: Callable[..., T], *args: Any,
                           executor: Executor | None = None) -> T:
        """function(*args), blocking database work, on a thread (the database's own, or executor),
        answered within DATABASE_TIMEOUT (and a grace of half a second) whatever the database does:
        past it, DatabaseUnavailable naming operation (the page's 503), with outcome_unknown, as the
        work may still be running.
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


class NotFoundHandler(BaseHandler):
    """Every unknown path: the 404 page, with the person's own header."""

    async def prepare(self) -> None:
        # Whatever the method (so not BaseHandler's method and XSRF checks): nothing is here to change.
        self.count_in_flight()
        await self.load_session()  # the page shows the person's header
        raise ShopError(404, NOT_FOUND_MESSAGE)
