"""One asyncio.Lock per key (a session id), for what must not interleave within one process:
SessionManager's changes of a session, and MigratingStore's (whose stores may not exclude by
themselves within a process, as the memory store does not)."""
from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator


class KeyedLocks:
    """One asyncio.Lock per session id, dropped again once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
