"""What the session manager does for sessions that belong to someone (an owner: the shop's user
id), through the store's OwnerIndex: an owner's live sessions with their metadata, ending one or
all but one, and the owner's record, a locked, expiring dict kept in the same store (the shop
keeps the account's cart there). SessionManager (manager.py) is an OwnerSessions.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import AsyncIterator

from . import codec
from .shapes import META_KEY
from .store import check_owner, derived_id, is_valid_session_id, short_id

log = logging.getLogger("sessions")

# What an owner record carries under META_KEY, so that a store's policy (the memory store's
# eviction ranking) can tell a record from a session by its data alone.
RECORD_META = {"record": True}
# An index entry whose session is missing is discarded only once older than this (seconds): the
# entry is written just before its session, which may still be on its way.
INDEX_GRACE = 300


@dataclass(frozen=True)
class SessionInfo:
    """One live session of an owner, as `owner_sessions` lists it. Times are Unix seconds."""

    session_id: str
    created: float  # when the session was first stored
    owned_since: float  # when it got its owner (the absolute lifetime counts from here)
    last_seen: float  # the last request, to within LAST_SEEN_RESOLUTION
    user_agent: str
    address: str


class OwnerSessions:
    """The owner operations of SessionManager (its store, index, locks and shapes)."""

    async def owner_sessions(self, owner: str) -> list[SessionInfo]:
        """owner's live sessions, the most recently owned first: each index entry is checked against
        its session (live, this owner, inside its absolute lifetime); entries that no longer hold
        are discarded (those of missing sessions once older than INDEX_GRACE)."""
        entries = await self.index.owned(owner)
        ids = list(entries)
        found = await asyncio.gather(*(self.store.load(session_id) for session_id in ids))
        now = time.time()
        live: list[SessionInfo] = []
        stale: list[str] = []
        for session_id, data in zip(ids, found):
            meta = self._meta_of(data)
            if isinstance(meta, dict) and meta.get("owner") == owner and not self._past_max_age(meta, now):
                live.append(_info(session_id, meta))
            elif data is not None or now - entries[session_id] > INDEX_GRACE:
                stale.append(session_id)
        if stale:
            await self.index.discard_owned(owner, stale)
        return sorted(live, key=lambda info: info.owned_since, reverse=True)

    async def end_session(self, owner: str, session_id: str) -> bool:
        """End one session of owner's (from any process: its next request finds no session).
        False, and nothing changed, when session_id is not a live session of owner's."""
        check_owner(owner)
        if not is_valid_session_id(session_id):
            return False
        async with self._held(session_id) as held:
            meta = self._meta_of(held.data)
            if not (isinstance(meta, dict) and meta.get("owner") == owner):
                return False
            held.destroy()
        await self.index.discard_owned(owner, [session_id])
        log.info("session %s ended by its owner", short_id(session_id))
        return True

    async def end_owner_sessions(self, owner: str, *, keep: str | None = None) -> int:
        """End every session of owner's but keep (an id, or None for all); how many were ended."""
        ended = 0
        for info in await self.owner_sessions(owner):
            if info.session_id != keep and await self.end_session(owner, info.session_id):
                ended += 1
        return ended

    async def load_owner_record(self, owner: str, *, extend_ttl: int | None = None) -> dict:
        """owner's record as a snapshot ({} when there is none or it expired); with extend_ttl,
        its expiry is rolled to now + extend_ttl."""
        data = await self.store.load(owner_record_id(owner), extend_ttl=extend_ttl)
        return _record_of(self._upgraded(data))

    @contextlib.asynccontextmanager
    async def owner_record(self, owner: str, *, ttl: int) -> AsyncIterator[dict]:
        """owner's record (a dict of JSON values, {} when new), locked across every process that
        shares the store; saved with an expiry ttl seconds ahead when the block ends cleanly (and
        changed), deleted when left empty. When the block raises, nothing is saved. An upgrade of
        its shape is written with its next change; its metadata is kept as it was stored."""
        record_id = owner_record_id(owner)
        async with self._held(record_id) as held:
            stored = self._upgraded(held.data)
            record = _record_of(stored)
            before = _fingerprint(record)
            yield record
            if _fingerprint(record) != before:
                if record:
                    meta = stored.get(META_KEY) if stored is not None else None
                    meta = {**(meta if isinstance(meta, dict) else {}), **RECORD_META}
                    held.save({**record, META_KEY: self.shapes.stamp(meta)}, ttl)
                else:
                    held.destroy()


def _record_of(data: dict | None) -> dict:
    """An owner record as its user sees it: the stored data without the manager's marker."""
    return {key: value for key, value in (data or {}).items() if key != META_KEY}


def owner_record_id(owner: str) -> str:
    """The id under which owner's record is kept: derived from the owner, so every process finds it."""
    return derived_id("owner-record", check_owner(owner))


def _info(session_id: str, meta: dict) -> SessionInfo:
    return SessionInfo(session_id=session_id, created=number_in(meta.get("created")),
                       owned_since=number_in(meta.get("owned_since")), last_seen=number_in(meta.get("seen")),
                       user_agent=str(meta.get("agent") or ""), address=str(meta.get("address") or ""))


def number_in(value: object) -> float:
    """A number of the metadata as a float; 0.0 for anything else (a session written by hand, or
    by a release that did not have the field)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _fingerprint(data: dict) -> bytes:
    return codec.fingerprint([data, {}])
