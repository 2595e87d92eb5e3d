"""ShopApplication: the shop's routes over its parts (handlers/assembly.py), which handlers reach as
`self.application.<part>`; and create_app(config), the one way to build it."""

from __future__ import annotations

import tornado.web

from config import Config
from handlers.account import (
    AccountHandler, ChangePasswordHandler, EndOtherSessionsHandler, EndSessionHandler, PasswordStrengthHandler,
)
from handlers.assembly import ROOT, Parts, assemble, cookie_name
from handlers.auth import LoginHandler, LogoutHandler, RegisterHandler
from handlers.base import NotFoundHandler
from handlers.cart import CartAddHandler, CartApiHandler, CartHandler, CartRemoveHandler, CartUpdateHandler
from handlers.catalog import CatalogHandler, ProductHandler
from handlers.checkout import CheckoutHandler
from handlers.compression import FastGzip
from handlers.health import HealthHandler
from handlers.logs import RequestIdHeader, log_access
from handlers.metrics import UNMATCHED_ROUTE, route_names
from handlers.orders import OrderHandler, OrdersHandler
from handlers.proxies import request_client_address
from handlers.static import StaticFiles

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


# A request slower than this is logged even when ACCESS_LOG=errors.
SLOW_REQUEST_SECONDS = 0.5
# What Parts changes while the shop runs: read there, not copied.
_STATE = ("database_ready", "sweeper", "_seeding")


def create_app(config: Config) -> ShopApplication:
    """The shop for config: its parts assembled, its routes over them."""
    return ShopApplication(assemble(config, route_names([*ROUTES, (r"/static/(.*)", StaticFiles)])), ROUTES)


class ShopApplication(tornado.web.Application):
    """The shop: its routes, and its parts, which handlers reach as `self.application.<part>`
    (typed for them by handlers/parts.py's ShopParts)."""

    def __init__(self, parts: Parts, routes: list) -> None:
        self.parts = parts
        # Each part an attribute of its own: a handler's `self.application.sessions` is one lookup.
        # (The parts' own running state, the sweeper and the database's readiness, stays in parts.)
        vars(self).update({name: getattr(parts, name) for name in Parts.__dataclass_fields__ if name not in _STATE})
        config = parts.config
        super().__init__(
            routes,
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
        """See handlers/assembly.py: cookie_name."""
        return cookie_name(self.config, name)

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """The access log: by default only what an operator acts on (4xx, 5xx, slow requests).
        A line for every request cost the memory store 13% of its throughput, and where the shop
        sits behind nginx, nginx keeps the full log anyway. ACCESS_LOG=all logs every request."""
        self.metrics.request(handler)
        if (self.config.access_log == "all" or handler.get_status() >= 400
                or handler.request.request_time() >= SLOW_REQUEST_SECONDS):
            log_access(handler, request_client_address(handler.request, self.config.limits.trusted_proxies),
                       self.route_names.get(type(handler), UNMATCHED_ROUTE))

    def start_sweeper(self) -> None:
        self.parts.start_sweeper()

    def start_database_seeding(self) -> None:
        self.parts.start_database_seeding()

    async def close(self) -> None:
        await self.parts.close()
