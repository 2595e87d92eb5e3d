"""FileStore: one JSON file per session in a folder, surviving restarts and crashes.

Layout of the folder:
    <id>.json        a session: {"v": 1, "data": {...}}; the file's mtime is its expiry time, so a
                     sweep or `stats` only lists and stats, and never decodes a file
    .tmp-*           a write in progress (or one cut short by a crash; swept once stale)
    .locks/NNNN      lock stripes: fcntl.flock'ed to serialise a session across processes
    .quarantine/     files that could not be decoded, moved aside for a person to look at

Every blocking call runs in the store's own thread pool, never on the event loop; a sweep runs in a
child process (`python -m sessions sweep`).
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import random
import secrets
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterator, Callable, TypeVar

from .store import LockedSession, StoreSettings, StoreStats, StoreUnavailable, check_session_id, is_valid_session_id, short_id

log = logging.getLogger("sessions.file")

T = TypeVar("T")

FORMAT_VERSION = 1
SUFFIX = ".json"
TEMP_PREFIX = ".tmp-"
LOCK_STRIPES = 1024
_SWEEP_CHUNK = 2_000
# The folder holding the `sessions` package, for the sweeping child process's import path.
_LIBRARY_ROOT = str(Path(__file__).resolve().parent.parent)

# Errors worth another try: the file system is busy, out of descriptors, or a network mount hiccuped.
# Anything else (a permission, a folder where a file should be) will not fix itself by waiting.
TRANSIENT_ERRNOS = frozenset({
    errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.EIO, errno.EMFILE, errno.ENFILE,
    errno.ENOMEM, errno.ENOBUFS, errno.ESTALE, errno.ETIMEDOUT,
})


class _Undecodable(Exception):
    """The file exists but does not hold a session we can read; carries the inode we read."""

    def __init__(self, inode: int, reason: str) -> None:
        super().__init__(reason)
        self.inode = inode


class FileStore:
    name = "file"
    expires_by_itself = False

    def __init__(self, directory: str | os.PathLike, *, retries: int = 5, retry_delay: float = 0.01,
                 lock_timeout: float = 30.0, io_threads: int = 4, create: bool = True,
                 stale_temp_after: float = 3600, sweep_threads: int = 4) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.directory = Path(directory)
        self._directory = str(self.directory)
        self.retries = retries
        self.retry_delay = retry_delay
        self.lock_timeout = lock_timeout
        # A temp file only lives for one write; one older than this was left by a crash.
        self.stale_temp_after = stale_temp_after
        self.sweep_threads = sweep_threads
        self.lock_directory = self.directory / ".locks"
        self.quarantine_directory = self.directory / ".quarantine"
        if create:
            for folder in (self.directory, self.lock_directory, self.quarantine_directory):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._io = ThreadPoolExecutor(max_workers=io_threads, thread_name_prefix="filestore")
        # Stats get a thread of their own so they never hold up a request's read or write.
        self._stats_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="filestore-stats")

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> FileStore:
        if settings.directory is None:
            raise ValueError("the file store needs a directory")
        return cls(settings.directory, retries=settings.retries)

    # -- the SessionStore protocol ----------------------------------------------------------------

    async def load(self, session_id: str, *, extend_ttl: int | None = None) -> dict | None:
        check_session_id(session_id)
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                return await self._run(self._read, session_id, extend_ttl)
            except _Undecodable as error:
                if attempt + 1 == attempts:
                    await self._run(self._quarantine, session_id, error.inode, str(error))
                    return None
            except OSError as error:
                if error.errno not in TRANSIENT_ERRNOS:
                    raise StoreUnavailable(f"cannot read session {short_id(session_id)}: {error}") from error
                if attempt + 1 == attempts:
                    raise StoreUnavailable(
                        f"cannot read session {short_id(session_id)} after {attempts} tries: {error}") from error
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    async def save(self, session_id: str, data: dict, ttl: int) -> None:
        check_session_id(session_id)
        # Encode on the loop: it is fast, and a TypeError for data that is not JSON belongs to the caller.
        payload = _encode(data)
        try:
            await self._run(self._write, session_id, payload, time.time() + ttl)
        except OSError as error:
            raise StoreUnavailable(f"cannot write session {short_id(session_id)}: {error}") from error

    async def destroy(self, session_id: str) -> None:
        check_session_id(session_id)
        try:
            await self._run(self._unlink, session_id)
        except OSError as error:
            raise StoreUnavailable(f"cannot delete session {short_id(session_id)}: {error}") from error

    async def touch(self, session_id: str, ttl: int) -> bool:
        check_session_id(session_id)
        try:
            return await self._run(self._extend, session_id, ttl)
        except OSError as error:
            raise StoreUnavailable(f"cannot touch session {short_id(session_id)}: {error}") from error

    async def sweep_expired(self) -> int:
        # In a child process: threads of this one, unlinking 100,000 files, would fight the event
        # loop for the GIL, and both would crawl (measured: 5.3 s in-process under load, 1.4 s in
        # a child). A fresh interpreter running `python -m sessions sweep` shares nothing with us.
        environ = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_LIBRARY_ROOT, os.environ.get("PYTHONPATH")]))}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sessions", "sweep", self._directory, "--json",
            "--stale-temp-after", str(self.stale_temp_after), "--threads", str(self.sweep_threads),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environ)
        try:
            stdout, stderr = await child.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
            raise
        complaints = stderr.decode(errors="replace").strip()
        if child.returncode != 0:
            raise StoreUnavailable(f"sweep of {self._directory} failed ({child.returncode}): {complaints[-500:]}")
        if complaints:
            log.warning("sweep of %s: %s", self._directory, complaints[-500:])
        return int(json.loads(stdout)["removed"])

    async def stats(self) -> StoreStats:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._stats_pool, self.stats_now)

    @contextlib.asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[LockedSession]:
        check_session_id(session_id)
        fd, data = await self._lock_and_read(session_id)
        held = LockedSession(session_id, data)
        try:
            yield held
            payload = None if held.pending_save is None else _encode(held.pending_save[0])
        except BaseException:
            await self._run(self._unlock, fd)
            raise
        try:
            await self._run(self._apply_and_unlock, held, payload, fd)
        except OSError as error:
            raise StoreUnavailable(f"cannot write session {short_id(session_id)}: {error}") from error

    async def _lock_and_read(self, session_id: str) -> tuple[int, dict | None]:
        # Poll with a non-blocking flock rather than block a pool thread: a pool full of threads
        # waiting for locks could never run the write that releases them.
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.001
        while True:
            try:
                fd, data, failure = await self._run_unlock_if_cancelled(session_id)
            except OSError as error:
                # The lock file itself: out of descriptors is worth waiting out, anything else is not.
                if error.errno not in TRANSIENT_ERRNOS or time.monotonic() > deadline:
                    raise StoreUnavailable(f"cannot lock session {short_id(session_id)}: {error.strerror}") from None
                fd = None
            if fd is not None:
                break
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"session {short_id(session_id)} stayed locked for {self.lock_timeout}s")
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.05)
        if failure is not None:
            # The read in the same step failed: retry it as any load does, still holding the lock.
            try:
                data = await self.load(session_id)
            except BaseException:
                await self._run(self._unlock, fd)
                raise
        return fd, data

    async def _run_unlock_if_cancelled(self, session_id: str) -> tuple[int | None, dict | None, Exception | None]:
        # If the request is cancelled while the pool takes the lock, the thread still takes it:
        # release it when it arrives, or the stripe would stay locked for every process.
        attempt = asyncio.ensure_future(self._run(self._try_lock_and_read, session_id))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            def release(done: asyncio.Future) -> None:
                if not done.cancelled() and done.exception() is None and done.result()[0] is not None:
                    self._unlock(done.result()[0])

            attempt.add_done_callback(release)
            raise

    async def ping(self, timeout: float = 2.0) -> None:
        """The folder is there and writable: two system calls, in the pool, bounded by timeout (a
        hung network mount must not hang /healthz)."""
        try:
            writable = await asyncio.wait_for(self._run(os.access, self._directory, os.W_OK | os.X_OK), timeout)
        except (OSError, asyncio.TimeoutError) as error:
            raise StoreUnavailable(f"{self._directory} does not answer: {error or 'timed out'}") from None
        if not writable:
            raise StoreUnavailable(f"{self._directory} is missing or not writable")

    async def close(self) -> None:
        self._io.shutdown(wait=True)
        self._stats_pool.shutdown(wait=True)

    # -- blocking work, run in the pools and by `python -m sessions` ---------------------------------

    def path_for(self, session_id: str) -> Path:
        return self.directory / (check_session_id(session_id) + SUFFIX)

    def _path(self, session_id: str) -> str:
        # Plain strings on the hot path: the id was checked by the public method that got here.
        return f"{self._directory}/{session_id}{SUFFIX}"

    def _read(self, session_id: str, extend_ttl: int | None) -> dict | None:
        try:
            fd = os.open(self._path(session_id), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            status = os.fstat(fd)
            now = time.time()
            if status.st_mtime <= now:
                return None  # expired: the sweeper deletes it; it is never brought back
            data = _decode(_read_all(fd, status.st_size), status.st_ino)
            if extend_ttl is not None:
                expires_at = now + extend_ttl
                # On the descriptor we read: if a writer replaced the file meanwhile, this touches
                # the old inode only, and the new file carries its own fresh expiry.
                os.utime(fd, (expires_at, expires_at))
            return data
        finally:
            os.close(fd)

    def _write(self, session_id: str, payload: bytes, expires_at: float) -> None:
        temp = f"{self._directory}/{TEMP_PREFIX}{session_id[:8]}-{secrets.token_hex(6)}{SUFFIX}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view):]
                os.utime(fd, (expires_at, expires_at))
                # The data and the mtime must be on disk before the rename makes them the session.
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self._path(session_id))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        # fsync the folder too: without it a crash can lose the rename, and with it the write.
        self._fsync_directory()

    def _unlink(self, session_id: str) -> None:
        try:
            os.unlink(self._path(session_id))
        except FileNotFoundError:
            return
        self._fsync_directory()

    def _extend(self, session_id: str, ttl: int) -> bool:
        try:
            fd = os.open(self._path(session_id), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            now = time.time()
            if os.fstat(fd).st_mtime <= now:
                return False
            os.utime(fd, (now + ttl, now + ttl))
            return True
        finally:
            os.close(fd)

    def _fsync_directory(self) -> None:
        _fsync_directory(self._directory)

    def _quarantine(self, session_id: str, inode: int, reason: str) -> None:
        """Move an undecodable file aside. Never raises: the person gets a fresh session either way."""
        source = self._path(session_id)
        try:
            if os.stat(source).st_ino != inode:
                return  # a writer replaced the bad file with a good one since we read it
            self.quarantine_directory.mkdir(mode=0o700, exist_ok=True)
            os.replace(source, self.quarantine_directory / f"{session_id}.{int(time.time())}{SUFFIX}")
        except FileNotFoundError:
            return  # deleted meanwhile
        except OSError as error:
            log.error("could not quarantine undecodable session file %s (%s): %s",
                      short_id(session_id), reason, error.strerror)
            return
        log.warning("quarantined undecodable session file %s (%s)", short_id(session_id), reason)

    def _lock_path(self, session_id: str) -> str:
        # A fixed set of stripes, not a lock file per session: a per-session lock file could never be
        # deleted safely (a waiter may hold it open), so the folder would fill with them.
        return f"{self._directory}/.locks/{zlib.crc32(session_id.encode()) % LOCK_STRIPES:04d}"

    def _try_lock(self, session_id: str) -> int | None:
        # A fresh descriptor for every acquisition: flock excludes between open file descriptions,
        # so two sessions of this process that share a stripe exclude each other, as they must.
        fd = os.open(self._lock_path(session_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _try_lock_and_read(self, session_id: str) -> tuple[int | None, dict | None, Exception | None]:
        """Take the lock and read the session in one trip to the pool; a failed read is returned,
        not raised, so the caller still learns the descriptor it must release."""
        fd = self._try_lock(session_id)
        if fd is None:
            return None, None, None
        try:
            return fd, self._read(session_id, None), None
        except (OSError, _Undecodable) as error:
            return fd, None, error

    def _apply_and_unlock(self, held: LockedSession, payload: bytes | None, fd: int) -> None:
        try:
            if payload is not None:
                self._write(held.session_id, payload, time.time() + held.pending_save[1])
            elif held.pending_destroy:
                self._unlink(held.session_id)
        finally:
            self._unlock(fd)

    @staticmethod
    def _unlock(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def sweep_expired_now(self) -> int:
        """The sweep, in this thread (for `python -m sessions sweep`)."""
        return sweep_directory(self._directory, self.stale_temp_after, self.sweep_threads)

    def stats_now(self) -> StoreStats:
        live = expired = size = 0
        now = time.time()
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if not (entry.name.endswith(SUFFIX) and is_valid_session_id(entry.name[:-len(SUFFIX)])):
                    continue
                try:
                    status = entry.stat()
                except FileNotFoundError:
                    continue
                size += status.st_size
                if status.st_mtime <= now:
                    expired += 1
                else:
                    live += 1
        try:
            quarantined = sum(1 for _ in os.scandir(self.quarantine_directory))
        except FileNotFoundError:
            quarantined = 0
        return StoreStats(backend=self.name, sessions=live, expired=expired, bytes=size, quarantined=quarantined)

    # -- helpers -------------------------------------------------------------------------------------

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, function, *args)

    def _backoff(self, attempt: int) -> float:
        # Exponential with full jitter, so retries of many requests do not arrive in step.
        return min(self.retry_delay * (2 ** attempt), 0.25) * random.uniform(0.5, 1.5)


def sweep_directory(directory: str, stale_temp_after: float, threads: int) -> int:
    """Delete expired session files and stale temp files, from their mtimes alone.

    No lock is taken: an expired session is never loaded or touched again under its id (the
    manager starts a new one). The one writer that can still revive it is a change that read it
    just before it expired; the mtime is checked again just before each unlink, which leaves that
    race a window of one stat."""
    now = time.time()
    expired: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            try:
                if name.endswith(SUFFIX) and is_valid_session_id(name[:-len(SUFFIX)]):
                    if entry.stat().st_mtime <= now:
                        expired.append(entry.path)
                elif name.startswith(TEMP_PREFIX) and entry.stat().st_ctime < now - stale_temp_after:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue  # deleted meanwhile by a logout or another process's sweep
            except OSError as error:
                log.error("sweep: cannot look at %s: %s", short_id(name), error.strerror)
    if not expired:
        return 0
    # Listing and stat-ing are cheap; unlinking is where the time goes, and the kernel runs
    # unlinks in one folder partly in parallel, so several threads finish sooner.
    chunks = [expired[i:i + _SWEEP_CHUNK] for i in range(0, len(expired), _SWEEP_CHUNK)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="filestore-unlink") as pool:
        removed = sum(pool.map(_unlink_if_expired, chunks))
    _fsync_directory(directory)
    return removed


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_if_expired(paths: list[str]) -> int:
    removed = 0
    for path in paths:
        try:
            if os.stat(path).st_mtime <= time.time():
                os.unlink(path)
                removed += 1
        except FileNotFoundError:
            continue
        except OSError as error:
            # One file that cannot go must not stop the sweep of the others (nor show its full id).
            log.error("sweep: cannot delete session %s: %s", short_id(os.path.basename(path)), error.strerror)
    return removed


def _read_all(fd: int, size: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, max(size, 4096) + 1):
        chunks.append(chunk)
    return b"".join(chunks)


def _encode(data: dict) -> bytes:
    return json.dumps({"v": FORMAT_VERSION, "data": data}, separators=(",", ":")).encode()


def _decode(raw: bytes, inode: int) -> dict:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Undecodable(inode, f"not JSON: {error}") from None
    if not (isinstance(document, dict) and document.get("v") == FORMAT_VERSION
            and isinstance(document.get("data"), dict)):
        raise _Undecodable(inode, "not a session document")
    return document["data"]
