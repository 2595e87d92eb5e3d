"""The shop's entry point: make_app(config) builds the Tornado application; main() reads the
configuration, listens, sweeps expired sessions, and drains in-flight requests on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web
from sessions import FileStore, MemoryStore, SessionManager

from config import Config, ConfigError
from handlers.auth import LoginHandler, LogoutHandler, RegisterHandler
from handlers.base import InFlightRequests, NotFoundHandler, make_template_env
from handlers.cart import CartAddHandler, CartApiHandler, CartHandler, CartRemoveHandler, CartUpdateHandler
from handlers.catalog import CatalogHandler, ProductHandler
from handlers.checkout import CheckoutHandler
from handlers.health import HealthHandler
from handlers.orders import OrderHandler, OrdersHandler
from shop.catalog import Catalog
from shop.db import DatabaseUnavailable, open_database
from shop.orders import OrderStore
from shop.users import UserStore

ROOT = Path(__file__).resolve().parent
DRAIN_TIMEOUT_SECONDS = 10

log = logging.getLogger("shop")


def make_session_store(config: Config) -> FileStore | MemoryStore:
    if config.session_backend == "file":
        return FileStore(config.session_dir, retries=config.session_retries)
    return MemoryStore(max_sessions=config.session_max_memory_sessions)


def make_app(config: Config) -> tornado.web.Application:
    database = open_database(config.database_url, config.database_timeout)
    users = UserStore(database)
    # A file is there at once; a database server may not be yet, so serve() seeds it in the
    # background and the shop answers 503 for database work until it is reachable.
    demo_user_seeded = database.embedded and seed_demo_user(users)
    store = make_session_store(config)
    routes = [
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
        (r"/healthz", HealthHandler),
    ]
    return tornado.web.Application(
        routes,
        default_handler_class=NotFoundHandler,
        cookie_secret=config.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax", "secure": config.cookie_secure},
        login_url="/login",
        template_path=str(ROOT / "templates"),
        template_env=make_template_env(str(ROOT / "templates")),
        static_urls={},
        static_path=str(ROOT / "static"),
        config=config,
        catalog=Catalog.load(ROOT / "data" / "products.json"),
        database=database,
        demo_user_seeded=demo_user_seeded,
        users=users,
        orders=OrderStore(database),
        session_store=store,
        session_manager=SessionManager(store, ttl=config.session_ttl, secure=config.cookie_secure),
        in_flight=InFlightRequests(),
        # scrypt takes tens of ms and 16 MiB a call: a pool of its own, so a burst of logins cannot
        # queue ahead of the database work of checkouts (which hold their session's lock).
        password_hashing=ThreadPoolExecutor(max_workers=2, thread_name_prefix="passwords"),
    )


def seed_demo_user(users: UserStore) -> bool:
    """Migrate the database (on its first use) and create the demo account; False if the database
    is unavailable."""
    try:
        users.ensure_demo_user()
    except DatabaseUnavailable as error:
        log.warning("database unavailable while preparing it (%s); retrying in the background", error)
        return False
    return True


async def seed_until_done(users: UserStore) -> None:
    """Retry seed_demo_user, backing off, until the database answers."""
    loop = asyncio.get_running_loop()
    delay = 1.0
    while not await loop.run_in_executor(None, seed_demo_user, users):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
    log.info("database ready: migrated, demo account present")


async def serve(config: Config) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, let in-flight requests finish, and return."""
    app = make_app(config)
    try:
        server = app.listen(config.port, config.host)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, error.strerror or error)
        raise SystemExit(1) from None
    manager: SessionManager = app.settings["session_manager"]
    sweeper = None
    if config.session_reap_interval > 0:
        sweeper = manager.start_sweeper(config.session_reap_interval)

    seeding = None
    if not app.settings["demo_user_seeded"]:
        seeding = asyncio.create_task(seed_until_done(app.settings["users"]))

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    log.info("listening on http://%s:%d (session backend: %s)", config.host, config.port, config.session_backend)
    log.info("database: %s", app.settings["database"].name)
    await stopping.wait()

    log.info("stopping: no new connections; waiting for %d request(s) in flight", app.settings["in_flight"].count)
    server.stop()
    if not await app.settings["in_flight"].wait_idle(DRAIN_TIMEOUT_SECONDS):
        log.warning("stopping with %d request(s) still in flight after %ds",
                    app.settings["in_flight"].count, DRAIN_TIMEOUT_SECONDS)
    if sweeper is not None:
        await sweeper.stop()
    if seeding is not None:
        seeding.cancel()
    await server.close_all_connections()
    await app.settings["session_store"].close()
    app.settings["password_hashing"].shutdown(wait=True)
    app.settings["database"].close()
    log.info("stopped")


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
