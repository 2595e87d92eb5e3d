"""FileStore: one JSON file per session in a folder, surviving restarts and crashes.

The async front: every call that can wait for the disk (file_io.py, which also describes the
folder's layout) runs in the store's own thread pool, never on the event loop; a sweep runs in a
process of its own.

What cannot wait runs on the loop itself, because a trip to a thread costs more CPU than the work:
a read whose bytes are in the page cache (preadv with RWF_NOWAIT, else the pool reads) and taking
a free lock (flock with LOCK_NB). A change made under the lock is then written by the store's
writer process (file_writer.py: the write, both fsyncs, the rename and the release, away from this
process's GIL), or by the pool when the writer cannot take it. While any trip to the pool or the
writer has been out longer than INLINE_PAUSE_AFTER (a slow or hung disk, where even opening a file
might wait), everything goes to the pool, so a hung disk stops only the requests that need it.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Awaitable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import AsyncIterator, Callable, TypeVar

from . import file_io, file_writer
from .events import NO_EVENTS, SessionEvents
from .store import (
    LockedSession, StoreFull, StoreSettings, StoreStats, StoreUnavailable, check_session_id, owner_key, short_id,
)

log = logging.getLogger("sessions.file")

T = TypeVar("T")

# The sweep's process is started fresh ("spawn"), not forked: a fork would copy this process's
# event loop and threads mid-flight. It finds the `sessions` package on the same sys.path as we do.
_SWEEP_PROCESS = multiprocessing.get_context("spawn")

# How much lower the sweep's process runs than the shop's (see os.nice).
SWEEP_NICENESS = 10
# Seconds a trip to the pool may be out before the loop stops doing file work of its own.
INLINE_PAUSE_AFTER = 0.2


class FileStore:
    name = "file"
    expires_by_itself = False

    def __init__(self, directory: str | os.PathLike, *, retries: int = 5, retry_delay: float = 0.01,
                 lock_timeout: float = 30.0, io_threads: int = 4, create: bool = True,
                 stale_temp_after: float = 3600, sweep_threads: int = 4, writer_process: bool = True,
                 events: SessionEvents = NO_EVENTS) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.events = events
        self.directory = Path(directory)
        self._directory = str(self.directory)
        self.retries = retries
        self.retry_delay = retry_delay
        self.lock_timeout = lock_timeout
        # A temp file only lives for one write; one older than this was left by a crash.
        self.stale_temp_after = stale_temp_after
        self.sweep_threads = sweep_threads
        self.lock_directory = self.directory / file_io.LOCK_FOLDER
        self.quarantine_directory = self.directory / file_io.QUARANTINE_FOLDER
        self.owners_directory = self.directory / file_io.OWNERS_FOLDER
        if create:
            for folder in (self.directory, self.lock_directory, self.quarantine_directory, self.owners_directory):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._io = ThreadPoolExecutor(max_workers=io_threads, thread_name_prefix="filestore")
        # Stats get a thread of their own so they never hold up a request's read or write.
        self._stats_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="filestore-stats")
        # Trips to the pool or the writer still out -> when each started (time.monotonic()), oldest first.
        self._out: dict[asyncio.Future, float] = {}
        # Off for good when the file system has no RWF_NOWAIT: every read then goes to the pool.
        self._inline_reads = True
        # The niceness of the last sweep's process (None before the first): see SWEEP_NICENESS.
        self.sweep_niceness: int | None = None
        self._writer = (file_writer.Writer(self._directory, threads=io_threads, retries=retries,
                                           retry_delay=retry_delay) if writer_process else None)

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> FileStore:
        if settings.directory is None:
            raise ValueError("the file store needs a directory")
        return cls(settings.directory, retries=settings.retries, events=settings.events or NO_EVENTS)

    # -- the SessionStore protocol ----------------------------------------------------------------

    async def load(self, session_id: str, *, extend_ttl: int | None = None) -> dict | None:
        check_session_id(session_id)
        data = self._read_inline(session_id, extend_ttl)
        if data is not file_io.NOT_CACHED:
            return data
        try:
            # A file that does not decode may be someone else's write in progress: read it again.
            return await self._retrying(f"read session {short_id(session_id)}",
                                        lambda: self._run(file_io.read, self._directory, session_id, extend_ttl),
                                        also_retry=file_io.Undecodable)
        except file_io.Undecodable as error:
            self.events.store_failure(self.name, "read", "corrupt")
            await self._run(file_io.quarantine, self._directory, session_id, error.inode, str(error))
            self.events.session("quarantined")
            return None

    async def save(self, session_id: str, data: dict, ttl: int) -> None:
        check_session_id(session_id)
        # Encode on the loop: it is fast, and a TypeError for data that is not JSON belongs to the caller.
        payload = file_io.encode(data)
        expires_at = time.time() + ttl
        await self._retrying(f"write session {short_id(session_id)}",
                             lambda: self._run(file_io.write, self._directory, session_id, payload, expires_at))

    async def destroy(self, session_id: str) -> None:
        check_session_id(session_id)
        await self._retrying(f"delete session {short_id(session_id)}",
                             lambda: self._run(file_io.unlink, self._directory, session_id))

    async def sweep_expired(self) -> int:
        # In a process of its own: threads of this one, unlinking 100,000 files, would fight the
        # event loop for the GIL, and both would crawl (measured: 5.3 s in-process under load,
        # 1.4 s in a child process).
        loop = asyncio.get_running_loop()
        # At a lower priority (nice 10): the shop's event loops come first, the sweep takes what is left.
        pool = ProcessPoolExecutor(max_workers=1, mp_context=_SWEEP_PROCESS, initializer=os.nice,
                                   initargs=(SWEEP_NICENESS,))
        try:
            # One worker, so the sweep runs in the process whose id this is.
            worker, self.sweep_niceness = await loop.run_in_executor(pool, _identity)
            sweep = loop.run_in_executor(pool, file_io.sweep_directory, self._directory,
                                         self.stale_temp_after, self.sweep_threads)
            try:
                return await sweep
            except asyncio.CancelledError:
                # Stopping it anywhere is safe (it only deletes expired files); outliving us is not.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, signal.SIGKILL)
                raise
        except BrokenProcessPool as error:
            raise StoreUnavailable(f"the sweep of {self._directory} died: {error}") from error
        finally:
            pool.shutdown(wait=False)

    async def stats(self) -> StoreStats:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._stats_pool, file_io.stats, self._directory)

    async def expires_in(self, session_id: str) -> float | None:
        check_session_id(session_id)
        expires_at = await self._retrying(f"read the expiry of session {short_id(session_id)}",
                                          lambda: self._run(file_io.expires_at, self._directory, session_id))
        left = None if expires_at is None else expires_at - time.time()
        return left if left is not None and left > 0 else None

    async def session_ids(self) -> AsyncIterator[str]:
        ids = await self._retrying(f"list {self._directory}", lambda: self._run(file_io.session_ids, self._directory))
        for session_id in ids:
            yield session_id

    @contextlib.asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[LockedSession]:
        check_session_id(session_id)
        fd, data = await self._lock_and_read(session_id)
        held = LockedSession(session_id, data)
        try:
            yield held
            payload = None if held.pending_save is None else file_io.encode(held.pending_save[0])
            expires_at = 0.0 if held.pending_save is None else time.time() + held.pending_save[1]
        except BaseException:
            await self._run(file_io.unlock, fd)
            raise
        await self._apply_and_unlock(held, payload, expires_at, fd)

    # -- the OwnerIndex protocol: a folder of marker files per owner (file_io.py) ---------------------

    async def add_owned(self, owner: str, session_id: str, ttl: int | None) -> None:
        key = owner_key(owner)
        check_session_id(session_id)
        await self._retrying(f"index session {short_id(session_id)}",
                             lambda: self._run(file_io.add_owned, self._directory, key, session_id))

    async def discard_owned(self, owner: str, session_ids: Iterable[str]) -> None:
        key = owner_key(owner)
        ids = [check_session_id(session_id) for session_id in session_ids]
        await self._retrying("update an owner's index",
                             lambda: self._run(file_io.discard_owned, self._directory, key, ids))

    async def owned(self, owner: str) -> dict[str, float]:
        key = owner_key(owner)
        return await self._retrying("read an owner's index",
                                    lambda: self._run(file_io.owned, self._directory, key))

    async def ping(self, timeout: float = 2.0) -> None:
        """The folder is there and writable: two system calls, in the pool, bounded by timeout (a
        hung network mount must not hang /healthz)."""
        try:
            writable = await asyncio.wait_for(self._run(os.access, self._directory, os.W_OK | os.X_OK), timeout)
        except (OSError, asyncio.TimeoutError) as error:
            kind = "timeout" if isinstance(error, asyncio.TimeoutError) else file_io.failure_kind(error)
            raise StoreUnavailable(f"{self._directory} does not answer: {error or 'timed out'}", kind=kind) from None
        if not writable:
            raise StoreUnavailable(f"{self._directory} is missing or not writable")
        refusing = await self._run(file_io.refusing_writes, self._directory)
        if refusing is not None:
            raise StoreFull(f"{self._directory} is {refusing.replace('_', '-')}", state=refusing)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        self._io.shutdown(wait=True)
        self._stats_pool.shutdown(wait=True)

    # -- locking -----------------------------------------------------------------------------------

    async def _lock_and_read(self, session_id: str) -> tuple[int, dict | None]:
        fd = self._lock_inline(session_id)
        if fd is not None:
            try:
                data = self._read_inline(session_id, None)
                if data is file_io.NOT_CACHED:
                    data = await self.load(session_id)
            except BaseException:
                file_io.unlock(fd)  # a flock and a close: nothing that waits for the disk
                raise
            return fd, data
        # Poll with a non-blocking flock rather than block a pool thread: a pool full of threads
        # waiting for locks could never run the write that releases them.
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.001
        while True:
            fd, data, failure = await self._retrying(f"lock session {short_id(session_id)}",
                                                     lambda: self._try_lock_and_read(session_id))
            if fd is not None:
                break
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"session {short_id(session_id)} stayed locked for {self.lock_timeout}s",
                                       kind="timeout")
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.05)
        if failure is not None:
            # The read in the same step failed: retry it as any load does, still holding the lock.
            try:
                data = await self.load(session_id)
            except BaseException:
                await self._run(file_io.unlock, fd)
                raise
        return fd, data

    async def _apply_and_unlock(self, held: LockedSession, payload: bytes | None, expires_at: float,
                                fd: int) -> None:
        """The write (or delete) and the release: by the writer process, else in one trip to the
        pool; a failed write is retried still holding the lock, and the lock is released whatever
        happens."""
        if payload is None and not held.pending_destroy:
            file_io.unlock(fd)  # nothing to write: a flock and a close, nothing that waits for the disk
            return
        if self._writer is not None:
            action = file_writer.DELETE if payload is None else file_writer.WRITE
            answer = self._writer.send(held.session_id, action, payload or b"", expires_at, fd)
            if answer is not None:
                os.close(fd)  # the lock is the writer's now: it releases it once the change is on disk
                self._track(answer)
                # If this request is cancelled meanwhile, the writer still finishes and releases.
                outcome = await answer
                if outcome != 0:
                    raise self._writer_failure(held.session_id, outcome)
                return
        running: asyncio.Future | None = None

        async def attempt() -> None:
            nonlocal running
            running = self._submit(file_io.apply_and_unlock, self._directory, held.session_id, payload,
                                   expires_at, held.pending_destroy, fd)
            await asyncio.shield(running)

        try:
            await self._retrying(f"write session {short_id(held.session_id)}", attempt)
        except BaseException:
            if running is not None and not running.done():
                # Cancelled while a thread writes: it finishes; if it fails, the lock is ours to drop.
                def release_if_failed(done: asyncio.Future) -> None:
                    if _failed(done):
                        file_io.unlock(fd)

                running.add_done_callback(release_if_failed)
            elif running is None or _failed(running):
                await self._run(file_io.unlock, fd)
            raise

    async def _try_lock_and_read(self, session_id: str) -> tuple[int | None, dict | None, Exception | None]:
        # If the request is cancelled while the pool takes the lock, the thread still takes it:
        # release it when it arrives, or the stripe would stay locked for every process.
        attempt = self._submit(file_io.try_lock_and_read, self._directory, session_id)
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            def release(done: asyncio.Future) -> None:
                if not done.cancelled() and done.exception() is None and done.result()[0] is not None:
                    file_io.unlock(done.result()[0])

            attempt.add_done_callback(release)
            raise

    # -- on the loop's own thread, while the pool answers promptly --------------------------------------

    def _pool_prompt(self) -> bool:
        """No trip to the pool or the writer has been out longer than INLINE_PAUSE_AFTER."""
        for started in self._out.values():
            return time.monotonic() - started < INLINE_PAUSE_AFTER
        return True

    def _read_inline(self, session_id: str, extend_ttl: int | None) -> dict | None | object:
        """The session from the page cache, or NOT_CACHED: the pool must read it (not cached, a
        roll due, the disk slow, or any failure, which the pool's read retries and reports)."""
        if not (self._inline_reads and self._pool_prompt()):
            return file_io.NOT_CACHED
        try:
            return file_io.read(self._directory, session_id, extend_ttl, cached_only=True)
        except OSError as error:
            if error.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                self._inline_reads = False
                log.info("%s has no RWF_NOWAIT reads: every read goes to the thread pool", self._directory)
            return file_io.NOT_CACHED
        except file_io.Undecodable:
            return file_io.NOT_CACHED  # maybe a write in progress: the pool's read retries, then quarantines

    def _lock_inline(self, session_id: str) -> int | None:
        """The lock's descriptor when the lock was free and taken here, else None (held elsewhere,
        the disk slow, or a failure: the pool's path takes it, retries and reports)."""
        if not self._pool_prompt():
            return None
        try:
            return file_io.try_lock(self._directory, session_id)
        except OSError:
            return None

    # -- helpers -------------------------------------------------------------------------------------

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[T]],
                        also_retry: type[Exception] | tuple[type[Exception], ...] = ()) -> T:
        """attempt(), tried again up to `retries` more times after a transient OSError (or an
        also_retry error, re-raised as is after the last try), with jittered exponential backoff.
        Any other OSError, or the last transient one, is StoreUnavailable naming `what`."""
        attempts = self.retries + 1
        for number in range(attempts):
            try:
                return await attempt()
            except also_retry:
                if number + 1 == attempts:
                    raise
            except OSError as error:
                if error.errno in file_io.REFUSING_ERRNOS:
                    raise StoreFull(f"cannot {what}: {file_io.describe(error)}",
                                    state=file_io.REFUSING_ERRNOS[error.errno]) from error
                if error.errno not in file_io.TRANSIENT_ERRNOS:
                    raise StoreUnavailable(f"cannot {what}: {file_io.describe(error)}",
                                           kind=file_io.failure_kind(error)) from error
                if number + 1 == attempts:
                    raise StoreUnavailable(f"cannot {what} after {attempts} tries: {file_io.describe(error)}",
                                           kind=file_io.failure_kind(error)) from error
            # Exponential with full jitter, so retries of many requests do not arrive in step.
            await asyncio.sleep(min(self.retry_delay * (2 ** number), 0.25) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        return await self._submit(function, *args)

    def _submit(self, function: Callable[..., T], *args: object) -> asyncio.Future:
        # The executor's own future, not a Task around a coroutine: a Task per system-call trip
        # cost more CPU than the trip's hand-off itself.
        return self._track(asyncio.get_running_loop().run_in_executor(self._io, function, *args))

    def _track(self, trip: asyncio.Future) -> asyncio.Future:
        """Count trip among those out (for _pool_prompt) until it is done."""
        self._out[trip] = time.monotonic()
        trip.add_done_callback(self._trip_done)
        return trip

    def _writer_failure(self, session_id: str, outcome: int | None) -> StoreUnavailable:
        what = f"write session {short_id(session_id)}"
        if outcome is None:
            return StoreUnavailable(f"cannot confirm the {what}: the file writer stopped before answering "
                                    "(the change may have been made)", maybe_written=True)
        if outcome == file_writer.NOT_AN_OS_ERROR:
            return StoreUnavailable(f"cannot {what}: the file writer failed (see its log)")
        error = OSError(outcome, os.strerror(outcome))
        if outcome in file_io.REFUSING_ERRNOS:
            return StoreFull(f"cannot {what}: {file_io.describe(error)}", state=file_io.REFUSING_ERRNOS[outcome])
        tries = f" after {self.retries + 1} tries" if outcome in file_io.TRANSIENT_ERRNOS else ""
        return StoreUnavailable(f"cannot {what}{tries}: {file_io.describe(error)}", kind=file_io.failure_kind(error))

    def _trip_done(self, trip: asyncio.Future) -> None:
        del self._out[trip]


def _failed(done: asyncio.Future) -> bool:
    return not done.cancelled() and done.exception() is not None


def _identity() -> tuple[int, int]:
    """The sweep process's id and niceness (os.nice(0) changes nothing and returns it)."""
    return os.getpid(), os.nice(0)
