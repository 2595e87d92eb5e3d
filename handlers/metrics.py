"""The shop's metrics for Prometheus: what it counts, and `/metrics` on a port of its own.

Counted through the official client (`prometheus-client`) in its multiprocess mode, so that with
WORKERS > 1 one scrape reports every worker's totals: each process writes its counts to files in
DATA_DIR/metrics/<host>-<port> (Config.metrics_dir: replicas sharing DATA_DIR each keep their
own), which the supervisor empties at start (`prepare_directory`, before the first
import of prometheus_client), and `mark_process_dead` tidies after a worker that died. One listener
on METRICS_PORT (worker 0's, or the only process's) reads every process's files. Never served on the
shop's public port: the port is not published, and nginx does not proxy it.

Labels are low-cardinality by construction: a route is the pattern of the handler that answered
("/product/{id}"), never the path; a status, a cause, an operation or a kind comes from a short list.
With METRICS_PORT unset, `Metrics` (which counts nothing) stands in and prometheus_client is never imported.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

import tornado.web
from sessions import SessionEvents, SessionStore
from sessions.migration import MigratingStore

from config import Config
from handlers.headers import CheckedHeaders
from handlers.parts import DatabaseState


# What a refusal's cause may be, by status (the label's whole vocabulary).
REFUSAL_CAUSES = {
    413: ("body_size",),
    429: ("login_throttle", "register_limit", "session_limit", "password_strength_limit"),
    431: ("header_size",),
    503: ("session_store", "database", "connection_cap"),
}
# Seconds: from a cached page (a millisecond) to a request that waited out a database timeout.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
# The route of a request no route matched (a 404, whatever its path).
UNMATCHED_ROUTE = "unmatched"


def prepare_directory(path: Path) -> None:
    """Empty (or create) the folder the processes write their counts to, and point prometheus_client
    at it. Call once at start, before any worker is forked and before prometheus_client is first
    imported: the client reads PROMETHEUS_MULTIPROC_DIR when it is imported, and a file left by the
    last run would add its counts to this one's."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True)
    # The one variable this shop sets rather than reads: the client takes its folder from nowhere else.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def mark_process_dead(pid: int, path: Path) -> None:
    """A worker died: drop its live gauges (requests in flight, up) so they stop counting; its counters
    and histograms stay, so totals never go backwards."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(path))


def route_names(routes: list[tuple[str, type]]) -> dict[type, str]:
    """Each handler class's route pattern as a label: `/product/([^/]+)` -> `/product/{id}`."""
    names: dict[type, str] = {}
    for pattern, handler in routes:
        label = pattern
        for group in ("([^/]+)", "(.*)"):
            label = label.replace(group, "{id}")
        names.setdefault(handler, label)
    return names


class Metrics(SessionEvents):
    """Counts nothing: what the shop calls when METRICS_PORT is unset. `PrometheusMetrics` counts."""

    enabled = False

    def request(self, handler: tornado.web.RequestHandler) -> None:
        """A request was answered (called from the application's log_request)."""

    def refused(self, status: int, cause: str) -> None:
        """The shop refused a request with `status` because of `cause` (one of REFUSAL_CAUSES[status])."""

    def request_started(self) -> None:
        ...

    def request_finished(self) -> None:
        ...

    def order_placed(self) -> None:
        ...

    def database_call(self, operation: str, seconds: float, failure: str | None) -> None:
        """A database transaction (shop.db.DatabaseObserver); from the thread that ran it."""

    def worker_restarted(self) -> None:
        """The supervisor started a dead worker again."""

    def dependencies(self, session_store: str, database_up: bool, migrating_from: str | None = None) -> None:
        """The session store's state as /healthz says it ("ok", "full", "read_only", "unavailable"),
        whether the database answers, and the backend SESSION_MIGRATE_FROM names (None: no
        migration), asked at each scrape."""


class PrometheusMetrics(Metrics):
    """Every count of issue 19 as prometheus_client metrics, in multiprocess mode. Build it after
    prepare_directory(). The hot path (a request's count and duration) uses label children cached
    here, so a request creates no labels."""

    enabled = True

    def __init__(self, routes: dict[type, str]) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self._routes = routes
        # Not registered in a registry of this process: in multiprocess mode a scrape reads the
        # files of every process (see metrics_text), and a second app in one process (the tests)
        # must not meet "duplicated timeseries".
        options = {"registry": None}
        self._requests = Counter("shop_http_requests_total", "Requests answered, by route pattern and status.",
                                 ["route", "status"], **options)
        self._request_seconds = Histogram("shop_http_request_duration_seconds",
                                          "Time from a request's start to its answer, by route pattern.",
                                          ["route"], buckets=REQUEST_BUCKETS, **options)
        self._refusals = Counter("shop_http_refusals_total",
                                 "Requests refused by a throttle or a limit (413, 429, 431, 503), by status and cause.",
                                 ["status", "cause"], **options)
        self._in_flight = Gauge("shop_http_requests_in_flight", "Requests being handled.",
                                multiprocess_mode="livesum", **options)
        self._store_calls = Histogram("shop_session_store_call_duration_seconds",
                                      "Session store calls by backend and operation (read, change, sweep), "
                                      "and their duration.", ["backend", "operation"], buckets=STORE_BUCKETS,
                                      **options)
        self._store_failures = Counter("shop_session_store_failures_total",
                                       "Failed session store calls by backend, operation and kind "
                                       "(unavailable, timeout, full, corrupt).",
                                       ["backend", "operation", "kind"], **options)
        self._lock_wait = Histogram("shop_session_lock_wait_seconds",
                                    "Time a change waited for its session's lock (the read under it included).",
                                    ["backend"], buckets=STORE_BUCKETS, **options)
        self._sessions = Counter("shop_sessions_total",
                                 "Sessions created, regenerated, ended, expired, swept, quarantined and "
                                 "migrated (moved from the store SESSION_MIGRATE_FROM names).",
                                 ["event"], **options)
        self._database_calls = Histogram("shop_database_call_duration_seconds",
                                         "Database transactions by operation, and their duration.",
                                         ["operation"], buckets=REQUEST_BUCKETS, **options)
        self._database_failures = Counter("shop_database_failures_total",
                                          "Database transactions that found it unavailable, by operation and kind "
                                          "(unavailable, timeout, full).", ["operation", "kind"], **options)
        self._orders = Counter("shop_orders_placed_total", "Orders placed.", **options)
        self._restarts = Counter("shop_worker_restarts_total",
                                 "Workers that died and were started again by the supervisor.", **options)
        self._session_store_up = Gauge("shop_session_store_up",
                                       "1 when the session store answered at the last scrape, else 0.",
                                       multiprocess_mode="livemostrecent", **options)
        self._session_store_full = Gauge("shop_session_store_full",
                                         "1 when the session store answered at the last scrape but refuses "
                                         "writes (full, or read-only), else 0.",
                                         multiprocess_mode="livemostrecent", **options)
        self._migration_on = Gauge("shop_session_migration_on",
                                   "1 while SESSION_MIGRATE_FROM is set: sessions move from that store (the "
                                   "backend `from`) on their next request; see shop_sessions_total{event=\"migrated\"}.",
                                   ["from"], multiprocess_mode="livemostrecent", **options)
        self._database_up = Gauge("shop_database_up", "1 when the database answered at the last scrape, else 0.",
                                  multiprocess_mode="livemostrecent", **options)
        self._children: dict[tuple, object] = {}

    def _child(self, metric, *labels: str):
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # --- requests ----------------------------------------------------------------------------------
    def request(self, handler: tornado.web.RequestHandler) -> None:
        route = self._routes.get(type(handler), UNMATCHED_ROUTE)
        self._child(self._requests, route, str(handler.get_status())).inc()
        self._child(self._request_seconds, route).observe(handler.request.request_time())

    def refused(self, status: int, cause: str) -> None:
        self._child(self._refusals, str(status), cause).inc()

    def request_started(self) -> None:
        self._in_flight.inc()

    def request_finished(self) -> None:
        self._in_flight.dec()

    def order_placed(self) -> None:
        self._orders.inc()

    def worker_restarted(self) -> None:
        self._restarts.inc()

    def dependencies(self, session_store: str, database_up: bool, migrating_from: str | None = None) -> None:
        if migrating_from is not None:
            self._child(self._migration_on, migrating_from).set(1)
        self._session_store_up.set(0 if session_store == "unavailable" else 1)
        self._session_store_full.set(1 if session_store in ("full", "read_only") else 0)
        self._database_up.set(1 if database_up else 0)

    # --- the database (shop.db.DatabaseObserver) ------------------------------------------------
    def database_call(self, operation: str, seconds: float, failure: str | None) -> None:
        self._child(self._database_calls, operation).observe(seconds)
        if failure is not None:
            self._child(self._database_failures, operation, failure).inc()

    # --- the session library (sessions.SessionEvents) --------------------------------------------
    def store_call(self, backend: str, operation: str, seconds: float) -> None:
        self._child(self._store_calls, backend, operation).observe(seconds)

    def store_failure(self, backend: str, operation: str, kind: str) -> None:
        self._child(self._store_failures, backend, operation, kind).inc()

    def lock_wait(self, backend: str, seconds: float) -> None:
        self._child(self._lock_wait, backend).observe(seconds)

    def session(self, event: str, count: int = 1) -> None:
        if count:
            self._child(self._sessions, event).inc(count)


def metrics_text(directory: Path) -> tuple[bytes, str]:
    """Every process's counts (the files in directory) in Prometheus's text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class ScrapedShop(Protocol):
    """What a scrape reads of the shop (ShopApplication has it all)."""

    config: Config
    session_store: SessionStore
    database_check: DatabaseState
    metrics: Metrics


class MetricsHandler(CheckedHeaders):
    """GET /metrics on METRICS_PORT. Asks the session store and the database whether they answer
    first (as /healthz does, bounded the same way), so `shop_session_store_up` and
    `shop_database_up` say what they say now, even when no request has come in."""

    def initialize(self, shop: ScrapedShop) -> None:
        self.shop = shop

    async def get(self) -> None:
        from handlers.health import session_store_state

        session_store = await session_store_state(self.shop.session_store)
        database = await self.shop.database_check.state()
        store = self.shop.session_store
        migrating_from = store.previous.name if isinstance(store, MigratingStore) else None
        self.shop.metrics.dependencies(session_store, database == "ok", migrating_from)
        body, content_type = metrics_text(self.shop.config.metrics_dir)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


def metrics_application(shop: ScrapedShop) -> tornado.web.Application:
    """The application on METRICS_PORT: /metrics and nothing else (every other path is a 404)."""
    return tornado.web.Application([(r"/metrics", MetricsHandler, {"shop": shop})], log_function=_no_log)


def _no_log(_handler: tornado.web.RequestHandler) -> None:
    """Scrapes every few seconds would drown the access log."""
