"""SessionManager: between a Tornado request and a SessionStore.

It maps the signed cookie to a session id (adopting only ids the store knows and has not expired),
creates sessions lazily, rolls the ttl on every request, regenerates ids on login, and makes every
change a locked load-change-save, so concurrent requests of one session never lose each other's updates.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import AsyncIterator, Protocol

from tornado.ioloop import PeriodicCallback

from .store import LockedSession, SessionStore, is_valid_session_id, new_session_id, short_id

log = logging.getLogger("sessions")


class CookieJar(Protocol):
    """The part of tornado.web.RequestHandler the manager uses."""

    def get_signed_cookie(self, name: str, value: str | None = None, max_age_days: float = 31,
                          min_version: int | None = None) -> bytes | None: ...

    def set_signed_cookie(self, name: str, value: str | bytes, expires_days: float | None = 30,
                          version: int | None = None, **kwargs: object) -> None: ...

    def clear_cookie(self, name: str, **kwargs: object) -> None: ...

    def get_cookie(self, name: str, default: str | None = None) -> str | None: ...


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
                 secure: bool = False) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.store = store
        self.ttl = ttl
        self.cookie_name = cookie_name
        self.secure = secure
        self._locks = _KeyedLocks()

    async def load(self, handler: CookieJar) -> Session:
        """The request's session as a snapshot, for reading: never locked, never saved. Rolls the
        ttl of a known session. Changes go through `transaction`."""
        session_id = self._session_id_from_cookie(handler)
        if session_id is None:
            return Session()
        data = await self.store.load(session_id, extend_ttl=self.ttl)
        if data is None:
            # Unknown or expired: never adopted. Dropping the cookie saves a lookup next time.
            handler.clear_cookie(self.cookie_name)
            return Session()
        if self._cookie_needs_refresh(handler):
            self._set_cookie(handler, session_id)
        return Session(data, session_id=session_id)

    @contextlib.asynccontextmanager
    async def transaction(self, handler: CookieJar) -> AsyncIterator[Session]:
        """Yield the session, freshly read under a lock that excludes every other request of this
        session in every process; on a clean exit save it if it changed (or regenerate or end it).
        When the block raises, nothing is saved."""
        session_id = self._session_id_from_cookie(handler)
        if session_id is None:
            session = Session()
            yield session
            await self._commit(handler, session, unchanged=_fingerprint({}))
            return
        async with self._locks.hold(session_id), self.store.locked(session_id) as held:
            session = Session(held.data, session_id=session_id if held.data is not None else None)
            before = _fingerprint(session)
            yield session
            await self._commit(handler, session, held, unchanged=before)

    async def _commit(self, handler: CookieJar, session: Session, held: LockedSession | None = None,
                      *, unchanged: str) -> None:
        """Decide what the end of a transaction writes. Changes to the held session are written
        by the store as it releases the lock; a new id is saved at once."""
        old_id = session.id
        if session.ended:
            if held is not None and old_id is not None:
                held.destroy()
                log.info("session %s ended", short_id(old_id))
            handler.clear_cookie(self.cookie_name)
            session.id = None
            return
        if old_id is None:
            if not session:
                return  # lazy: nothing written, nothing stored, no cookie
            session.id = new_session_id()
            await self.store.save(session.id, dict(session), self.ttl)
            self._set_cookie(handler, session.id)
            log.info("session %s created", short_id(session.id))
        elif session.regenerate_requested:
            # The new id is fresh and unknown to everyone, so it needs no lock of its own.
            session.id = new_session_id()
            await self.store.save(session.id, dict(session), self.ttl)
            held.destroy()
            self._set_cookie(handler, session.id)
            log.info("session %s regenerated as %s", short_id(old_id), short_id(session.id))
        elif _fingerprint(session) != unchanged:
            held.save(dict(session), self.ttl)
        session.regenerate_requested = False

    def start_sweeper(self, interval: float) -> "Sweeper":
        sweeper = Sweeper(self.store, interval)
        sweeper.start()
        return sweeper

    def _session_id_from_cookie(self, handler: CookieJar) -> str | None:
        # Tornado's signature carries a timestamp; refuse cookies older than the ttl allows.
        raw = handler.get_signed_cookie(self.cookie_name, max_age_days=self.ttl / 86400 + 1)
        if raw is None:
            return None
        try:
            session_id = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        return session_id if is_valid_session_id(session_id) else None

    def _cookie_needs_refresh(self, handler: CookieJar) -> bool:
        """Whether to send the cookie again so the browser's copy rolls with the server-side ttl.

        Signing and sending it on every request is measurable work for nothing: once a tenth of
        the ttl has passed since it was signed is often enough to keep it alive."""
        signed_at = _signed_at(handler.get_cookie(self.cookie_name))
        return signed_at is None or time.time() - signed_at > self.ttl / 10

    def _set_cookie(self, handler: CookieJar, session_id: str) -> None:
        handler.set_signed_cookie(self.cookie_name, session_id, expires_days=None, max_age=self.ttl,
                                  httponly=True, samesite="Lax", secure=self.secure)


def _signed_at(cookie: str | None) -> int | None:
    """When Tornado signed this cookie value (its v2 format: "2|1:0|10:<timestamp>|..."), or None."""
    try:
        version, _key_version, timestamp = cookie.split("|", 3)[:3]  # type: ignore[union-attr]
        return int(timestamp.split(":", 1)[1]) if version == "2" else None
    except (AttributeError, ValueError, IndexError):
        return None


def _fingerprint(data: dict) -> str:
    # Canonical JSON: tells "changed" from "unchanged", and rejects data a store could not keep
    # before anything is written.
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class Sweeper:
    """Deletes expired sessions every `interval` seconds. The store does the work off the event loop;
    this only schedules it and never runs two sweeps at once."""

    def __init__(self, store: SessionStore, interval: float) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.store = store
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
        except Exception:
            log.exception("session sweep failed")
            return 0
        log.info("session sweep: %d expired removed in %.3fs", removed, time.monotonic() - started)
        return removed
