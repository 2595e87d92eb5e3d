"""The file store's blocking work: reading, writing, deleting, locking, quarantining and sweeping
session files. Plain functions on paths and descriptors; `FileStore` (file.py) runs them in its
thread pool, a sweep runs in a process of its own, and `python -m sessions` calls them directly.

Layout of the folder:
    <id>.json        a session: {"v": 1, "data": {...}}; the file's mtime is its expiry time, so a
                     sweep or `stats` only lists and stats, and never decodes a file. The
                     envelope's number is forward compatible (see FORMAT_VERSION): what a session
                     holds, and which shape it has, is all in "data" (sessions.shapes)
    .tmp-*           a write in progress (or one cut short by a crash; swept once stale)
    .locks/NNNN      lock stripes: fcntl.flock'ed to serialise a session across processes
    .quarantine/     files that could not be decoded, moved aside for a person to look at
    .owners/<key>/<id>  the owner index: an empty marker file per session of an owner (key: a
                     digest of the owner, store.owner_key); its mtime is when it was written.
                     Creating or deleting a file is atomic, so a crash leaves a marker or none.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

from . import codec
from .store import StoreStats, is_valid_session_id, roll_due, short_id

log = logging.getLogger("sessions.file")

# The envelope's number. Every release writes 1 (releases before sessions had versions read
# nothing else); a reader takes any number from 1 up, as long as "data" is a dict: a later envelope
# may add beside "data", never move the session out of it. A session's own shape is numbered
# inside its data (sessions.shapes), so that a store without an envelope (Redis) says it too.
FORMAT_VERSION = 1
SUFFIX = ".json"
TEMP_PREFIX = ".tmp-"
LOCK_FOLDER = ".locks"
QUARANTINE_FOLDER = ".quarantine"
OWNERS_FOLDER = ".owners"
# A marker whose session is missing is deleted by a sweep only once it is older than this: the
# marker is written just before its session, and that session may still be on its way.
OWNER_MARKER_GRACE = 300
LOCK_STRIPES = 1024
_SWEEP_CHUNK = 2_000

# Errors worth another try: the file system is busy, out of descriptors, or a network mount hiccuped.
# Anything else (a permission, a folder where a file should be) will not fix itself by waiting.
TRANSIENT_ERRNOS = frozenset({
    errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.EIO, errno.EMFILE, errno.ENFILE,
    errno.ENOMEM, errno.ENOBUFS, errno.ESTALE, errno.ETIMEDOUT,
})

# Errors of a file system that refuses writes until an operator acts: StoreFull, in its state.
REFUSING_ERRNOS = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read_only"}


class Undecodable(Exception):
    """The file exists but does not hold a session we can read; carries the inode we read."""

    def __init__(self, inode: int, reason: str) -> None:
        super().__init__(reason)
        self.inode = inode


def session_path(directory: str, session_id: str) -> str:
    # Plain strings on the hot path; the caller has checked the id.
    return f"{directory}/{session_id}{SUFFIX}"


# What read(..., cached_only=True) returns when answering would have to wait for the disk (or
# change it): the caller reads in its thread pool instead.
NOT_CACHED = object()


def read(directory: str, session_id: str, extend_ttl: int | None, *, cached_only: bool = False) -> dict | None:
    """The session's data, or None when there is no live session; with extend_ttl, roll its expiry
    to now + extend_ttl when a roll is due (store.roll_due).

    cached_only, for the event loop's own thread: answer only when the file's bytes are in the page
    cache and no roll is due, so nothing waits for the disk; otherwise NOT_CACHED, nothing done.
    The bytes then come by preadv(2) with RWF_NOWAIT, which answers EAGAIN instead of starting a
    disk read (Linux 4.14 and later; a file system without it raises EOPNOTSUPP, for the caller to
    stop trying)."""
    try:
        fd = os.open(session_path(directory, session_id), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        status = os.fstat(fd)
        now = time.time()
        if status.st_mtime <= now:
            return None  # expired: the sweeper deletes it; it is never brought back
        # Rolled only when due (store.roll_due): most reads then change nothing on the disk.
        roll = extend_ttl is not None and roll_due(status.st_mtime - now, extend_ttl)
        if not cached_only:
            raw = _read_all(fd, status.st_size)
        elif roll or (raw := _read_cached(fd, status.st_size)) is None:
            return NOT_CACHED  # a roll writes the inode; bytes not cached would wait for the disk
        data = decode(raw, status.st_ino)
        if roll:
            expires_at = now + extend_ttl
            # On the descriptor we read: if a writer replaced the file meanwhile, this touches
            # the old inode only, and the new file carries its own fresh expiry.
            try:
                os.utime(fd, (expires_at, expires_at))
            except OSError as error:
                # The session was read: serve it. It expires on its old time unless a later
                # request can roll it (a read-only or full folder heals by itself).
                log.warning("could not roll the expiry of session %s on a read: %s",
                            short_id(session_id), describe(error))
        return data
    finally:
        os.close(fd)


def _read_cached(fd: int, size: int) -> memoryview | None:
    """The file's size bytes if all are in the page cache, else None (nothing waits for the disk)."""
    buffer = bytearray(size + 1)  # one more: a file that grew is read again, by the pool
    try:
        length = os.preadv(fd, [buffer], 0, os.RWF_NOWAIT)
    except BlockingIOError:
        return None
    return memoryview(buffer)[:length] if length == size else None


def write(directory: str, session_id: str, payload: bytes, expires_at: float) -> None:
    """Replace the session's file atomically: temp file, write, fsync, rename, fsync the folder."""
    temp = f"{directory}/{TEMP_PREFIX}{session_id[:8]}-{secrets.token_hex(6)}{SUFFIX}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        recreate_folders(directory)
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
        os.replace(temp, session_path(directory, session_id))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    # fsync the folder too: without it a crash can lose the rename, and with it the write.
    fsync_directory(directory)


def unlink(directory: str, session_id: str) -> None:
    try:
        os.unlink(session_path(directory, session_id))
    except FileNotFoundError:
        return
    fsync_directory(directory)


def quarantine(directory: str, session_id: str, inode: int, reason: str) -> None:
    """Move an undecodable file aside. Never raises: the person gets a fresh session either way."""
    source = session_path(directory, session_id)
    target = f"{directory}/{QUARANTINE_FOLDER}"
    try:
        if os.stat(source).st_ino != inode:
            return  # a writer replaced the bad file with a good one since we read it
        os.makedirs(target, mode=0o700, exist_ok=True)
        os.replace(source, f"{target}/{session_id}.{int(time.time())}{SUFFIX}")
    except FileNotFoundError:
        return  # deleted meanwhile
    except OSError as error:
        log.error("could not quarantine undecodable session file %s (%s): %s",
                  short_id(session_id), reason, error.strerror)
        return
    log.warning("quarantined undecodable session file %s (%s)", short_id(session_id), reason)


def recreate_folders(directory: str) -> None:
    """The sessions folder or its .locks/ went away (deleted, moved): make them again, so the
    store heals on its next write instead of failing until someone notices."""
    folders = [directory, f"{directory}/{LOCK_FOLDER}", f"{directory}/{QUARANTINE_FOLDER}",
               f"{directory}/{OWNERS_FOLDER}"]
    missing = [folder for folder in folders if not os.path.isdir(folder)]
    for folder in folders:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    if missing:
        log.error("session folder(s) %s were missing (deleted or moved away?): recreated them; "
                  "sessions stored there before are gone", ", ".join(missing))


def add_owned(directory: str, key: str, session_id: str) -> None:
    """Write the marker of session_id in the folder of owner key (see the layout above), durably:
    the marker file, then its folder, fsynced, so a crash after this returns keeps it."""
    folder = f"{directory}/{OWNERS_FOLDER}/{key}"
    for attempt in range(3):
        try:
            fd = os.open(f"{folder}/{session_id}", os.O_WRONLY | os.O_CREAT, 0o600)
            break
        except FileNotFoundError:
            # The owner's first marker, or a sweep removed the empty folder a moment ago.
            if attempt == 2:
                raise
            if not os.path.isdir(f"{directory}/{OWNERS_FOLDER}"):
                recreate_folders(directory)
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder, 0o700)
            fsync_directory(f"{directory}/{OWNERS_FOLDER}")
    try:
        os.utime(fd)  # written now, also when the marker was there already
    finally:
        os.close(fd)
    fsync_directory(folder)


def discard_owned(directory: str, key: str, session_ids: list[str]) -> None:
    folder = f"{directory}/{OWNERS_FOLDER}/{key}"
    removed = False
    for session_id in session_ids:
        try:
            os.unlink(f"{folder}/{session_id}")
            removed = True
        except FileNotFoundError:
            continue
    if removed:
        fsync_directory(folder)


def owned(directory: str, key: str) -> dict[str, float]:
    """The owner's markers: session id -> when written. Only this owner's folder is read."""
    entries: dict[str, float] = {}
    try:
        with os.scandir(f"{directory}/{OWNERS_FOLDER}/{key}") as markers:
            for marker in markers:
                if is_valid_session_id(marker.name):
                    with contextlib.suppress(FileNotFoundError):
                        entries[marker.name] = marker.stat().st_mtime
    except FileNotFoundError:
        pass
    return entries


def _sweep_owner_markers(directory: str, now: float) -> None:
    """Delete markers whose session file is gone (expired and swept, deleted), once past the grace,
    and owner folders left empty: the index stays as small as the store."""
    try:
        owners = list(os.scandir(f"{directory}/{OWNERS_FOLDER}"))
    except FileNotFoundError:
        return
    for owner in owners:
        if not owner.is_dir(follow_symlinks=False):
            continue
        left = 0
        try:
            # The folder's age before this sweep touches it: deleting its last marker below makes
            # it look new, and it would wait for another sweep.
            made_or_changed = owner.stat(follow_symlinks=False).st_mtime
            with os.scandir(owner.path) as markers:
                for marker in markers:
                    left += 1
                    try:
                        if (marker.stat().st_mtime < now - OWNER_MARKER_GRACE
                                and not os.path.exists(session_path(directory, marker.name))):
                            os.unlink(marker.path)
                            left -= 1
                    except FileNotFoundError:
                        left -= 1
            if left == 0 and made_or_changed < now - OWNER_MARKER_GRACE:
                os.rmdir(owner.path)  # refused if a marker arrived meanwhile; it is kept then
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.ENOTEMPTY):
                log.error("sweep: cannot clean an owner's index: %s", error.strerror)


def _lock_path(directory: str, session_id: str) -> str:
    # A fixed set of stripes, not a lock file per session: a per-session lock file could never be
    # deleted safely (a waiter may hold it open), so the folder would fill with them.
    return f"{directory}/{LOCK_FOLDER}/{zlib.crc32(session_id.encode()) % LOCK_STRIPES:04d}"


def try_lock(directory: str, session_id: str) -> int | None:
    """The descriptor holding the session's lock, or None when another holder has it."""
    # A fresh descriptor for every acquisition: flock excludes between open file descriptions,
    # so two sessions of this process that share a stripe exclude each other, as they must.
    try:
        fd = os.open(_lock_path(directory, session_id), os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        recreate_folders(directory)
        fd = os.open(_lock_path(directory, session_id), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def try_lock_and_read(directory: str, session_id: str) -> tuple[int | None, dict | None, Exception | None]:
    """Take the lock and read the session in one trip to the pool; a failed read is returned,
    not raised, so the caller still learns the descriptor it must release."""
    fd = try_lock(directory, session_id)
    if fd is None:
        return None, None, None
    try:
        return fd, read(directory, session_id, None), None
    except (OSError, Undecodable) as error:
        return fd, None, error
    except BaseException:
        unlock(fd)
        raise


def apply_and_unlock(directory: str, session_id: str, payload: bytes | None, expires_at: float,
                     destroy: bool, fd: int) -> None:
    """Write the payload (or delete the session, if destroy), then release the lock: one trip to
    the pool. When the write or delete raises, the lock is still held (unlock never raises)."""
    if payload is not None:
        write(directory, session_id, payload, expires_at)
    elif destroy:
        unlink(directory, session_id)
    unlock(fd)


def unlock(fd: int) -> None:
    # Never raises, so a caller knows the lock is gone: closing the last descriptor releases the
    # flock even when LOCK_UN fails, and Linux frees the descriptor even when close() reports an error.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


def expires_at(directory: str, session_id: str) -> float | None:
    """When the session's file expires (its mtime, Unix seconds), or None when there is no file."""
    try:
        return os.stat(session_path(directory, session_id)).st_mtime
    except FileNotFoundError:
        return None


def session_ids(directory: str) -> list[str]:
    """The ids of every session file in the folder (names only: nothing is stat-ed or read)."""
    with os.scandir(directory) as entries:
        return [entry.name[:-len(SUFFIX)] for entry in entries
                if entry.name.endswith(SUFFIX) and is_valid_session_id(entry.name[:-len(SUFFIX)])]


def stats(directory: str) -> StoreStats:
    live = expired = size = 0
    now = time.time()
    with os.scandir(directory) as entries:
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
        quarantined = sum(1 for _ in os.scandir(f"{directory}/{QUARANTINE_FOLDER}"))
    except FileNotFoundError:
        quarantined = 0
    return StoreStats(backend="file", sessions=live, expired=expired, bytes=size, quarantined=quarantined)


def sweep_directory(directory: str, stale_temp_after: float, threads: int) -> int:
    """Delete expired session files and stale temp files, from their mtimes alone.

    No lock is taken: an expired session is never loaded or touched again under its id (the
    manager starts a new one). The one writer that can still revive it is a change that read it
    just before it expired; each file's mtime is read just before its unlink, which leaves that
    race a window of one stat."""
    now = time.time()
    candidates: list[str] = []
    # The listing reads names only (no stat): each candidate is stat-ed once, by the thread that
    # may then delete it.
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            try:
                if name.endswith(SUFFIX) and is_valid_session_id(name[:-len(SUFFIX)]):
                    candidates.append(name)
                elif name.startswith(TEMP_PREFIX) and entry.stat().st_ctime < now - stale_temp_after:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue  # deleted meanwhile by a logout or another process's sweep
            except OSError as error:
                log.error("sweep: cannot look at %s: %s", short_id(name), error.strerror)
    _sweep_owner_markers(directory, now)
    if not candidates:
        return 0
    # Unlinking is where the time goes, and the kernel runs unlinks in one folder partly in
    # parallel, so several threads finish sooner.
    chunks = [candidates[i:i + _SWEEP_CHUNK] for i in range(0, len(candidates), _SWEEP_CHUNK)]
    folder = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="filestore-unlink") as pool:
            removed = sum(pool.map(_unlink_if_expired, [folder] * len(chunks), chunks))
        if removed:
            os.fsync(folder)
    finally:
        os.close(folder)
    return removed


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make the folder's entries durable: without it a crash can lose a rename, a link or an unlink."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_if_expired(folder: int, names: list[str]) -> int:
    """Delete each named session file of the folder (a descriptor) whose mtime has passed."""
    removed = 0
    for name in names:
        try:
            if os.stat(name, dir_fd=folder).st_mtime <= time.time():
                os.unlink(name, dir_fd=folder)
                removed += 1
        except FileNotFoundError:
            continue
        except OSError as error:
            # One file that cannot go must not stop the sweep of the others (nor show its full id).
            log.error("sweep: cannot delete session %s: %s", short_id(name), error.strerror)
    return removed


# A full disk or quota: for an operator, another matter than a folder that is gone or unreadable.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def failure_kind(error: OSError) -> str:
    """The kind of a failed call, as sessions.events.FAILURE_KINDS names it."""
    if error.errno in _FULL_ERRNOS:
        return "full"
    if error.errno == errno.ETIMEDOUT:
        return "timeout"
    return "unavailable"


def refusing_writes(directory: str | os.PathLike) -> str | None:
    """"full" when the folder's file system has no space left for us, "read_only" when it is
    mounted read-only; None otherwise (two fields of one statvfs)."""
    status = os.statvfs(directory)
    if status.f_flag & os.ST_RDONLY:
        return "read_only"
    return "full" if status.f_bavail == 0 else None


def describe(error: OSError) -> str:
    """What went wrong, for messages and logs: the errno's name and text, never the file name
    (which holds a full session id)."""
    name = errno.errorcode.get(error.errno, "") if error.errno is not None else ""
    text = error.strerror or type(error).__name__
    return f"{name} ({text})" if name else text


def _read_all(fd: int, size: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, max(size, 4096) + 1):
        chunks.append(chunk)
    return b"".join(chunks)


def encode(data: dict) -> bytes:
    return codec.encode({"v": FORMAT_VERSION, "data": data})


def decode(raw: bytes, inode: int) -> dict:
    try:
        document = codec.decode(raw)
    except Exception as error:
        # Not only JSONDecodeError: invalid UTF-8 (UnicodeDecodeError), nesting deeper than the
        # parser's stack (RecursionError), an integer of thousands of digits (ValueError), ...
        # Whatever the reason, the file holds no session: quarantine it, never fail the request.
        raise Undecodable(inode, f"not JSON: {type(error).__name__}: {str(error)[:100]}") from None
    if not (isinstance(document, dict) and isinstance(document.get("data"), dict)):
        raise Undecodable(inode, "not a session document")
    version = document.get("v")
    if not (type(version) is int and version >= FORMAT_VERSION):
        raise Undecodable(inode, "not a session envelope: its number is not a whole number from 1 up")
    return document["data"]
