"""GET /healthz: answers once the shop can serve, naming the session backend. Touches no session."""

from __future__ import annotations

from handlers.base import BaseHandler


class HealthHandler(BaseHandler):
    uses_session = False

    def get(self) -> None:
        self.finish({"status": "ok", "session_backend": self.settings["config"].session_backend})

