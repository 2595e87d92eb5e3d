"""ShopParts: what the handlers use of the application (`self.application.<part>`), as a Protocol.

A handler module that imported handlers/application.py for its type would close a circle (the
application imports every handler); this names the parts instead. ShopApplication has them all.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Protocol

from jinja2 import Environment
from sessions import SessionManager, SessionStore

from config import Config
from handlers.fragments import Fragments
from handlers.limits import LoginLimit, RateLimit
from shop.catalog import Catalog
from shop.db import Database
from shop.orders import OrderStore
from shop.users import UserStore


class RequestCounts(Protocol):
    """What the handlers tell the metrics (handlers/metrics.py: Metrics)."""

    def request_started(self) -> None: ...

    def request_finished(self) -> None: ...

    def refused(self, status: int, cause: str) -> None: ...

    def order_placed(self) -> None: ...

    def database_call(self, operation: str, seconds: float, failure: str | None) -> None: ...


class InFlight(Protocol):
    """The requests being handled, which a shutdown waits for (handlers/application.py)."""

    def started(self) -> None: ...

    def finished(self) -> None: ...


class DatabaseState(Protocol):
    """Whether the database answers, for /healthz (handlers/health.py: DatabaseCheck)."""

    async def state(self) -> str: ...


class ShopParts(Protocol):
    config: Config
    catalog: Catalog
    database: Database
    database_check: DatabaseState
    # Database work (BaseHandler.run_database) and password hashing each have threads of their own.
    database_threads: Executor
    password_hashing: Executor
    users: UserStore
    orders: OrderStore
    session_store: SessionStore
    sessions: SessionManager
    login_throttle: LoginLimit
    register_limit: RateLimit
    session_limit: RateLimit
    strength_limit: RateLimit
    metrics: RequestCounts
    in_flight: InFlight
    template_env: Environment
    # Versioned static URLs, built once each (Rendering.static_url).
    static_urls: dict[str, str]
    fragments: Fragments

    def cookie_name(self, name: str) -> str: ...
