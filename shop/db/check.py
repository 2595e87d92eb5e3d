"""Whether the database answers, for /healthz and /metrics: a ping on a thread of its own, bounded."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from shop.db.database import Database

# A health check answers within this, whatever the database does (Docker's check gives up at 4 s).
DATABASE_CHECK_SECONDS = 2.0


class DatabaseCheck:
    """Whether the database answers, asked on a thread of its own (the ping may wait for the
    database's timeout, and must not take a thread from checkouts); checks that arrive while one is
    running share its answer, so a storm of health checks during an outage is one ping at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")
        self._running: asyncio.Future | None = None

    async def state(self) -> str:
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().run_in_executor(self._pool, self._database.ping)
        try:
            answers = await asyncio.wait_for(asyncio.shield(self._running), DATABASE_CHECK_SECONDS)
        except asyncio.TimeoutError:
            return "unavailable"
        return "ok" if answers else "unavailable"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
