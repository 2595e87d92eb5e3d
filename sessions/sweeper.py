"""Sweeper: deletes a store's expired sessions every so often (SessionManager.start_sweeper)."""
from __future__ import annotations

import asyncio
import logging
import time

from tornado.ioloop import PeriodicCallback

from .events import NO_EVENTS, SessionEvents, observed_call
from .store import SessionStore

log = logging.getLogger("sessions")


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
            with observed_call(self.events, self.store.name, "sweep", any_failure="unavailable"):
                removed = await self.store.sweep_expired()
        except Exception:
            log.exception("session sweep failed")
            return 0
        self.events.session("swept", removed)
        log.info("session sweep: %d expired removed in %.3fs", removed, time.monotonic() - started)
        return removed
