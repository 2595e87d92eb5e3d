"""The shop's entry point: make_app(config) builds the Tornado application; main() reads the
configuration, listens, runs WORKERS processes on the port (workers.py), sweeps expired sessions in
one of them, and drains in-flight requests on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys

from sessions import StoreUnavailable

from config import Config, ConfigError
from handlers.application import ShopApplication
from handlers.server import ShopHTTPServer
from workers import exit_on_stop_signals, listening_sockets, run_workers

DRAIN_TIMEOUT_SECONDS = 10

log = logging.getLogger("shop")


def make_app(config: Config) -> ShopApplication:
    return ShopApplication(config)


async def serve(config: Config, sockets: list[socket.socket] | None = None, worker: int = 0) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, let in-flight requests finish, and return.

    With sockets (bound by the supervisor before it forked), serve on those as worker number
    `worker`; only worker 0 sweeps expired sessions."""
    app = make_app(config)
    try:
        server = ShopHTTPServer(app, config.limits)
        if sockets is None:
            server.listen(config.port, config.host)
        else:
            server.add_sockets(sockets)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, error.strerror or error)
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
    log.info("database: %s", app.database.name)
    await stopping.wait()

    log.info("stopping: no new connections; waiting for %d request(s) in flight", app.in_flight.count)
    server.stop()
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


def main() -> None:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    # With several workers each line says which process wrote it.
    process = " [%(process)d]" if config.workers > 1 else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s{process} %(name)s: %(message)s")
    if config.workers == 1:
        exit_on_stop_signals()
        asyncio.run(serve(config))
        return
    try:
        sockets = listening_sockets(config.port, config.host)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, error.strerror or error)
        sys.exit(1)
    log.info("starting %d workers on %s:%d", config.workers, config.host, config.port)
    sys.exit(run_workers(config.workers, lambda worker: _serve_worker(config, sockets, worker)))


def _serve_worker(config: Config, sockets: list[socket.socket], worker: int) -> int:
    asyncio.run(serve(config, sockets, worker))
    return 0


if __name__ == "__main__":
    main()
