"""GET /healthz: 200 whenever this process can answer, naming the instance and the session backend,
with the session store's state in the body. Touches no session.

It stays 200 when the store does not answer, so that an orchestrator does not kill healthy replicas
because Redis blinked: alert on `session_store` being "unavailable" instead."""

from __future__ import annotations

import os
import socket

from handlers.base import BaseHandler
from sessions import StoreUnavailable

HOSTNAME = socket.gethostname()


class HealthHandler(BaseHandler):
    async def prepare(self) -> None:
        self.count_in_flight()  # and no session: a health check is nobody's visit

    async def get(self) -> None:
        try:
            await self.application.session_store.ping()
            session_store = "ok"
        except StoreUnavailable:
            session_store = "unavailable"
        self.set_header("Cache-Control", "no-store")
        self.finish({
            "status": "ok",
            "session_backend": self.application.config.session_backend,
            "session_store": session_store,
            "instance": {"hostname": HOSTNAME, "pid": os.getpid()},
        })
