"""What the session library tells its user about its work: store calls and their durations, their
failures by kind, the time a change waits for its session's lock, and the life of sessions.

The library counts nothing itself and imports no metrics library: an application passes a
`SessionEvents` (a subclass that counts what it wants) to the manager and the store, the way
SQLAlchemy's event hooks or redis-py's event dispatcher let an application watch them. The default
does nothing, so a store built without one costs a method call per event.
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

# A store call is one of these operations (what a request or the sweeper asked of the store).
OPERATIONS = ("read", "change", "sweep")
# Why a store call failed: the store cannot be reached or refused for another reason; it did not
# answer in time (or a lock stayed taken); it is full (out of memory or disk); a session it holds
# cannot be decoded (it is moved aside or read as no session, not an error for the person).
FAILURE_KINDS = ("unavailable", "timeout", "full", "corrupt")
# What happens to sessions: created (first stored), regenerated (moved to a new id at a login),
# ended (a logout), expired (a request's cookie named a session the store no longer has), swept
# (an expired session deleted by the sweeper), quarantined (a file that did not decode moved aside),
# migrated (moved from the store being left, SESSION_MIGRATE_FROM: sessions.migration).
SESSION_EVENTS = ("created", "regenerated", "ended", "expired", "swept", "quarantined", "migrated")


class SessionEvents:
    """Receives the library's events; every method here does nothing. Override what you count.

    Called on the event loop, inline: keep each one cheap (a counter's increment), and never raise.
    `backend` is the store's name (`file`, `redis`, `memory`); seconds are wall-clock seconds."""

    def store_call(self, backend: str, operation: str, seconds: float) -> None:
        """A store call of `operation` (one of OPERATIONS) took `seconds`, failed or not."""

    def store_failure(self, backend: str, operation: str, kind: str) -> None:
        """A store call of `operation` failed with `kind` (one of FAILURE_KINDS)."""

    def lock_wait(self, backend: str, seconds: float) -> None:
        """A change waited `seconds` for its session's lock (in this process and across processes),
        the read under the lock included."""

    def session(self, event: str, count: int = 1) -> None:
        """`count` sessions went through `event` (one of SESSION_EVENTS)."""


NO_EVENTS = SessionEvents()


@contextlib.contextmanager
def observed_call(events: SessionEvents, backend: str, operation: str, *,
                  any_failure: str | None = None) -> Iterator[None]:
    """Tell events how long the block's store call took, and of its failure: an error that carries
    a `kind` (sessions.store.StoreUnavailable) is counted by it; any other by `any_failure`, when
    given. The error goes on."""
    started = time.monotonic()
    try:
        yield
    except Exception as error:
        kind = getattr(error, "kind", any_failure)
        if kind is not None:
            events.store_failure(backend, operation, kind)
        raise
    finally:
        events.store_call(backend, operation, time.monotonic() - started)
