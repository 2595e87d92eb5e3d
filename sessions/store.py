"""The contract every session store keeps: the async `SessionStore` protocol, its errors, and the id rules.

Stores hold plain JSON-compatible dicts keyed by session id, each with an expiry. They know nothing of
cookies or HTTP; `SessionManager` adds those.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncContextManager, AsyncIterator, Callable, Protocol, runtime_checkable

from .events import SessionEvents

# secrets.token_urlsafe(32) is 32 random bytes in unpadded base64url: always 43 characters.
SESSION_ID_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{43}\Z")


# A read rolls a session's expiry only once a tenth of its ttl has passed since the last roll
# (connect-mongo's `touchAfter`), so most reads write nothing. The price: a session lives between
# 0.9 and 1.0 ttl after its last request, never less.
ROLL_AFTER_FRACTION = 0.1


def roll_due(expires_in: float, ttl: float) -> bool:
    """Whether a read that would roll the expiry to now + ttl should: true once less than
    (1 - ROLL_AFTER_FRACTION) x ttl is left. Both in seconds; expires_in may be negative."""
    return expires_in < ttl * (1 - ROLL_AFTER_FRACTION)


def new_session_id() -> str:
    """A fresh session id with 256 bits of randomness."""
    return secrets.token_urlsafe(32)


def is_valid_session_id(value: object) -> bool:
    """True when value could have come from `new_session_id`; checked before any path or key is built."""
    return isinstance(value, str) and SESSION_ID_PATTERN.match(value) is not None


def check_session_id(value: object) -> str:
    if not is_valid_session_id(value):
        raise InvalidSessionId(f"not a session id: {short_id(value)!r}")
    return value  # type: ignore[return-value]


def derived_id(purpose: str, text: str) -> str:
    """A session-shaped id (43 characters, see SESSION_ID_PATTERN) derived from text: where the
    library keeps something that is found by a name rather than by a random id (an owner's record,
    a regenerated session's "moved" marker). Cookies are signed, so nobody can present one as theirs."""
    digest = hashlib.sha256(f"sessions.{purpose}:{text}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


MAX_OWNER_LENGTH = 256


def check_owner(value: object) -> str:
    """An owner is an opaque, non-empty string of at most MAX_OWNER_LENGTH characters (the shop
    uses the user's id); ValueError otherwise."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_OWNER_LENGTH:
        raise ValueError(f"an owner is a string of 1 to {MAX_OWNER_LENGTH} characters, not {short_id(value)!r}")
    return value


def owner_key(owner: str) -> str:
    """Where a store files an owner's index: the owner's text never becomes a path or a key as is."""
    return derived_id("owner", check_owner(owner))


def short_id(value: object) -> str:
    """The first characters of an id, for logs: enough to correlate lines, too few to hijack a session."""
    text = str(value)
    return text[:6] + "…" if len(text) > 6 else text


class StoreError(Exception):
    """Base class of the errors a session store raises."""


class InvalidSessionId(StoreError, ValueError):
    """An id that does not match SESSION_ID_PATTERN; stores refuse it before touching storage."""


class StoreUnavailable(StoreError):
    """The store could not be read or written, after its retries. Nothing was changed, unless
    `maybe_written`: a write was sent and its answer never came (a timeout), so it may have been made.

    `kind` says why, for an operator's counts (sessions.events.FAILURE_KINDS): "unavailable" (cannot
    reach it, or it refused), "timeout" (no answer in time, or a lock that stayed taken), "full"."""

    def __init__(self, message: str, *, maybe_written: bool = False, kind: str = "unavailable") -> None:
        super().__init__(message)
        self.maybe_written = maybe_written
        self.kind = kind


class StoreFull(StoreUnavailable):
    """The store answers but refuses writes: `state` is "full" (Redis at maxmemory with noeviction,
    a disk with no space left) or "read_only" (a Redis replica, a read-only file system). Nothing
    was changed; reads and deletes still work."""

    def __init__(self, message: str, *, state: str = "full") -> None:
        super().__init__(message, kind="full")
        self.state = state


@dataclass(frozen=True)
class StoreSettings:
    """What a store may be built from (see sessions.registry); each store reads the fields it needs.

    Filled in by the application from its own configuration: the library reads no environment."""

    directory: Path | None = None  # file: the sessions folder
    retries: int = 5  # file: more tries of a failed read before StoreUnavailable
    max_sessions: int = 100_000  # memory: the cap before the oldest session is evicted
    priority: Callable[[dict], int] | None = None  # memory: rank of a session's data; lower ranks are evicted first
    url: str | None = None  # a network store's server, e.g. redis://host:6379/0
    key_prefix: str | None = None  # a network store's key prefix
    timeout: float | None = None  # seconds any one call to a network store may take
    sentinels: tuple[tuple[str, int], ...] = ()  # redis: find the primary through these sentinels (url unused)
    sentinel_master: str | None = None  # redis: the name the sentinels monitor the primary under
    min_replicas: int = 0  # redis: a change is acknowledged once WAIT saw it on this many replicas
    events: SessionEvents | None = None  # told of corrupt sessions found (see sessions.events)


@dataclass(frozen=True)
class StoreStats:
    backend: str
    sessions: int  # live: not yet expired
    expired: int  # expired but not yet swept
    bytes: int
    quarantined: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "sessions": self.sessions,
            "expired": self.expired,
            "bytes": self.bytes,
            "quarantined": self.quarantined,
        }


class LockedSession:
    """One session, held exclusively for the length of an `async with store.locked(id)` block.

    `data` is the session as read under the lock (None when unknown or expired). `save` and `destroy`
    only record what to do: the store does it when the block ends cleanly, in the same step as the
    release (one round trip for stores that can). When the block raises, nothing is written."""

    def __init__(self, session_id: str, data: dict | None) -> None:
        self.session_id = session_id
        self.data = data
        self.pending_save: tuple[dict, int] | None = None
        self.pending_destroy = False

    def save(self, data: dict, ttl: int) -> None:
        self.pending_save, self.pending_destroy = (data, ttl), False

    def destroy(self) -> None:
        self.pending_save, self.pending_destroy = None, True


class SessionStore(Protocol):
    """What every store implements. All methods are coroutines except `locked`, which returns an async
    context manager. Every method validates the id first and raises InvalidSessionId for a bad one."""

    name: str
    # True when the store's server deletes expired sessions by itself (Redis): then there is never
    # an expired session left to sweep, sweep_expired returns 0 and no sweeper needs to run.
    expires_by_itself: bool

    async def load(self, session_id: str, *, extend_ttl: int | None = None) -> dict | None:
        """The session's data, or None when it is unknown or expired. With extend_ttl, the expiry is
        rolled to now + extend_ttl in the same step (one round trip for stores that can) when
        `roll_due`: a store may skip a roll that would move it by less than a tenth of the ttl."""

    async def save(self, session_id: str, data: dict, ttl: int) -> None:
        """Store data (JSON-compatible) as the whole session, expiring ttl seconds from now."""

    async def destroy(self, session_id: str) -> None:
        """Forget the session; destroying an unknown session is not an error."""

    async def sweep_expired(self) -> int:
        """Delete every expired session; returns how many were deleted."""

    async def stats(self) -> StoreStats:
        ...

    def locked(self, session_id: str) -> AsyncContextManager[LockedSession]:
        """Exclusive access to one session across every process sharing the store, for a
        load-change-save: `async with store.locked(id) as held:` reads held.data under the lock;
        held.save() or held.destroy() take effect as the lock is released. Within one process,
        SessionManager also serialises with an asyncio lock."""

    async def expires_in(self, session_id: str) -> float | None:
        """Seconds until the session expires, or None when it is unknown or expired (for moving a
        session to another store with the life it has left; see sessions.migration)."""

    def session_ids(self) -> AsyncIterator[str]:
        """Every session id the store holds, live or not yet swept, in no order and in batches (a
        scan: for `python -m sessions copy`, never on a request's path). Ids of sessions created
        meanwhile may or may not be listed."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers, quickly (for /healthz); never retries.
        StoreFull when it answers but refuses writes."""

    async def close(self) -> None:
        ...


@runtime_checkable
class OwnerIndex(Protocol):
    """The second, small contract beside SessionStore (as Spring Session's
    FindByIndexNameSessionRepository sits beside SessionRepository): which session ids an owner has.

    The index is a list of candidates, not the truth: `SessionManager.owner_sessions` checks each
    entry against the session itself (live, and carrying this owner) and discards the ones that no
    longer hold. So a crash between writing an entry and the session, or a session expired, swept or
    evicted behind the index's back, never shows; an entry is written before its session is saved,
    so a session is listed as soon as it has an owner. Only logins, logouts and ends touch it."""

    async def add_owned(self, owner: str, session_id: str, ttl: int | None) -> None:
        """Record session_id under owner, durably before returning. ttl (seconds): how long the entry
        can matter (the session's longest possible life); a store may forget the entry after it."""

    async def discard_owned(self, owner: str, session_ids: Iterable[str]) -> None:
        """Forget these entries of owner's; unknown ones are not an error."""

    async def owned(self, owner: str) -> dict[str, float]:
        """owner's entries: session id -> when the entry was written (Unix seconds). Never scans the store."""
