"""Moving sessions from one store to another while the shop serves: a switch of store that logs
nobody out.

`transfer` moves (or copies) one session under both stores' locks, the old store's first, so two
processes racing for one session move it once: written to the new store with the life it has left
(its absolute lifetime travels in its metadata) and its owner-index entry, then deleted from the
old. `MigratingStore` is a SessionStore over the new store that looks a session up in the old one
when the new one does not have it, and moves it there and then (connect-migration-store's
read-through, with a move instead of a copy, so a session is never live in both). `python -m
sessions copy` (sessions/copy.py) moves or copies them all at once.

A session the new store has costs nothing more than before; one the new store misses costs a read
of the old one (and, when it is there, the move).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import AsyncIterator

from .events import NO_EVENTS, SessionEvents
from .keyed_locks import KeyedLocks
from .store import LockedSession, OwnerIndex, SessionStore, StoreStats, short_id

log = logging.getLogger("sessions.migration")

# What transfer() found: the session moved (or copied); it was not in the old store (unknown,
# expired, or moved already by someone else); the new store had it already (left as it is there).
MOVED, MISSING, PRESENT = "moved", "missing", "present"
# Every write of a session sets its expiry to the write's time plus its ttl, and a copy keeps the
# expiry it had, so of two copies the one that expires later was written later. Within this
# (seconds: the time between reading an expiry and writing the copy) they count as the same.
SAME_EXPIRY = 0.05
# The key of the manager's metadata in a stored session (sessions.manager.META_KEY), read here
# for the owner; kept as a plain string so that this module does not import the manager.
_META_KEY = "_meta"


async def transfer(source: SessionStore, target: SessionStore, session_id: str, *, delete: bool,
                   owner_ttl: int | None = None) -> str:
    """Copy one session from source to target, and with delete, remove it from source: MOVED,
    MISSING or PRESENT (see above). Under source's lock, then target's, so that nothing changes the
    session in either meanwhile and two processes moving it at once move it once. The copy keeps
    the expiry the session has in source (to the millisecond). When target has the session already,
    the one written later wins (see SAME_EXPIRY): target's when the shop writes there (a change
    made since a copy is never overwritten by the older one), source's when the shop wrote there
    after an earlier copy (then it is copied again, MOVED). With delete, source's goes either way.

    The owner's entry (target's OwnerIndex, kept for owner_ttl seconds) is written before the
    session, as the manager does. Once it holds target's lock it looks at source again: a session
    the shop changed or ended in target meanwhile had its source copy deleted first (see
    MigratingStore.locked), and is left alone. A crash between the write to target and the delete from source
    leaves an old copy in source that is never read again (target is asked first); it expires
    there, or the next copy or move deletes it. StoreUnavailable from either store: nothing is
    deleted from source."""
    async with source.locked(session_id) as old:
        if old.data is None:
            return MISSING
        left = await source.expires_in(session_id)
        if left is None:
            return MISSING  # expired between the read and now
        async with target.locked(session_id) as new:
            if await source.expires_in(session_id) is None:
                # Deleted while we waited for target's lock: by the shop, changing (or ending) the
                # session in target, which deletes the old copy before it lets that lock go.
                return MISSING
            outcome = MOVED
            if new.data is not None:
                target_left = await target.expires_in(session_id)
                if target_left is not None and left <= target_left + SAME_EXPIRY:
                    outcome = PRESENT
            if outcome == MOVED:
                owner = _owner_of(old.data)
                if owner is not None and isinstance(target, OwnerIndex):
                    await target.add_owned(owner, session_id, owner_ttl)
                new.save(old.data, left)  # seconds, a float: the expiry it had, not a whole second later
        if delete:
            old.destroy()
    return outcome


def _owner_of(data: dict) -> str | None:
    meta = data.get(_META_KEY)
    owner = meta.get("owner") if isinstance(meta, dict) else None
    return owner if isinstance(owner, str) and owner else None


class MigratingStore:
    """The new store, falling back on the old one for the sessions it does not have yet; each such
    session is moved on its first request (see transfer). Every write goes to the new store; a
    delete goes to both. `moved` counts the sessions this process moved."""

    def __init__(self, current: SessionStore, previous: SessionStore, *, owner_ttl: int | None = None,
                 events: SessionEvents = NO_EVENTS) -> None:
        self.current = current
        self.previous = previous
        self.name = current.name
        # The old store may be one that needs sweeping (a file store left for Redis).
        self.expires_by_itself = current.expires_by_itself and previous.expires_by_itself
        self.owner_ttl = owner_ttl
        self.events = events
        self.moved = 0
        self._locks = KeyedLocks()

    async def load(self, session_id: str, *, extend_ttl: int | None = None) -> dict | None:
        data = await self.current.load(session_id, extend_ttl=extend_ttl)
        if data is None and await self._move(session_id):
            data = await self.current.load(session_id, extend_ttl=extend_ttl)
        return data

    async def save(self, session_id: str, data: dict, ttl: int) -> None:
        # Only fresh ids are saved without a lock (new sessions, "moved" markers): none is in the old store.
        await self.current.save(session_id, data, ttl)

    async def destroy(self, session_id: str) -> None:
        # The old store's copy first: a transfer() under way then finds it gone, or has written
        # the new store before the delete there.
        await self.previous.destroy(session_id)
        await self.current.destroy(session_id)

    async def expires_in(self, session_id: str) -> float | None:
        left = await self.current.expires_in(session_id)
        return left if left is not None else await self.previous.expires_in(session_id)

    async def session_ids(self) -> AsyncIterator[str]:
        async for session_id in self.current.session_ids():
            yield session_id

    async def sweep_expired(self) -> int:
        return await self.current.sweep_expired() + await self.previous.sweep_expired()

    async def stats(self) -> StoreStats:
        return await self.current.stats()

    @contextlib.asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[LockedSession]:
        """The new store's lock. When the new store does not have the session and the old one
        does, the new lock is let go (nothing written), the session moved (old lock first, as
        transfer takes them), and the new lock taken again. A change to a session the new store
        had already deletes any copy the old store still holds, before it is made. Within this
        process, one holder at a time as well: that delete waits between the block and the
        write, which a store that excludes nobody within a process (memory) must not interleave."""
        async with self._locks.hold(session_id), self._locked_in_stores(session_id) as held:
            yield held

    @contextlib.asynccontextmanager
    async def _locked_in_stores(self, session_id: str) -> AsyncIterator[LockedSession]:
        locked = self.current.locked(session_id)
        held = await locked.__aenter__()
        # A session the new store had before this lock may still have a copy in the old one (a
        # `copy` without --move, or a crash in the middle of a move).
        copy_left = held.data is not None
        if held.data is None:
            try:
                in_previous = await self.previous.load(session_id) is not None
            except BaseException as error:
                await locked.__aexit__(type(error), error, error.__traceback__)
                raise
            if in_previous:
                await locked.__aexit__(None, None, None)  # nothing pending: releases, writes nothing
                await self._move(session_id, known=True)
                locked = self.current.locked(session_id)
                held = await locked.__aenter__()
        try:
            yield held
            if copy_left and (held.pending_save is not None or held.pending_destroy):
                # Before the change is made: a later copy or move would bring that older copy back
                # over it (a session logged out or ended, a cart as it was). transfer() looks again
                # once it holds the new store's lock, so one waiting for this lock copies nothing.
                await self.previous.destroy(session_id)
        except BaseException as error:
            if not await locked.__aexit__(type(error), error, error.__traceback__):
                raise
        else:
            await locked.__aexit__(None, None, None)

    async def ping(self) -> None:
        await self.current.ping()

    async def close(self) -> None:
        try:
            await self.current.close()
        finally:
            await self.previous.close()

    # -- the OwnerIndex protocol: written in the new store, read from both -------------------------

    async def add_owned(self, owner: str, session_id: str, ttl: int | None) -> None:
        await self._index(self.current).add_owned(owner, session_id, ttl)

    async def discard_owned(self, owner: str, session_ids: Iterable[str]) -> None:
        ids = list(session_ids)
        await self._index(self.current).discard_owned(owner, ids)
        if isinstance(self.previous, OwnerIndex):
            await self.previous.discard_owned(owner, ids)

    async def owned(self, owner: str) -> dict[str, float]:
        """Both stores' entries: a session not moved yet is listed from the old store's index (and
        moved when the manager reads it to check the entry)."""
        entries = await self.previous.owned(owner) if isinstance(self.previous, OwnerIndex) else {}
        return {**entries, **await self._index(self.current).owned(owner)}

    # -- helpers -------------------------------------------------------------------------------------

    async def _move(self, session_id: str, *, known: bool = False) -> bool:
        """Move the session from the old store if it is there; True when the new store has it now.
        Without `known`, the old store is read first without a lock: most misses are ids that
        neither store has (a session expired long ago), and a read is cheaper than a lock."""
        if not known and await self.previous.load(session_id) is None:
            return False
        outcome = await transfer(self.previous, self.current, session_id, delete=True, owner_ttl=self.owner_ttl)
        if outcome == MOVED:
            self.moved += 1
            self.events.session("migrated")
            log.info("session %s moved from the %s store", short_id(session_id), self.previous.name)
        return outcome != MISSING or await self.current.load(session_id) is not None

    @staticmethod
    def _index(store: SessionStore) -> OwnerIndex:
        if not isinstance(store, OwnerIndex):
            raise TypeError(f"the {store.name} store offers no owner index")
        return store
