"""GET /healthz: answers once the shop can serve, naming the session backend. Touches no session."""

from __future__ import annotations

from handlers.base import BaseHandler


class HealthHandler(BaseHandler):
    async def prepare(self) -> None:
        self.count_in_flight()  # and no session: a health check is nobody's visit

    def get(self) -> None:
        self.finish({"status": "ok", "session_backend": self.application.config.session_backend})

