"""The shop's entry point: make_app(config) builds the Tornado application; main() reads the
configuration, listens, sweeps expired sessions, and drains in-flight requests on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from sessions import StoreUnavailable

from config import Config, ConfigError
from handlers.application import ShopApplication

DRAIN_TIMEOUT_SECONDS = 10

log = logging.getLogger("shop")


def make_app(config: Config) -> ShopApplication:
    return ShopApplication(config)


async def serve(config: Config) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, let in-flight requests finish, and return."""
    app = make_app(config)
    try:
        server = app.listen(config.port, config.host)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, error.strerror or error)
        await app.close()
        raise SystemExit(1) from None
    app.start_sweeper()
    app.start_database_seeding()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    log.info("listening on http://%s:%d (session backend: %s)", config.host, config.port, config.session_backend)
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
