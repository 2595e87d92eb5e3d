"""The shop's parts, built from a Config and closed once: the stores (sessions, database), the limits,
the metrics, the templates, the thread pools. `assemble(config, route_names)` returns them as
`Parts`; ShopApplication (handlers/application.py) holds them for the handlers, which know them
through handlers/parts.py's ShopParts. Nothing here imports a handler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment
from sessions import SessionEvents, SessionManager, SessionStore, StoreSettings, Sweeper, registry
from sessions.manager import META_KEY
from sessions.migration import MigratingStore

from config import Config
from handlers.fragments import Fragments
from handlers.limits import LoginLimit, RateLimit, SharedCounters
from handlers.metrics import Metrics, PrometheusMetrics
from handlers.rendering import make_template_env
from handlers.session_shapes import SHAPES as SESSION_SHAPES
from shop.catalog import Catalog
from shop.db import Database, DatabaseCheck, DatabaseUnavailable, PostgresDatabase, open_database
from shop.orders import OrderStore
from shop.throttle import LoginThrottle, TokenBucket
from shop.users import UserStore

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("shop")

# Threads for database work: PostgresDatabase's pool has this many connections.
DATABASE_THREADS = PostgresDatabase.MAX_CONNECTIONS
# Password strength checks (POST /password-strength) one client may ask for a minute (bursts of that
# many): a person typing a new password asks a few times a field.
STRENGTH_CHECKS_PER_MINUTE = 60


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


@dataclass
class Parts:
    """Everything the shop is made of besides its handlers (handlers/parts.py: ShopParts names what
    handlers use of it). Built by assemble(); close() releases it."""

    config: Config
    route_names: dict[type, str]
    metrics: Metrics
    catalog: Catalog
    database: Database
    database_check: DatabaseCheck
    users: UserStore
    orders: OrderStore
    session_store: SessionStore
    sessions: SessionManager
    shared_counters: SharedCounters | None
    login_throttle: LoginLimit
    register_limit: RateLimit
    session_limit: RateLimit
    strength_limit: RateLimit
    template_env: Environment
    fragments: Fragments
    # scrypt takes tens of ms and 16 MiB a call: a pool of its own, so a burst of logins cannot
    # queue ahead of the database work of checkouts (which hold their session's lock).
    password_hashing: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="passwords"))
    # Database work (BaseHandler.run_database): as many threads as the pool has connections, so
    # that a hung database can hold no more threads than that; the rest wait their turn, and
    # give up when their request does.
    database_threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=DATABASE_THREADS, thread_name_prefix="database"))
    in_flight: InFlightRequests = field(default_factory=InFlightRequests)
    # Versioned static URLs, built once each (static files do not change while the shop runs).
    static_urls: dict[str, str] = field(default_factory=dict)
    database_ready: bool = False
    sweeper: Sweeper | None = None
    _seeding: asyncio.Task | None = None

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


def assemble(config: Config, route_names: dict[type, str]) -> Parts:
    """The shop's parts for config; route_names (handler class -> route pattern) labels the metrics."""
    # Counted only when METRICS_PORT is set (the supervisor or serve() prepared its folder).
    metrics = PrometheusMetrics(route_names) if config.metrics_port is not None else Metrics()
    database = open_database(config.database_url, config.database_timeout)
    if metrics.enabled:
        database.observer = metrics.database_call
    session_store = build_session_store(config, metrics)
    shared_counters = _shared_counters(config)
    template_env = make_template_env(str(ROOT / "templates"))
    parts = Parts(
        config=config, route_names=route_names, metrics=metrics,
        catalog=Catalog.load(ROOT / "data" / "products.json"),
        database=database, database_check=DatabaseCheck(database),
        users=UserStore(database), orders=OrderStore(database),
        session_store=session_store,
        sessions=SessionManager(
            session_store, ttl=config.session_ttl, max_age=config.session_max_age,
            cookie_name=cookie_name(config, "session"), secure=config.cookie_secure,
            client=lambda handler: (handler.request.headers.get("User-Agent", ""), handler.client_address),
            events=metrics, shapes=SESSION_SHAPES),
        shared_counters=shared_counters,
        login_throttle=LoginLimit(LoginThrottle(free_failures=config.limits.login_throttle_failures,
                                                first_delay=config.limits.login_throttle_delay,
                                                max_delay=config.limits.login_throttle_max_delay), shared_counters),
        register_limit=_rate_limit(config, "r", config.limits.register_per_minute,
                                   2 * config.limits.register_per_minute, shared_counters),
        session_limit=_rate_limit(config, "s", config.limits.sessions_per_minute,
                                  config.limits.sessions_per_minute, shared_counters),
        # The live strength meter's checks cost the password-hashing pool about 20 ms each: a person
        # typing sends a few, a client sending hundreds would make every login wait behind them.
        strength_limit=_rate_limit(config, "p", STRENGTH_CHECKS_PER_MINUTE, STRENGTH_CHECKS_PER_MINUTE,
                                   shared_counters),
        template_env=template_env, fragments=Fragments(template_env),
    )
    # A file is there at once: migrate and seed the demo account now. A database server may not
    # be up yet: start_database_seeding() keeps trying, and database work answers 503 until then.
    parts.database_ready = database.embedded and parts.seed_database()
    return parts


def cookie_name(config: Config, name: str) -> str:
    """The name of every cookie the shop sets: with COOKIE_SECURE, `__Host-` prefixed, which
    browsers accept only Secure, with Path=/ and no Domain, so neither a subdomain nor a plain
    HTTP page can plant one beside ours (OWASP ASVS 3.4.4)."""
    return "__Host-" + name if config.cookie_secure else name


def _shared_counters(config: Config) -> SharedCounters | None:
    """On Redis, the limits are counted there, fleet-wide, at the configured figures; on the other
    backends (and on Redis when it cannot be asked), in each worker process."""
    if config.session_backend != "redis":
        return None
    return SharedCounters(config.redis_url, prefix=config.session_redis_prefix, timeout=config.session_redis_timeout,
                          sentinels=config.redis_sentinels, sentinel_master=config.redis_sentinel_master)


def _rate_limit(config: Config, name: str, per_minute: int, burst: int, shared: SharedCounters | None) -> RateLimit:
    """A per-client limit of per_minute (bursts of burst). A process's own bucket gets its share of
    the rate, so that WORKERS processes together allow one client no more than the figure."""
    share = 1 / config.workers
    rate = per_minute / 60
    return RateLimit(name, TokenBucket(rate=rate * share, burst=max(1, math.ceil(burst * share))),
                     shared, rate=rate, burst=burst)


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
        settings, directory=Path(location) if backend == "file" else None,
        url=location if backend == "redis" else None))
    return MigratingStore(store, previous, owner_ttl=config.session_max_age + config.session_ttl, events=events)
