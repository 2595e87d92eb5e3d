"""The logged-in person's orders: the list and one order. Anyone else's order is a 404."""

from __future__ import annotations

import tornado.web
from tornado.ioloop import IOLoop

from handlers.base import BaseHandler, ShopError


class OrdersHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        orders = await IOLoop.current().run_in_executor(None, self.orders.list_for_user, self.current_user["id"])
        await self.render_page("orders.html", orders=orders)


class OrderHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, order_id: str) -> None:
        order = await IOLoop.current().run_in_executor(
            None, self.orders.get_for_user, self.current_user["id"], order_id
        )
        if order is None:
            raise ShopError(404, "We could not find that order among yours.")
        await self.render_page("order.html", order=order)
