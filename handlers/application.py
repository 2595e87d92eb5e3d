"""ShopApplication: the Tornado application holding the shop's parts as typed attributes, built once
from a Config and closed once; and the in-flight request counter that a SIGTERM drains."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web
from jinja2 import Environment
from sessions import SessionEvents, SessionManager, SessionStore, StoreSettings, Sweeper, registry
from sessions.manager import META_KEY
from sessions.migration import MigratingStore

from config import Config
from handlers.account import (
    AccountHandler, ChangePasswordHandler, EndOtherSessionsHandler, EndSessionHandler, PasswordStrengthHandler,
)
from handlers.auth import LoginHandler, LogoutHandler, RegisterHandler
from handlers.base import NotFoundHandler, make_template_env
from handlers.cart import CartAddHandler, CartApiHandler, CartHandler, CartRemoveHandler, CartUpdateHandler
from handlers.catalog import CatalogHandler, ProductHandler
from handlers.checkout import CheckoutHandler
from handlers.compression import FastGzip
from handlers.fragments import Fragments
from handlers.health import DatabaseCheck, HealthHandler
from handlers.limits import LoginLimit, RateLimit, SharedCounters
from handlers.logs import RequestIdHeader, log_access
from handlers.metrics import UNMATCHED_ROUTE, Metrics, PrometheusMetrics, route_names
from handlers.server import client_address
from handlers.session_shapes import SHAPES as SESSION_SHAPES
from handlers.orders import OrderHandler, OrdersHandler
from handlers.static import StaticFiles
from shop.catalog import Catalog
from shop.db import Database, DatabaseUnavailable, PostgresDatabase, open_database
from shop.orders import OrderStore
from shop.throttle import LoginThrottle, TokenBucket
from shop.users import UserStore

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("shop")

ROUTES = [
    (r"/", CatalogHandler),
    (r"/product/([^/]+)", ProductHandler),
    (r"/cart", CartHandler),
    (r"/cart/add", CartAddHandler),
    (r"/cart/update", CartUpdateHandler),
    (r"/cart/remove", CartRemoveHandler),
    (r"/login", LoginHandler),
    (r"/logout", LogoutHandler),
    (r"/register", RegisterHandler),
    (r"/checkout", CheckoutHandler),
    (r"/orders", OrdersHandler),
    (r"/orders/([^/]+)", OrderHandler),
    (r"/api/cart", CartApiHandler),
    (r"/account", AccountHandler),
    (r"/account/password", ChangePasswordHandler),
    (r"/account/sessions/end", EndSessionHandler),
    (r"/account/sessions/end-others", EndOtherSessionsHandler),
    (r"/password-strength", PasswordStrengthHandler),
    (r"/healthz", HealthHandler),
]


# Threads for database work: PostgresDatabase's pool has this many connections.
DATABASE_THREADS = PostgresDatabase.MAX_CONNECTIONS

# A request slower than this is logged even when ACCESS_LOG=errors.
SLOW_REQUEST_SECONDS = 0.5


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


class ShopApplication(tornado.web.Application):
    """The shop: its routes, and its parts, which handlers reach as `self.application.<part>`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # Counted only when METRICS_PORT is set (the supervisor or serve() prepared its folder).
        self.route_names = route_names([*ROUTES, (r"/static/(.*)", StaticFiles)])
        self.metrics: Metrics = (PrometheusMetrics(self.route_names) if config.metrics_port is not None
                                 else Metrics())
        self.catalog = Catalog.load(ROOT / "data" / "products.json")
        self.database: Database = open_database(config.database_url, config.database_timeout)
        if self.metrics.enabled:
            self.database.observer = self.metrics.database_call
        self.users = UserStore(self.database)
        # A file is there at once: migrate and seed the demo account now. A database server may not
        # be up yet: start_database_seeding() keeps trying, and database work answers 503 until then.
        self.database_ready = self.database.embedded and self.seed_database()
        self._seeding: asyncio.Task | None = None
        self.orders = OrderStore(self.database)
        self.database_check = DatabaseCheck(self.database)
        self.session_store: SessionStore = build_session_store(config, self.metrics)
        self.sessions = SessionManager(
            self.session_store, ttl=config.session_ttl, max_age=config.session_max_age,
            cookie_name=self.cookie_name("session"), secure=config.cookie_secure,
            client=lambda handler: (handler.request.headers.get("User-Agent", ""), handler.client_address),
            events=self.metrics, shapes=SESSION_SHAPES)
        self.sweeper: Sweeper | None = None
        self.in_flight = InFlightRequests()
        # scrypt takes tens of ms and 16 MiB a call: a pool of its own, so a burst of logins cannot
        # queue ahead of the database work of checkouts (which hold their session's lock).
        self.password_hashing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="passwords")
        # Database work (BaseHandler.run_database): as many threads as the pool has connections, so
        # that a hung database can hold no more threads than that; the rest wait their turn, and
        # give up when their request does.
        self.database_threads = ThreadPoolExecutor(max_workers=DATABASE_THREADS, thread_name_prefix="database")
        limits = config.limits
        # On Redis, the limits are counted there, fleet-wide, at the configured figures; on the
        # other backends (and on Redis when it cannot be asked), in each worker process.
        self.shared_counters = SharedCounters(
            config.redis_url, prefix=config.session_redis_prefix, timeout=config.session_redis_timeout,
            sentinels=config.redis_sentinels, sentinel_master=config.redis_sentinel_master,
        ) if config.session_backend == "redis" else None
        self.login_throttle = LoginLimit(LoginThrottle(free_failures=limits.login_throttle_failures,
                                                       first_delay=limits.login_throttle_delay,
                                                       max_delay=limits.login_throttle_max_delay),
                                         self.shared_counters)
        # A process's own buckets: each worker gets its share of the per-client rate, so that
        # WORKERS processes together allow one client no more than the configured figure.
        share = 1 / config.workers
        register_rate, register_burst = limits.register_per_minute / 60, 2 * limits.register_per_minute
        session_rate, session_burst = limits.sessions_per_minute / 60, limits.sessions_per_minute
        self.register_limit = RateLimit(
            "r", TokenBucket(rate=register_rate * share, burst=max(1, math.ceil(register_burst * share))),
            self.shared_counters, rate=register_rate, burst=register_burst)
        self.session_limit = RateLimit(
            "s", TokenBucket(rate=session_rate * share, burst=max(1, math.ceil(session_burst * share))),
            self.shared_counters, rate=session_rate, burst=session_burst)
        # The live strength meter's checks cost the password-hashing pool about 20 ms each: a person
        # typing sends a few, a client sending hundreds would make every login wait behind them.
        strength_rate, strength_burst = STRENGTH_CHECKS_PER_MINUTE / 60, STRENGTH_CHECKS_PER_MINUTE
        self.strength_limit = RateLimit(
            "p", TokenBucket(rate=strength_rate * share, burst=max(1, math.ceil(strength_burst * share))),
            self.shared_counters, rate=strength_rate, burst=strength_burst)
        self.template_env: Environment = make_template_env(str(ROOT / "templates"))
        # Versioned static URLs, built once each (static files do not change while the shop runs).
        self.static_urls: dict[str, str] = {}
        self.fragments = Fragments(self.template_env)
        super().__init__(
            ROUTES,
            # compress_response=True, at gzip level 1 (see handlers/compression.py for the figures).
            transforms=[RequestIdHeader, FastGzip],
            default_handler_class=NotFoundHandler,
            cookie_secret=config.cookie_secret,
            xsrf_cookies=True,
            xsrf_cookie_name=self.cookie_name("_xsrf"),
            xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax", "secure": config.cookie_secure},
            login_url="/login",
            template_path=str(ROOT / "templates"),
            static_path=str(ROOT / "static"),
            static_handler_class=StaticFiles,
        )

    def cookie_name(self, name: str) -> str:
        """The name of every cookie the shop sets: with COOKIE_SECURE, `__Host-` prefixed, which
        browsers accept only Secure, with Path=/ and no Domain, so neither a subdomain nor a plain
        HTTP page can plant one beside ours (OWASP ASVS 3.4.4)."""
        return "__Host-" + name if self.config.cookie_secure else name

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """The access log: by default only what an operator acts on (4xx, 5xx, slow requests).
        A line for every request cost the memory store 13% of its throughput, and where the shop
        sits behind nginx, nginx keeps the full log anyway. ACCESS_LOG=all logs every request."""
        self.metrics.request(handler)
        if (self.config.access_log == "all" or handler.get_status() >= 400
                or handler.request.request_time() >= SLOW_REQUEST_SECONDS):
            log_access(handler, client_address(handler.request.remote_ip, handler.request.headers.get("X-Forwarded-For"),
                                               self.config.limits.trusted_proxies),
                       self.route_names.get(type(handler), UNMATCHED_ROUTE))

    def start_sweeper(self) -> None:
        """Delete expired sessions every SESSION_REAP_INTERVAL seconds (0: never; nor for a store
        that expires sessions by itself); close() stops it."""
        if self.session_store.expires_by_itself:
            return
        if self.config.session_reap_interval > 0 and self.sweeper is None:
            self.sweeper = self.sessions.start_sweeper(self.config.session_reap_interval)

    def seed_database(self) -> bool:
        """Migrate the database (on its first use) and create the demo account; False if the
        database is unavailable. Blocking."""
        try:
            self.users.ensure_demo_user()
        except DatabaseUnavailable as error:
            log.warning("database unavailable while preparing it (%s); retrying in the background", error)
            return False
        return True

    def start_database_seeding(self) -> None:
        """Unless seeded already, retry seed_database() off the event loop, backing off, until the
        database answers; close() stops it."""
        if not self.database_ready and self._seeding is None:
            self._seeding = asyncio.create_task(self._seed_until_ready())

    async def _seed_until_ready(self) -> None:
        loop = asyncio.get_running_loop()
        delay = 1.0
        while not await loop.run_in_executor(None, self.seed_database):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        self.database_ready = True
        log.info("database ready: migrated, demo account present")

    async def close(self) -> None:
        """Stop the sweeper and release the session store, the thread pools and the database.
        Requests should be drained first (see app.serve)."""
        if self.sweeper is not None:
            await self.sweeper.stop()
            self.sweeper = None
        if self._seeding is not None:
            self._seeding.cancel()
            self._seeding = None
        await self.session_store.close()
        if self.shared_counters is not None:
            await self.shared_counters.close()
        self.password_hashing.shutdown(wait=True)
        # Not waited for: a thread may be stuck reading from a hung database.
        self.database_threads.shutdown(wait=False, cancel_futures=True)
        self.database_check.close()
        self.database.close()


# Password strength checks (POST /password-strength) one client may ask for a minute (bursts of that
# many): a person typing a new password asks a few times a field.
STRENGTH_CHECKS_PER_MINUTE = 60


def session_priority(data: dict) -> int:
    """How much a session matters when the memory store is full: a login or an account's record
    (the account's cart) most, then a cart, then nothing (a visitor who only looked). Lower ranks
    are evicted first."""
    if data.get("user") or (data.get(META_KEY) or {}).get("record"):
        return 2
    return 1 if data.get("cart") else 0


def build_session_store(config: Config, events: SessionEvents) -> SessionStore:
    """The configured session store; with SESSION_MIGRATE_FROM, one that moves each session of the
    store being left on its first request (sessions.migration)."""
    settings = StoreSettings(
        directory=config.session_dir,
        retries=config.session_retries,
        max_sessions=config.session_max_memory_sessions,
        priority=session_priority,
        url=config.redis_url,
        key_prefix=config.session_redis_prefix,
        timeout=config.session_redis_timeout,
        events=events,
    )
    # Through Sentinel (and with WAIT for replicas) only the store in use: one being left is at its URL.
    store = registry.create(config.session_backend, dataclasses.replace(
        settings, sentinels=config.redis_sentinels, sentinel_master=config.redis_sentinel_master,
        min_replicas=config.session_redis_min_replicas))
    if config.session_migrate_from is None:
        return store
    backend, location = config.session_migrate_from
    previous = registry.create(backend, dataclasses.replace(
        settings, directory=Path(location) if backend == "file" else None, url=location if backend == "redis" else None))
    return MigratingStore(store, previous, owner_ttl=config.session_max_age + config.session_ttl, events=events)
