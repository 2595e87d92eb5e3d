"""SessionManager: between a Tornado request and a SessionStore.

It maps the signed cookie to a session id (adopting only ids the store knows and has not expired),
creates sessions lazily, rolls the ttl on every request, regenerates ids on login, and makes every
change a locked load-change-save, so concurrent requests of one session never lose each other's updates.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
from typing import AsyncIterator, Protocol

from tornado.ioloop import PeriodicCallback

from .events import NO_EVENTS, SessionEvents
from .store import LockedSession, SessionStore, StoreUnavailable, is_valid_session_id, new_session_id, short_id

log = logging.getLogger("sessions")

# Browsers keep a cookie at most 400 days (RFC 6265bis); the session behind it usually ends sooner.
COOKIE_MAX_AGE_DAYS = 400
# How long a request still carrying a regenerated session's old id is told so, rather than
# given a new session: long enough for the requests a person had in flight in other tabs.
MOVED_MARKER_TTL = 120


class SessionMoved(Exception):
    """The request's session id was replaced by a login in another request. Nothing was changed;
    the person's browser already holds (or is about to receive) the new id."""


class CookieJar(Protocol):
    """The part of tornado.web.RequestHandler the manager uses."""

    def get_signed_cookie(self, name: str, value: str | None = None, max_age_days: float = 31,
                          min_version: int | None = None) -> bytes | None: ...

    def set_signed_cookie(self, name: str, value: str | bytes, expires_days: float | None = 30,
                          version: int | None = None, **kwargs: object) -> None: ...

    def clear_cookie(self, name: str, **kwargs: object) -> None: ...


class Session(dict):
    """A session's data (a plain dict of JSON values) and its id; id is None until it is stored."""

    def __init__(self, data: dict | None = None, *, session_id: str | None = None) -> None:
        super().__init__(data or {})
        self.id = session_id
        self.regenerate_requested = False
        self.ended = False

    def regenerate_id(self) -> None:
        """At the end of the transaction, move the data to a new id and destroy the old one
        (call it on login, against session fixation)."""
        self.regenerate_requested = True

    def end(self) -> None:
        """At the end of the transaction, destroy the session and clear its cookie (logout)."""
        self.clear()
        self.ended = True


class _KeyedLocks:
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


class SessionManager:
    def __init__(self, store: SessionStore, *, ttl: int, cookie_name: str = "session",
                 secure: bool = False, events: SessionEvents = NO_EVENTS) -> None:
        """events: told of every store call, failure, lock wait and session event (sessions.events)."""
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.store = store
        self.events = events
        self.ttl = ttl
        self.cookie_name = cookie_name
        self.secure = secure
        self._locks = _KeyedLocks()

    async def load(self, handler: CookieJar) -> Session:
        """The request's session as a snapshot, for reading: never locked, never saved. Rolls the
        ttl of a known session. Changes go through `transaction`.

        It never sets or clears the cookie: a slow read answered after a login in another tab
        must not overwrite the browser's newer cookie."""
        session_id = self._session_id_from_cookie(handler)
        if session_id is None:
            return Session()
        started = time.monotonic()
        try:
            data = await self.store.load(session_id, extend_ttl=self.ttl)
        except StoreUnavailable as error:
            self.events.store_failure(self.store.name, "read", error.kind)
            raise
        finally:
            self.events.store_call(self.store.name, "read", time.monotonic() - started)
        if data is None:
            self.events.session("expired")
            return Session()  # unknown or expired: never adopted
        return Session(data, session_id=session_id)

    @contextlib.asynccontextmanager
    async def transaction(self, handler: CookieJar) -> AsyncIterator[Session]:
        """Yield the session, freshly read under a lock that excludes every other request of this
        session in every process; on a clean exit save it if it changed (or regenerate or end it).
        When the block raises, nothing is saved.

        Raises SessionMoved, before the block runs, for an id that a login replaced moments ago."""
        session_id = self._session_id_from_cookie(handler)
        if session_id is None:
            session = Session()
            yield session
            await self._commit(handler, session, before=_fingerprint({}))
            return
        waiting = time.monotonic()
        async with self._locks.hold(session_id), self._observed_lock(session_id, waiting) as held:
            if held.data is None and await self.store.load(_moved_marker(session_id)) is not None:
                # Starting a new session here would send its cookie over the login's newer one.
                raise SessionMoved(f"session {short_id(session_id)} was replaced by a newer one")
            session = Session(held.data, session_id=session_id if held.data is not None else None)
            before = _fingerprint(session)
            yield session
            await self._commit(handler, session, held, before=before)

    @contextlib.asynccontextmanager
    async def _observed_lock(self, session_id: str, waiting: float) -> AsyncIterator[LockedSession]:
        """store.locked(session_id), telling the events how long the change waited for its lock
        since `waiting` (time.monotonic(); this process's lock included) and how long the store's
        part of the change took: taking the lock and reading, then writing and releasing."""
        backend = self.store.name
        started = time.monotonic()
        locked = self.store.locked(session_id)
        try:
            held = await locked.__aenter__()
        except StoreUnavailable as error:
            self.events.store_failure(backend, "change", error.kind)
            self.events.store_call(backend, "change", time.monotonic() - started)
            raise
        locked_at = time.monotonic()
        store_seconds = locked_at - started
        self.events.lock_wait(backend, locked_at - waiting)
        try:
            yield held
        except BaseException as error:
            if not await locked.__aexit__(type(error), error, error.__traceback__):
                raise
        else:
            released = time.monotonic()
            try:
                await locked.__aexit__(None, None, None)
            except StoreUnavailable as failure:
                self.events.store_failure(backend, "change", failure.kind)
                raise
            finally:
                self.events.store_call(backend, "change", store_seconds + time.monotonic() - released)

    async def _save_new(self, session_id: str, data: dict) -> None:
        """Store a session under a new id (no lock needed: nobody else knows the id)."""
        started = time.monotonic()
        try:
            await self.store.save(session_id, data, self.ttl)
        except StoreUnavailable as error:
            self.events.store_failure(self.store.name, "change", error.kind)
            raise
        finally:
            self.events.store_call(self.store.name, "change", time.monotonic() - started)

    async def _commit(self, handler: CookieJar, session: Session, held: LockedSession | None = None,
                      *, before: str) -> None:
        """Decide what the end of a transaction writes. Changes to the held session are written
        by the store as it releases the lock; a new id is saved at once."""
        old_id = session.id
        if session.ended:
            if held is not None and old_id is not None:
                held.destroy()
                self.events.session("ended")
                log.info("session %s ended", short_id(old_id))
            handler.clear_cookie(self.cookie_name)
            session.id = None
            return
        if old_id is None:
            if not session:
                return  # lazy: nothing written, nothing stored, no cookie
            session.id = new_session_id()
            await self._save_new(session.id, dict(session))
            self._set_cookie(handler, session.id)
            self.events.session("created")
            log.info("session %s created", short_id(session.id))
        elif session.regenerate_requested:
            # The new id is fresh and unknown to everyone, so it needs no lock of its own.
            session.id = new_session_id()
            await self._save_new(session.id, dict(session))
            # The old id goes; a marker under another id says, for a while, that it moved, so a
            # request of another tab still carrying it is refused instead of starting a session.
            await self.store.save(_moved_marker(old_id), {"moved": True}, MOVED_MARKER_TTL)
            held.destroy()
            self._set_cookie(handler, session.id)
            self.events.session("regenerated")
            log.info("session %s regenerated as %s", short_id(old_id), short_id(session.id))
        elif _fingerprint(session) != before:
            held.save(dict(session), self.ttl)
        session.regenerate_requested = False

    def start_sweeper(self, interval: float) -> "Sweeper":
        sweeper = Sweeper(self.store, interval, events=self.events)
        sweeper.start()
        return sweeper

    def _session_id_from_cookie(self, handler: CookieJar) -> str | None:
        raw = handler.get_signed_cookie(self.cookie_name, max_age_days=COOKIE_MAX_AGE_DAYS)
        if raw is None:
            return None
        try:
            session_id = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        return session_id if is_valid_session_id(session_id) else None

    def _set_cookie(self, handler: CookieJar, session_id: str) -> None:
        # Sent only when the id is new. The cookie only points at the session; the store's rolling
        # ttl decides how long the session lives, so the cookie may outlive it harmlessly.
        handler.set_signed_cookie(self.cookie_name, session_id, expires_days=None,
                                  max_age=COOKIE_MAX_AGE_DAYS * 86400,
                                  httponly=True, samesite="Lax", secure=self.secure)


def _moved_marker(session_id: str) -> str:
    """The id under which a regenerated session leaves its "moved" marker: derived, so anyone
    holding the old id can look it up, and not the old id itself, which is gone from the store."""
    digest = hashlib.sha256(b"sessions.moved:" + session_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _fingerprint(data: dict) -> str:
    # Canonical JSON: tells "changed" from "unchanged", and rejects data a store could not keep
    # before anything is written.
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class Sweeper:
    """Deletes expired sessions every `interval` seconds. The store does the work off the event loop;
    this only schedules it and never runs two sweeps at once."""

    def __init__(self, store: SessionStore, interval: float, *, events: SessionEvents = NO_EVENTS) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.store = store
        self.events = events
        self.interval = interval
        self._callback = PeriodicCallback(self._tick, interval * 1000)
        self._running: asyncio.Task | None = None

    def start(self) -> None:
        self._callback.start()

    async def stop(self) -> None:
        """Stop sweeping; a sweep already running is let finish (it only deletes expired files)."""
        self._callback.stop()
        if self._running is not None:
            await self._running

    def _tick(self) -> None:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self.sweep_once())

    async def sweep_once(self) -> int:
        started = time.monotonic()
        try:
            removed = await self.store.sweep_expired()
        except Exception as error:
            self.events.store_failure(self.store.name, "sweep", getattr(error, "kind", "unavailable"))
            log.exception("session sweep failed")
            return 0
        finally:
            self.events.store_call(self.store.name, "sweep", time.monotonic() - started)
        self.events.session("swept", removed)
        log.info("session sweep: %d expired removed in %.3fs", removed, time.monotonic() - started)
        return removed
