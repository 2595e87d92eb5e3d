"""Pages through Jinja2: the environment (autoescape, the money filters), and Tornado's rendering
overridden so that `self.render()` keeps working with the shop's namespace (shop name, cart count,
categories, the XSRF field) merged into every template's context."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import tornado.iostream
import tornado.web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from handlers.parts import ShopParts
from shop import idempotency
from shop.cart import FREE_SHIPPING_FROM_CENTS
from shop.catalog import MAX_QUERY_LENGTH
from shop.money import format_cents, format_price

SHOP_NAME = "Tornado Trading Post"


def make_template_env(template_path: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(template_path),
        autoescape=select_autoescape(("html",), default=True),
        trim_blocks=True,
        # Templates ship with the code; checking their mtimes on every render is wasted work.
        auto_reload=False,
        lstrip_blocks=True,
    )
    env.filters["money"] = format_cents
    env.filters["price"] = format_price
    env.globals["free_shipping_from_cents"] = FREE_SHIPPING_FROM_CENTS
    env.globals["max_query_length"] = MAX_QUERY_LENGTH
    env.globals["idempotency_field"] = idempotency_field
    return env


def idempotency_field() -> Markup:
    """The hidden field of a form's one-time key (shop/idempotency.py): put in every form that
    changes the cart, once per form, so that a retried submit is applied at most once."""
    return Markup(f'<input type="hidden" name="idempotency_key" value="{idempotency.new_key()}">')


class Rendering(tornado.web.RequestHandler):
    """Pages, fragments and the template namespace; part of BaseHandler, whose other parts give
    load_session and cart (session_access) and take_flashes (flash)."""

    application: ShopParts

    def initialize(self) -> None:
        super().initialize()
        self._xsrf_field: Markup | None = None

    def wants_json(self) -> bool:
        """The JavaScript enhancement asks for JSON; forms without JavaScript get pages."""
        return (
            self.request.headers.get("X-Requested-With", "").lower() == "fetch"
            or "application/json" in self.request.headers.get("Accept", "")
        )

    async def render_page(self, template_name: str, *, status: int = 200, **context: Any) -> None:
        """Render a page with the flash messages waiting for this person, and any given in context."""
        await self.load_session()  # the header shows the person's cart and name
        messages = self.take_flashes() + list(context.pop("messages", []))
        self.set_status(status)
        try:
            await self.render(template_name, messages=messages, **context)
        except tornado.iostream.StreamClosedError:
            pass  # the browser went away before the page was sent: nothing to do, nothing to log

    def compute_etag(self) -> str | None:
        # Pages are per person and marked no-store: hashing every body for an ETag is wasted work.
        return None

    def render_string(self, template_name: str, **kwargs: Any) -> str:
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return self.application.template_env.get_template(template_name).render(namespace)

    def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str:
        # Static files do not change while the shop runs: build each versioned URL once, not once
        # per picture per page.
        if include_host is not None or kwargs:
            return super().static_url(path, include_host, **kwargs)
        urls = self.application.static_urls
        url = urls.get(path)
        if url is None:
            url = urls[path] = super().static_url(path)
        return url

    def page_xsrf_field(self) -> Markup:
        """The XSRF hidden field: the same for every form of the page (a cart page has one per line)."""
        if self._xsrf_field is None:
            # Tornado's helper returns HTML as a str; mark it so autoescape leaves it alone.
            self._xsrf_field = Markup(self.xsrf_form_html())
        return self._xsrf_field

    def render_fragment(self, template_name: str, key: Hashable | None, **context: Any) -> Markup:
        """A part of a page, kept under key once rendered (see handlers/fragments.py); key None:
        rendered afresh. The template sees context, static_url and xsrf_form_html."""
        context["static_url"] = self.static_url
        return self.application.fragments.render(template_name, key, context, self.page_xsrf_field)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(
            xsrf_form_html=self.page_xsrf_field,
            shop_name=SHOP_NAME,
            # Products since dropped from the catalog are left out, as on the cart page.
            cart_count=self.cart.count,
            categories=self.application.catalog.categories(),
            current_category=None,
            query="",
            messages=[],
        )
        return namespace
