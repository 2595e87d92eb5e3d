"""MemoryStore: sessions in a dict inside this process. Fast, and gone when the process ends.

Each session is kept as its JSON text, so what comes back from `load` is a fresh copy and only what a
file or Redis store could keep is accepted: the stores stay interchangeable.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from typing import AsyncIterator

from .store import LockedSession, StoreSettings, StoreStats, check_session_id, short_id

log = logging.getLogger("sessions.memory")

# Sweeping walks every session; yielding to the event loop between chunks keeps requests flowing.
_SWEEP_CHUNK = 5_000


class MemoryStore:
    name = "memory"
    expires_by_itself = False

    def __init__(self, *, max_sessions: int = 100_000) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        # In the order of expiry (every write and roll moves a session to the end, and the manager
        # uses one ttl): when the cap is reached, the front, expired or closest to it, goes first.
        self._sessions: OrderedDict[str, tuple[float, str]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> MemoryStore:
        return cls(max_sessions=settings.max_sessions)

    async def load(self, session_id: str, *, extend_ttl: int | None = None) -> dict | None:
        check_session_id(session_id)
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        expires_at, payload = entry
        now = time.time()
        if expires_at <= now:
            del self._sessions[session_id]
            return None
        if extend_ttl is not None:
            self._sessions[session_id] = (now + extend_ttl, payload)
            # Only when the expiry moves: the order of the dict stays the order of expiry.
            self._sessions.move_to_end(session_id)
        return json.loads(payload)

    async def save(self, session_id: str, data: dict, ttl: int) -> None:
        check_session_id(session_id)
        self._put(session_id, data, ttl)

    def _put(self, session_id: str, data: dict, ttl: int) -> None:
        payload = json.dumps(data, separators=(",", ":"))
        if session_id not in self._sessions:
            self._make_room()
        self._sessions[session_id] = (time.time() + ttl, payload)
        self._sessions.move_to_end(session_id)

    async def destroy(self, session_id: str) -> None:
        check_session_id(session_id)
        self._sessions.pop(session_id, None)

    async def sweep_expired(self) -> int:
        now = time.time()
        removed = 0
        ids = list(self._sessions)
        for start in range(0, len(ids), _SWEEP_CHUNK):
            for session_id in ids[start:start + _SWEEP_CHUNK]:
                entry = self._sessions.get(session_id)
                if entry is not None and entry[0] <= now:
                    del self._sessions[session_id]
                    removed += 1
            await asyncio.sleep(0)
        return removed

    async def stats(self) -> StoreStats:
        now = time.time()
        live = expired = size = 0
        for expires_at, payload in self._sessions.values():
            size += len(payload)
            if expires_at <= now:
                expired += 1
            else:
                live += 1
        return StoreStats(backend=self.name, sessions=live, expired=expired, bytes=size)

    @contextlib.asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[LockedSession]:
        # Only this process can see the dict, and SessionManager already serialises a session
        # within the process, so there is nothing more to exclude.
        held = LockedSession(session_id, await self.load(session_id))
        yield held
        if held.pending_save is not None:
            self._put(session_id, *held.pending_save)
        elif held.pending_destroy:
            self._sessions.pop(session_id, None)

    async def ping(self) -> None:
        return None  # in this process: it answers whenever the process does

    async def close(self) -> None:
        self._sessions.clear()

    def _make_room(self) -> None:
        """Keep the number of sessions under the cap, so cookie-less traffic cannot exhaust memory:
        the session closest to expiring (or already expired) goes first."""
        now = time.time()
        while len(self._sessions) >= self.max_sessions:
            session_id, (expires_at, _) = self._sessions.popitem(last=False)
            if expires_at > now:
                log.warning("session store full (%d): evicted least recently used session %s",
                            self.max_sessions, short_id(session_id))
