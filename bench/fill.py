"""Fill a file store's folder with many sessions, fast, in the store's own on-disk format.

Writing 100,000 sessions through `FileStore.save` would fsync 200,000 times; instead the library
writes one reference session, we copy what it put on disk (name, bytes, mtime as expiry) under fresh
ids, and check on a sample that the library itself reads, expires and sweeps the copies as its own.
"""
from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sessions import FileStore

CART = {"cart": {"stoneware-mug": 2, "chefs-knife": 1, "wooden-spoon-set": 1, "cast-iron-teapot": 5,
                 "fountain-pen": 1}}
TTL = 3600


class FormatError(RuntimeError):
    """The file store does not keep sessions the way the bench can copy them."""


@dataclass(frozen=True)
class FileFormat:
    """One session as the library wrote it: its path and bytes relative to a placeholder id."""

    sample_id: str
    relative_name: str
    payload: bytes

    def write(self, directory: Path, session_id: str, expires_at: float) -> None:
        path = directory / self.relative_name.replace(self.sample_id, session_id)
        path.write_bytes(self.payload.replace(self.sample_id.encode(), session_id.encode()))
        os.utime(path, (expires_at, expires_at))


def learn_format(scratch_parent: Path | None = None, data: dict = CART) -> FileFormat:
    """Ask the library: save one session through FileStore and see what lands on disk."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-format-", dir=scratch_parent))
    try:
        store = FileStore(scratch)
        sample_id = secrets.token_urlsafe(32)
        before = time.time()

        async def save_one() -> None:
            try:
                await store.save(sample_id, data, TTL)
            finally:
                await store.close()  # a throwaway store; its threads must not outlive us

        asyncio.run(save_one())
        after = time.time()
        found = [p for p in scratch.rglob("*") if p.is_file() and sample_id in p.name]
        if len(found) != 1:
            raise FormatError(f"saving one session left {len(found)} files named after its id in {scratch}")
        path = found[0]
        mtime = path.stat().st_mtime
        if not before + TTL - 1 <= mtime <= after + TTL + 1:
            raise FormatError("the session file's mtime is not its expiry time; the bench cannot age files")
        fmt = FileFormat(sample_id, str(path.relative_to(scratch)), path.read_bytes())
        _check_copies(fmt, scratch, data)
        return fmt
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_copies(fmt: FileFormat, scratch: Path, data: dict) -> None:
    """Copies must be sessions to the library: live ones load, expired ones are swept."""
    folder = scratch / "check"
    store = FileStore(folder)
    live, expired = fill(folder, fmt, 20, expired_fraction=0.5)

    async def check() -> tuple[int, list]:
        try:
            loaded = [await store.load(sid) for sid in live]
            return await store.sweep_expired(), loaded
        finally:
            await store.close()

    swept, loaded = asyncio.run(check())
    if swept != expired or any(d != data for d in loaded):
        raise FormatError(f"copied sessions do not behave: swept {swept} of {expired} expired, "
                          f"{sum(d == data for d in loaded)} of {len(live)} live ones load")


def fill(directory: Path, fmt: FileFormat, count: int, *, expired_fraction: float) -> tuple[list[str], int]:
    """Write `count` sessions into `directory`, that fraction of them expired (1 h to 2 days ago),
    the rest live for another hour. Returns (the live ids, how many are expired)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = time.time()
    expired = round(count * expired_fraction)
    live_ids = []
    for i in range(count):
        sid = secrets.token_urlsafe(32)
        if i < expired:
            fmt.write(directory, sid, now - random.uniform(3600, 2 * 86400))
        else:
            fmt.write(directory, sid, now + TTL)
            live_ids.append(sid)
    return live_ids, expired
