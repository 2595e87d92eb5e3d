"""MemoryStore: sessions in a dict inside this process. Fast, and gone when the process ends.

Each session is kept as its JSON text, so what comes back from `load` is a fresh copy and only what a
file or Redis store could keep is accepted: the stores stay interchangeable.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import AsyncIterator, Callable

from . import codec
from .store import LockedSession, StoreSettings, StoreStats, check_owner, check_session_id, short_id

log = logging.getLogger("sessions.memory")

# Sweeping walks every session; yielding to the event loop between chunks keeps requests flowing.
_SWEEP_CHUNK = 5_000


class MemoryStore:
    name = "memory"
    expires_by_itself = False

    def __init__(self, *, max_sessions: int = 100_000, priority: Callable[[dict], int] | None = None) -> None:
        """priority(data) ranks how much a session matters (e.g. 2 with a login, 1 with only a cart,
        0 with neither): when the cap is reached, a session of a lower rank is evicted before any of
        a higher one, and within a rank the one closest to expiry goes first."""
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self._priority = priority or (lambda data: 0)
        # One class per rank, each in the order of expiry (every write and roll moves a session to
        # the end of its class, and the manager uses one ttl). Every id is in exactly one class.
        self._classes: dict[int, OrderedDict[str, tuple[float, str]]] = {}
        # The owner index: owner -> {session id: when the entry was written}.
        self._owners: dict[str, dict[str, float]] = {}

    def _class_of(self, session_id: str) -> OrderedDict[str, tuple[float, str]] | None:
        for sessions in self._classes.values():
            if session_id in sessions:
                return sessions
        return None

    def _entries(self):
        for sessions in self._classes.values():
            yield from sessions.items()

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> MemoryStore:
        return cls(max_sessions=settings.max_sessions, priority=settings.priority)

    async def load(self, session_id: str, *, extend_ttl: int | None = None) -> dict | None:
        check_session_id(session_id)
        sessions = self._class_of(session_id)
        if sessions is None:
            return None
        expires_at, payload = sessions[session_id]
        now = time.time()
        if expires_at <= now:
            del sessions[session_id]
            return None
        if extend_ttl is not None:
            sessions[session_id] = (now + extend_ttl, payload)
            # Only when the expiry moves: the order of the dict stays the order of expiry.
            sessions.move_to_end(session_id)
        return codec.decode(payload)

    async def save(self, session_id: str, data: dict, ttl: int) -> None:
        check_session_id(session_id)
        self._put(session_id, data, ttl)

    def _put(self, session_id: str, data: dict, ttl: int) -> None:
        # A copy of exact size: orjson hands back bytes carved from a larger buffer, and keeping
        # those would hold about ten times the session's size in the heap (4 KB per small cart).
        payload = codec.encode(data).decode()
        current = self._class_of(session_id)
        if current is None:
            self._make_room()
        target = self._classes.setdefault(self._priority(data), OrderedDict())
        if current is not None and current is not target:
            del current[session_id]
        target[session_id] = (time.time() + ttl, payload)
        target.move_to_end(session_id)

    async def destroy(self, session_id: str) -> None:
        check_session_id(session_id)
        self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        sessions = self._class_of(session_id)
        if sessions is not None:
            del sessions[session_id]

    async def sweep_expired(self) -> int:
        now = time.time()
        removed = 0
        for sessions in list(self._classes.values()):
            ids = list(sessions)
            for start in range(0, len(ids), _SWEEP_CHUNK):
                for session_id in ids[start:start + _SWEEP_CHUNK]:
                    entry = sessions.get(session_id)
                    if entry is not None and entry[0] <= now:
                        del sessions[session_id]
                        removed += 1
                await asyncio.sleep(0)
        return removed

    async def stats(self) -> StoreStats:
        now = time.time()
        live = expired = size = 0
        for _, (expires_at, payload) in self._entries():
            size += len(payload)
            if expires_at <= now:
                expired += 1
            else:
                live += 1
        return StoreStats(backend=self.name, sessions=live, expired=expired, bytes=size)

    async def expires_in(self, session_id: str) -> float | None:
        check_session_id(session_id)
        sessions = self._class_of(session_id)
        left = None if sessions is None else sessions[session_id][0] - time.time()
        return left if left is not None and left > 0 else None

    async def session_ids(self) -> AsyncIterator[str]:
        for session_id, _ in list(self._entries()):
            yield session_id

    @contextlib.asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[LockedSession]:
        # Only this process can see the dict, and SessionManager already serialises a session
        # within the process, so there is nothing more to exclude.
        held = LockedSession(session_id, await self.load(session_id))
        yield held
        if held.pending_save is not None:
            self._put(session_id, *held.pending_save)
        elif held.pending_destroy:
            self._forget(session_id)

    # -- the OwnerIndex protocol ----------------------------------------------------------------------

    async def add_owned(self, owner: str, session_id: str, ttl: int | None) -> None:
        check_owner(owner)
        check_session_id(session_id)
        entries = self._owners.setdefault(owner, {})
        # Entries of sessions evicted or expired meanwhile go now, so the index stays as small as
        # the store: nothing else here would ever drop an owner's entry that is never listed.
        for gone in [other for other in entries if self._class_of(other) is None]:
            del entries[gone]
        entries[session_id] = time.time()

    async def discard_owned(self, owner: str, session_ids: Iterable[str]) -> None:
        entries = self._owners.get(check_owner(owner), {})
        for session_id in session_ids:
            entries.pop(session_id, None)
        if not entries:
            self._owners.pop(owner, None)

    async def owned(self, owner: str) -> dict[str, float]:
        return dict(self._owners.get(check_owner(owner), {}))

    async def ping(self) -> None:
        return None  # in this process: it answers whenever the process does

    async def close(self) -> None:
        self._classes.clear()
        self._owners.clear()

    def _make_room(self) -> None:
        """Keep the number of sessions under the cap, so cookie-less traffic cannot exhaust memory.
        An expired session goes first, then the one closest to expiry of the lowest rank."""
        now = time.time()
        while sum(len(sessions) for sessions in self._classes.values()) >= self.max_sessions:
            ranked = sorted((rank, sessions) for rank, sessions in self._classes.items() if sessions)
            expired = next((sessions for _, sessions in ranked if next(iter(sessions.values()))[0] <= now), None)
            if expired is not None:
                expired.popitem(last=False)
                continue
            rank, victims = ranked[0]
            session_id, _ = victims.popitem(last=False)
            level = log.warning if rank > 0 else log.info
            level("session store full (%d): evicted session %s of rank %d, the closest to expiry",
                  self.max_sessions, short_id(session_id), rank)
