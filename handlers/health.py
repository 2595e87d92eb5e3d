"""GET /healthz: 200 whenever this process can answer, naming the instance, the session backend and
the database engine, with whether the session store and the database answer. Touches no session.

It stays 200 when a store does not answer, so that an orchestrator does not kill healthy replicas
because Redis or PostgreSQL blinked: alert on `session_store` or `database` being "unavailable", and
on `session_store` being "full" (Redis at maxmemory, a full disk) or "read_only" (it answers and
serves reads, but refuses every change)."""

from __future__ import annotations

import asyncio
import os
import socket

from handlers.base import BaseHandler
from sessions import SessionStore, StoreFull, StoreUnavailable
from sessions.migration import MigratingStore

HOSTNAME = socket.gethostname()
class HealthHandler(BaseHandler):
    async def prepare(self) -> None:
        self.count_in_flight()  # and no session: a health check is nobody's visit

    async def get(self) -> None:
        session_store, database = await asyncio.gather(self._session_store_state(),
                                                       self.application.database_check.state())
        self.set_header("Cache-Control", "no-store")
        self.finish({
            "status": "ok",
            "session_backend": self.application.config.session_backend,
            "session_store": session_store,
            "database_engine": self.application.database.name,
            "database": database,
            "instance": {"hostname": HOSTNAME, "pid": os.getpid()},
            **migration_state(self.application.session_store),
        })

    async def _session_store_state(self) -> str:
        return await session_store_state(self.application.session_store)


def migration_state(store: SessionStore) -> dict:
    """With SESSION_MIGRATE_FROM: {"session_migration": {"from": backend, "moved": sessions this
    process moved}} (the fleet's count is on /metrics); {} without."""
    if not isinstance(store, MigratingStore):
        return {}
    return {"session_migration": {"from": store.previous.name, "moved": store.moved}}


async def session_store_state(store: SessionStore) -> str:
    """"ok" when the session store answers its ping; "full" or "read_only" when it answers but
    refuses writes; "unavailable" when it does not answer (for /healthz and /metrics)."""
    try:
        await store.ping()
    except StoreFull as error:
        return error.state
    except StoreUnavailable:
        return "unavailable"
    return "ok"
