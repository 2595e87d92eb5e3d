"""SessionManager: between a Tornado request and a SessionStore.

It maps the signed cookie to a session id (adopting only ids the store knows and has not expired),
creates sessions lazily, rolls the ttl on every request, regenerates ids on login, and makes every
change a locked load-change-save, so concurrent requests of one session never lose each other's updates.

Sessions that belong to someone: a session may carry an opaque owner (`Session.set_owner`); with a
store that offers the OwnerIndex, the manager lists an owner's live sessions with their metadata
(`owner_sessions`), ends one or all but one, and keeps a locked, expiring record per owner
(`owner_record`) in the same store. An owned session ends `max_age` seconds after it got its owner,
whatever its activity (an absolute lifetime, OWASP ASVS 3.3.2).

Sessions with a version (sessions.shapes): every save writes the shape's number in the metadata;
every read runs the application's upgrade steps on an older shape, and keeps whatever it does not
know (keys of a newer release in the data and the metadata, and a newer shape's number). A read
whose upgrade changed the session writes it back at once, under its lock (an owner it gained
indexed first); one that only numbered it leaves that to the session's next write.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, AsyncIterator, Callable, Protocol

from . import codec
from .events import NO_EVENTS, SessionEvents, observed_call
from .keyed_locks import KeyedLocks
from .owners import OwnerSessions, number_in
from .shapes import META_KEY, NO_SHAPES, SessionShapes
from .sweeper import Sweeper
from .store import (
    LockedSession, OwnerIndex, SessionStore, StoreUnavailable, check_owner, derived_id, is_valid_session_id,
    new_session_id, short_id,
)

log = logging.getLogger("sessions")

# Browsers keep a cookie at most 400 days (RFC 6265bis); the session behind it usually ends sooner.
COOKIE_MAX_AGE_DAYS = 400
# How long a request still carrying a regenerated session's old id is told so, rather than
# given a new session: long enough for the requests a person had in flight in other tabs.
MOVED_MARKER_TTL = 120
# An owned session's "last seen" is written at most this often (seconds), not on every request.
LAST_SEEN_RESOLUTION = 60
MAX_USER_AGENT_LENGTH = 512


class SessionMoved(Exception):
    """The request's session id was replaced by a login in another request. Nothing was changed;
    the person's browser already holds (or is about to receive) the new id."""


class CookieJar(Protocol):
    """The part of tornado.web.RequestHandler the manager uses (and `request`, for the metadata)."""

    def get_signed_cookie(self, name: str, value: str | None = None, max_age_days: float = 31,
                          min_version: int | None = None) -> bytes | None: ...

    def set_signed_cookie(self, name: str, value: str | bytes, expires_days: float | None = 30,
                          version: int | None = None, **kwargs: object) -> None: ...

    def clear_cookie(self, name: str, **kwargs: object) -> None: ...


class Session(dict):
    """A session's data (a plain dict of JSON values) and its id; id is None until it is stored."""

    def __init__(self, data: dict | None = None, *, session_id: str | None = None,
                 meta: dict | None = None) -> None:
        super().__init__(data or {})
        self.id = session_id
        # The manager's metadata (created, last seen, user agent, address, owner, owned since),
        # kept beside the data under META_KEY in the store.
        self.meta: dict[str, Any] = dict(meta or {})
        self.regenerate_requested = False
        self.ended = False

    @property
    def owner(self) -> str | None:
        """Who the session belongs to (an opaque string), or None."""
        owner = self.meta.get("owner")
        return owner if isinstance(owner, str) else None

    def set_owner(self, owner: str) -> None:
        """Give the session an owner (on login, with regenerate_id): it is listed in the owner's
        sessions from the end of the transaction, and ends max_age seconds from now."""
        check_owner(owner)
        now = time.time()
        self.meta.update(owner=owner, owned_since=now, seen=now)

    def regenerate_id(self) -> None:
        """At the end of the transaction, move the data to a new id and destroy the old one
        (call it on login, against session fixation)."""
        self.regenerate_requested = True

    def end(self) -> None:
        """At the end of the transaction, destroy the session and clear its cookie (logout)."""
        self.clear()
        self.ended = True


class SessionManager(OwnerSessions):
    def __init__(self, store: SessionStore, *, ttl: int, cookie_name: str = "session",
                 secure: bool = False, max_age: int | None = None,
                 client: Callable[[Any], tuple[str, str]] | None = None,
                 events: SessionEvents = NO_EVENTS, shapes: SessionShapes = NO_SHAPES) -> None:
        """ttl: seconds a session lives after its last request. max_age: seconds an owned session
        lives after it got its owner, whatever its activity (None: no absolute lifetime).
        client(handler) -> (user agent, address) for the metadata; by default the request's
        User-Agent header and remote_ip (an app behind proxies passes its own). events: told of
        every store call, failure, lock wait and session event (sessions.events). shapes: the
        application's session shapes and the steps between them (sessions.shapes)."""
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be positive")
        self.store = store
        self.events = events
        self.shapes = shapes
        self.ttl = ttl
        self.max_age = max_age
        self.cookie_name = cookie_name
        self.secure = secure
        self._client = client or _request_client
        self._locks = KeyedLocks()

    @property
    def index(self) -> OwnerIndex:
        """The store's owner index; TypeError when the store offers none."""
        if not isinstance(self.store, OwnerIndex):
            raise TypeError(f"the {self.store.name} store offers no owner index")
        return self.store

    async def load(self, handler: CookieJar, *, read_only: bool = False) -> Session:
        """The request's session as a snapshot, for reading: never locked, never saved. Rolls the
        ttl of a known session (and, at most once a minute, an owned session's "last seen"), unless
        read_only (a HEAD, which changes nothing).
        Changes go through `transaction`.

        It never sets or clears the cookie: a slow read answered after a login in another tab
        must not overwrite the browser's newer cookie."""
        session_id = self._session_id_from_cookie(handler)
        if session_id is None:
            return Session()
        with observed_call(self.events, self.store.name, "read"):
            data = await self.store.load(session_id, extend_ttl=None if read_only else self.ttl)
        if data is None:
            self.events.session("expired")
            return Session()  # unknown or expired: never adopted
        data, upgraded = self.shapes.upgrade(data)
        session = _session_from(data, session_id)
        now = time.time()
        if self._past_max_age(session.meta, now):
            if not read_only:
                await self._end_past_max_age(session_id, session.owner)
            return Session()
        if not read_only and (upgraded or session.owner is not None
                              and now - number_in(session.meta.get("seen")) >= LAST_SEEN_RESOLUTION):
            session = await self._write_back(handler, session)
        return session

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
            await self._commit(handler, session, before=_fingerprint({}, {}))
            return
        waiting = time.monotonic()
        async with self._locks.hold(session_id):
            async with self._observed_lock(session_id, waiting) as held:
                if held.data is None and await self.store.load(_moved_marker(session_id)) is not None:
                    # Starting a new session here would send its cookie over the login's newer one.
                    raise SessionMoved(f"session {short_id(session_id)} was replaced by a newer one")
                # The owner as stored, before an upgrade: an owner the upgrade gave is indexed at the commit.
                old_owner = None if held.data is None else _owner_of(held.data)
                data, upgraded = (None, False) if held.data is None else self.shapes.upgrade(held.data)
                session = Session() if data is None else _session_from(data, session_id)
                if self._past_max_age(session.meta, time.time()):
                    held.destroy()  # applied as the lock is released, whatever the block does
                    log.info("session %s ended: its absolute lifetime is over", short_id(session_id))
                    session = Session()
                    old_owner_kept = None
                else:
                    old_owner_kept = old_owner
                # An upgraded session is written back even if the block changes nothing.
                before = b"" if upgraded else _fingerprint(session, session.meta)
                yield session
                await self._commit(handler, session, held, before=before, old_owner=old_owner_kept)
            if old_owner is not None and (held.pending_destroy or session.owner != old_owner):
                # After the release: the session is gone (or owned by another) before its entry.
                await self.index.discard_owned(old_owner, [session_id])

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

    async def end(self, handler: CookieJar) -> bool:
        """Log out: destroy the request's session and clear its cookie, whatever the store does.
        Through `transaction` when the store allows it; a store that refuses that (a full Redis
        refuses the lock's write) gets a plain delete, which a full Redis still allows (an owner
        index's entry left behind is dropped when next listed). False, logged, when even that
        failed: the session then lives until its ttl, but this browser no longer points at it."""
        session_id = self._session_id_from_cookie(handler)
        try:
            async with self.transaction(handler) as session:
                session.end()
            return True
        except SessionMoved:
            handler.clear_cookie(self.cookie_name)  # a login replaced that id already: nothing to delete
            return True
        except StoreUnavailable as error:
            handler.clear_cookie(self.cookie_name)
            log.warning("session %s: cannot end it under its lock (%s); deleting it without",
                        short_id(session_id), error)
        try:
            await self.store.destroy(session_id)
        except StoreUnavailable as error:
            log.error("session %s: cannot delete it at logout: %s (its cookie is cleared)", short_id(session_id), error)
            return False
        self.events.session("ended")
        return True

    async def _commit(self, handler: CookieJar, session: Session, held: LockedSession | None = None,
                      *, before: bytes, old_owner: str | None = None) -> None:
        """Decide what the end of a transaction writes. Changes to the held session are written
        by the store as it releases the lock; a new id is saved at once."""
        old_id = session.id
        if session.ended:
            if held is not None and old_id is not None:
                held.destroy()
                self.events.session("ended")
                log.info("session %s ended", short_id(old_id))
            # With the attributes it was set with: a browser ignores a Secure (or __Host-) cookie's
            # deletion sent without Secure.
            handler.clear_cookie(self.cookie_name, secure=self.secure, httponly=True, samesite="Lax")
            session.id = None
            return
        if old_id is None:
            if not session:
                return  # lazy: nothing written, nothing stored, no cookie
            session.id = new_session_id()
            self._describe(handler, session)
            await self._save_new(session)
            self._set_cookie(handler, session.id)
            self.events.session("created")
            log.info("session %s created", short_id(session.id))
        elif session.regenerate_requested:
            # The new id is fresh and unknown to everyone, so it needs no lock of its own.
            session.id = new_session_id()
            await self._save_new(session)
            # The old id goes; a marker under another id says, for a while, that it moved, so a
            # request of another tab still carrying it is refused instead of starting a session.
            await self.store.save(_moved_marker(old_id), {"moved": True}, MOVED_MARKER_TTL)
            held.destroy()
            self._set_cookie(handler, session.id)
            self.events.session("regenerated")
            log.info("session %s regenerated as %s", short_id(old_id), short_id(session.id))
        elif _fingerprint(session, session.meta) != before:
            if session.owner is not None and session.owner != old_owner:
                await self.index.add_owned(session.owner, old_id, self._index_ttl())
            held.save(self._stored(session), self._ttl_for(session.meta, time.time()))
        session.regenerate_requested = False

    async def _save_new(self, session: Session) -> None:
        """Store a session under its new id; an owned one is indexed first, so that it is listed
        from the moment it exists (a crash in between leaves an entry the listing discards)."""
        if session.owner is not None:
            await self.index.add_owned(session.owner, session.id, self._index_ttl())
        with observed_call(self.events, self.store.name, "change"):
            await self.store.save(session.id, self._stored(session), self._ttl_for(session.meta, time.time()))

    # -- metadata and the absolute lifetime ---------------------------------------------------------------

    def _past_max_age(self, meta: dict, now: float) -> bool:
        return (self.max_age is not None and meta.get("owner") is not None
                and now >= number_in(meta.get("owned_since")) + self.max_age)

    def _ttl_for(self, meta: dict, now: float) -> int:
        """The store's expiry for a save: the idle ttl, but never past the absolute lifetime."""
        if self.max_age is None or meta.get("owner") is None:
            return self.ttl
        return max(1, min(self.ttl, math.ceil(number_in(meta.get("owned_since")) + self.max_age - now)))

    def _index_ttl(self) -> int | None:
        # An owned session cannot outlive max_age; without it, an index entry must be kept for good.
        return None if self.max_age is None else self.max_age + self.ttl

    async def _end_past_max_age(self, session_id: str, owner: str | None) -> None:
        async with self._held(session_id) as held:
            meta = self._meta_of(held.data)
            if isinstance(meta, dict) and self._past_max_age(meta, time.time()):
                held.destroy()
        if owner is not None:
            await self.index.discard_owned(owner, [session_id])
        log.info("session %s ended: its absolute lifetime is over", short_id(session_id))

    async def _write_back(self, handler: CookieJar, session: Session) -> Session:
        """Under the session's lock, write what a read found due: the upgrade of an older shape
        (an owner it gave indexed first, as at a login) and, at most once a minute, an owned
        session's "last seen" (and the address and browser it was seen from). Returns the session
        as stored then; the snapshot as it was when the session changed owner meanwhile."""
        async with self._held(session.id) as held:
            if held.data is None:
                return session
            indexed_owner = _owner_of(held.data)
            data, upgraded = self.shapes.upgrade(held.data)
            stored = _session_from(data, session.id)
            if stored.owner != session.owner:
                return session
            now = time.time()
            described = stored.owner is not None and (
                upgraded or now - number_in(stored.meta.get("seen")) >= LAST_SEEN_RESOLUTION)
            if described:
                self._describe(handler, stored)
            if not (upgraded or described):
                return stored  # written meanwhile by another request
            if stored.owner is not None and stored.owner != indexed_owner:
                await self.index.add_owned(stored.owner, session.id, self._index_ttl())
            held.save(self._stored(stored), self._ttl_for(stored.meta, now))
        return stored

    @contextlib.asynccontextmanager
    async def _held(self, session_id: str) -> AsyncIterator[LockedSession]:
        """The stored session under this process's lock, then the store's: one holder in every process."""
        async with self._locks.hold(session_id), self.store.locked(session_id) as held:
            yield held

    def _describe(self, handler: CookieJar, session: Session) -> None:
        try:
            user_agent, address = self._client(handler)
        except AttributeError:
            user_agent, address = "", ""  # not a request handler (a test's cookie jar)
        now = time.time()
        session.meta.setdefault("created", now)
        session.meta.update(seen=now, agent=user_agent[:MAX_USER_AGENT_LENGTH], address=address)

    def _stored(self, session: Session) -> dict:
        return {**session, META_KEY: self.shapes.stamp(session.meta)}

    def _upgraded(self, data: dict | None) -> dict | None:
        return None if data is None else self.shapes.upgrade(data)[0]

    def _meta_of(self, data: dict | None) -> dict | None:
        """The metadata of a stored session in this release's shape (None when it has none)."""
        meta = None if data is None else self._upgraded(data).get(META_KEY)
        return meta if isinstance(meta, dict) else None

    def start_sweeper(self, interval: float) -> Sweeper:
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
    return derived_id("moved", session_id)


def _owner_of(data: dict) -> str | None:
    meta = data.get(META_KEY)
    owner = meta.get("owner") if isinstance(meta, dict) else None
    return owner if isinstance(owner, str) else None


def _session_from(data: dict, session_id: str) -> Session:
    data = dict(data)
    meta = data.pop(META_KEY, None)
    return Session(data, session_id=session_id, meta=meta if isinstance(meta, dict) else None)


def _request_client(handler: Any) -> tuple[str, str]:
    request = handler.request
    return request.headers.get("User-Agent", ""), request.remote_ip or ""


def _fingerprint(data: dict, meta: dict) -> bytes:
    # Canonical JSON: tells "changed" from "unchanged", and rejects data a store could not keep
    # before anything is written.
    return codec.fingerprint([data, meta])


