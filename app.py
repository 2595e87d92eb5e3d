"""The shop's entry point: main() reads the configuration, builds the shop (create_app, in
handlers/application.py), listens, runs WORKERS processes on the port (workers.py), sweeps expired
sessions in one of them, and drains in-flight requests on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys

from sessions import StoreFull, StoreUnavailable

from tornado.httpserver import HTTPServer

from config import Config, ConfigError, sentinel_problem
from shop.db import mask_password
from handlers.application import create_app
from handlers.logs import configure_logging
from handlers.metrics import mark_process_dead, metrics_application, prepare_directory
from handlers.server import ShopHTTPServer
from workers import exit_on_stop_signals, listening_sockets, run_workers

DRAIN_TIMEOUT_SECONDS = 10

log = logging.getLogger("shop")


async def serve(config: Config, sockets: list[socket.socket] | None = None, worker: int = 0,
                metrics_sockets: list[socket.socket] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, let in-flight requests finish, and return.

    With sockets (bound by the supervisor before it forked), serve on those as worker number
    `worker`; only worker 0 sweeps expired sessions and, with METRICS_PORT set, serves /metrics
    (on metrics_sockets, or a port it binds itself), reporting every worker's counts."""
    if config.metrics_port is not None and sockets is None:
        prepare_directory(config.metrics_dir)  # one process: nobody else did
    app = create_app(config)
    metrics_server = None
    try:
        server = ShopHTTPServer(app, config.limits)
        if sockets is None:
            server.listen(config.port, config.host)
        else:
            server.add_sockets(sockets)
        if config.metrics_port is not None and worker == 0:
            metrics_server = HTTPServer(metrics_application(app))
            if metrics_sockets is None:
                metrics_server.listen(config.metrics_port, config.host)
            else:
                metrics_server.add_sockets(metrics_sockets)
    except OSError as error:
        log.error("cannot listen on %s:%d or its METRICS_PORT: %s", config.host, config.port, error.strerror or error)
        await app.close()
        raise SystemExit(1) from None
    if worker == 0:
        app.start_sweeper()
    app.start_database_seeding()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    log.info("listening on http://%s:%d (session backend: %s)", config.host, config.port, config.session_backend)
    log.info("database: %s", app.database.name)
    waiting_for_store = asyncio.ensure_future(wait_for_session_store(app.session_store))
    await stopping.wait()

    log.info("stopping: no new connections; waiting for %d request(s) in flight", app.in_flight.count)
    server.stop()
    if metrics_server is not None:
        metrics_server.stop()
    if not await app.in_flight.wait_idle(DRAIN_TIMEOUT_SECONDS):
        log.warning("stopping with %d request(s) still in flight after %ds",
                    app.in_flight.count, DRAIN_TIMEOUT_SECONDS)
    waiting_for_store.cancel()
    await server.close_all_connections()
    await app.close()
    log.info("stopped")


async def wait_for_session_store(store, interval: float = 2.0) -> None:
    """Log whether the session store answers at start, and keep asking until it does. Not fatal:
    until then the shop serves pages and answers 503 for session work."""
    attempt = 0
    while True:
        try:
            await store.ping()
        except StoreUnavailable as error:
            if attempt == 0:
                log.warning("session store (%s) unavailable at start, retrying every %gs: %s",
                            store.name, interval, error)
            attempt += 1
            await asyncio.sleep(interval)
            continue
        if attempt:
            log.info("session store (%s) answers now, after %d retries", store.name, attempt)
        return


async def migration_source_problem(config: Config) -> str | None:
    """Why the store SESSION_MIGRATE_FROM names cannot be used, or None. A Redis must answer at
    start: the sessions it holds are what the switch is for (Config checked a folder already)."""
    if config.session_migrate_from is None or config.session_migrate_from[0] != "redis":
        return None
    from sessions.redis import RedisStore

    url = config.session_migrate_from[1]
    store = RedisStore(url, prefix=config.session_redis_prefix, timeout=config.session_redis_timeout, retries=0)
    try:
        await store.ping()
    except StoreFull:
        return None  # it answers: its sessions can be read, and deleted once moved
    except StoreUnavailable as error:
        return f"SESSION_MIGRATE_FROM={mask_password(url)!r} does not answer ({error}): expected the Redis being left, reachable"
    finally:
        await store.close()
    return None


def main() -> None:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    unreachable = sentinel_problem(config)  # before any fork: one line, once
    if unreachable is not None:
        print(f"configuration error: {unreachable}", file=sys.stderr)
        sys.exit(2)
    problem = asyncio.run(migration_source_problem(config))
    if problem is not None:
        print(f"configuration error: {problem}", file=sys.stderr)
        sys.exit(2)
    # With several workers each line says which process wrote it.
    configure_logging(config.log_format, show_pid=config.workers > 1)
    if config.workers == 1:
        exit_on_stop_signals()
        run_event_loop(serve(config))
        return
    metrics_sockets = None
    try:
        sockets = listening_sockets(config.port, config.host)
        if config.metrics_port is not None:
            metrics_sockets = listening_sockets(config.metrics_port, config.host)
    except OSError as error:
        log.error("cannot listen on %s:%d or its METRICS_PORT: %s", config.host, config.port, error.strerror or error)
        sys.exit(1)
    log.info("starting %d workers on %s:%d", config.workers, config.host, config.port)
    worker_ended = None
    if config.metrics_port is not None:
        # Before the fork: every worker then writes its counts where the others do.
        prepare_directory(config.metrics_dir)
        worker_ended = _metrics_of_dead_workers(config)
    sys.exit(run_workers(config.workers, lambda worker: _serve_worker(config, sockets, worker, metrics_sockets),
                         worker_ended))


def _metrics_of_dead_workers(config: Config):
    """What the supervisor does when a worker ends: tidy its live gauges, count a restart."""
    from handlers.metrics import PrometheusMetrics

    restarts = PrometheusMetrics({})

    def worker_ended(pid: int, restarting: bool) -> None:
        mark_process_dead(pid, config.metrics_dir)
        if restarting:
            restarts.worker_restarted()

    return worker_ended


def _serve_worker(config: Config, sockets: list[socket.socket], worker: int,
                  metrics_sockets: list[socket.socket] | None) -> int:
    run_event_loop(serve(config, sockets, worker, metrics_sockets if worker == 0 else None))
    return 0


def run_event_loop(main_coroutine):
    """asyncio.run, on uvloop where it is installed: its loop, written in C over libuv, gave the
    shop about a tenth more requests a second (requirements.txt pins it for Linux). The bench's
    probes run on it too. Returns what main_coroutine returns."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_coroutine)
    return uvloop.run(main_coroutine)


if __name__ == "__main__":
    main()
