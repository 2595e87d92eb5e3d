"""A person's orders: the list and one order. An account sees its own orders; a guest sees the
orders their session placed (handlers/checkout.py keeps their ids in it). Anyone else's order is a 404."""

from __future__ import annotations

from tornado.httputil import url_concat

from handlers.base import BaseHandler
from handlers.checkout import show_settled_checkout
from handlers.errors import ShopError
from shop.checkout import guest_order_ids
from shop.orders import Order


class _OrdersBase(BaseHandler):
    def must_log_in(self) -> bool:
        """A visitor with neither an account nor a guest order of this session is sent to log in."""
        if self.current_user is None and not guest_order_ids(self.session):
            self.redirect(url_concat(self.get_login_url(), {"next": self.request.uri}))
            return True
        return False

    def guest_note(self) -> str:
        """What a guest is told about how long the session keeps their orders (it depends on the store)."""
        ttl = self.application.config.session_ttl
        lasting = f"{ttl // 3600} hour{'s' * (ttl // 3600 != 1)}" if ttl % 3600 == 0 else f"{ttl // 60} minutes"
        if self.application.config.session_backend == "memory":
            survives = "It ends if the shop restarts (this shop keeps sessions in memory)."
        else:
            survives = "It survives a restart of the shop."
        return (f"You checked out as a guest: this browser's session keeps your orders for {lasting} after "
                f"your last visit. {survives} With an account, your next orders are kept on every device.")


class OrdersHandler(_OrdersBase):
    async def get(self) -> None:
        if self.must_log_in() or await show_settled_checkout(self, database_next=True):
            return
        orders = await self.run_database("list orders", self._list)
        await self.render_page("orders.html", orders=orders,
                               guest_note=self.guest_note() if guest_order_ids(self.session) else None)

    def _list(self) -> list[Order]:
        orders = self.orders.list_for_guest(guest_order_ids(self.session))
        if self.current_user is not None:
            orders += self.orders.list_for_user(self.current_user["id"])
        return sorted(orders, key=lambda order: -order.id)


class OrderHandler(_OrdersBase):
    async def get(self, order_id: str) -> None:
        if self.must_log_in() or await show_settled_checkout(self, database_next=True):
            return
        order = await self.run_database("read order", self._find, order_id)
        if order is None:
            raise ShopError(404, "We could not find that order among yours."
                            + ("" if self.current_user else " If you placed it with an account, log in to see it."))
        await self.render_page("order.html", order=order,
                               guest_note=self.guest_note() if order.user_id is None else None)

    def _find(self, order_id: str) -> Order | None:
        if self.current_user is not None:
            order = self.orders.get_for_user(self.current_user["id"], order_id)
            if order is not None:
                return order
        return self.orders.get_for_guest(guest_order_ids(self.session), order_id)
