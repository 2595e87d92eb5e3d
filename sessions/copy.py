"""`python -m sessions copy --from SRC --to DST [--move]`: every session of one store into another,
while the shop serves.

SRC and DST are each `file:PATH` (a file store's folder) or a Redis URL (redis://, rediss://,
unix://, read with --prefix). Each session goes by sessions.migration.transfer, under both stores'
locks: expired sessions are skipped, owners' index entries and account records (kept as sessions
of derived ids) go with them, a session DST has already is left as it is there (the shop may have
changed it since: an older copy never overwrites it), so a second run copies nothing new. With
--move, each source session is deleted once copied (or once found in DST already): what the shop
does on a request with SESSION_MIGRATE_FROM, done for every session at once.

Exit status: 0 when done; 2, with one line naming the argument and nothing changed, when SRC or
DST cannot be read or reached, or they are the same store; 1 when a store failed midway (what was
copied stays copied: run it again to go on).
"""
from __future__ import annotations

import asyncio
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import registry
from .addresses import same_folder, same_redis
from .migration import MISSING, MOVED, PRESENT, transfer
from .store import SessionStore, StoreFull, StoreSettings, StoreUnavailable

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Sessions transferred at once: enough to hide a network store's round trips, few enough that
# the shop's own requests are not queued behind the copy's.
CONCURRENCY = 16
# A URL's password (user:password@, up to the last "@"), in a well-formed URL or not.
_PASSWORD, _MASKED = re.compile(r"\A([^:/@]*:/*[^:/@]*:).*@"), r"\1***@"


class Refused(Exception):
    """An argument that stops the copy before anything is changed; str(error) is the one line."""


@dataclass(frozen=True)
class Address:
    """A store named on the command line: its backend and its folder or URL."""

    backend: str
    location: str
    argument: str  # the option that named it, for messages

    @classmethod
    def parse(cls, text: str, argument: str) -> Address:
        if text.startswith("file:") and text[len("file:"):]:
            return cls("file", str(Path(text[len("file:"):]).absolute()), argument)
        if text.startswith(REDIS_SCHEMES):
            return cls("redis", text, argument)
        raise Refused(f"{argument} {masked(text)!r} is not valid: expected file:PATH or a Redis URL "
                      "(redis://host:6379/0)")

    def same_store(self, other: Address) -> bool:
        if self.backend != other.backend:
            return False
        if self.backend == "file":
            return same_folder(self.location, other.location)
        return same_redis(self.location, other.location)

    def shown(self) -> str:
        """The argument and its store, a URL's password masked."""
        if self.backend == "file":
            return f"{self.argument} file:{self.location}"
        return f"{self.argument} {masked(self.location)}"


def masked(text: str) -> str:
    """text with a URL's password replaced by ***."""
    return _PASSWORD.sub(_MASKED, text)


@dataclass
class Counts:
    copied: int = 0
    expired: int = 0  # expired, or gone from the source meanwhile
    present: int = 0
    seconds: float = field(default=0.0)

    def summary(self, move: bool) -> str:
        verb = "moved" if move else "copied"
        rate = self.copied / self.seconds if self.seconds > 0 else 0.0
        return (f"{verb} {self.copied}, skipped {self.expired} expired, {self.present} already there "
                f"({self.seconds:.1f} s, {rate:.0f} sessions/s)")


async def run(source_text: str, target_text: str, *, move: bool, prefix: str, progress: bool) -> Counts:
    """Copy (or move) every session; Refused before anything is changed, StoreUnavailable midway."""
    source_address = Address.parse(source_text, "--from")
    target_address = Address.parse(target_text, "--to")
    if source_address.same_store(target_address):
        raise Refused(f"--from and --to name the same store ({masked(source_text)}): expected two different stores")
    if source_address.backend == "file" and not Path(source_address.location).is_dir():
        raise Refused(f"cannot read {source_address.shown()}: not a folder")
    source = _open(source_address, prefix)
    target = None
    try:
        await _reachable(source, source_address)
        target = _open(target_address, prefix)
        await _reachable(target, target_address, writes=True)
        return await _copy_all(source, target, move=move, progress=progress)
    finally:
        for store in (source, target):
            if store is not None:
                await store.close()


def _open(address: Address, prefix: str) -> SessionStore:
    if address.backend == "file":
        folder = Path(address.location)
        if not folder.is_dir() and not folder.parent.is_dir():
            raise Refused(f"cannot write {address.shown()}: {folder.parent} is not a folder")
        settings = StoreSettings(directory=folder, retries=2)
    else:
        settings = StoreSettings(url=address.location, key_prefix=prefix, retries=1)
    try:
        return registry.create(address.backend, settings)
    except (OSError, ValueError) as error:
        raise Refused(f"cannot open {address.shown()}: {error}") from None


async def _reachable(store: SessionStore, address: Address, *, writes: bool = False) -> None:
    try:
        await store.ping()
    except StoreFull as error:
        if writes:
            raise Refused(f"cannot write {address.shown()}: it refuses writes ({error.state})") from None
    except StoreUnavailable as error:
        raise Refused(f"cannot reach {address.shown()}: {error}") from None


async def _copy_all(source: SessionStore, target: SessionStore, *, move: bool, progress: bool) -> Counts:
    started = time.monotonic()
    ids = [session_id async for session_id in source.session_ids()]
    counts = Counts()
    bar = _progress_bar(len(ids), move) if progress else None
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(session_id: str) -> None:
        async with gate:
            outcome = await transfer(source, target, session_id, delete=move)
        if outcome == MOVED:
            counts.copied += 1
        elif outcome == PRESENT:
            counts.present += 1
        else:
            assert outcome == MISSING
            counts.expired += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(copied=counts.copied, expired=counts.expired, there=counts.present, refresh=False)

    try:
        await asyncio.gather(*(one(session_id) for session_id in ids))
    finally:
        if bar is not None:
            bar.close()
        counts.seconds = time.monotonic() - started
    return counts


def _progress_bar(total: int, move: bool):
    from tqdm import tqdm  # only on a terminal

    return tqdm(total=total, unit="session", desc="moving" if move else "copying", file=sys.stderr)


def main(source: str, target: str, *, move: bool, prefix: str) -> int:
    try:
        counts = asyncio.run(run(source, target, move=move, prefix=prefix, progress=sys.stderr.isatty()))
    except Refused as error:
        print(f"python -m sessions copy: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:
        print(f"python -m sessions copy: stopped: {error} (what was copied stays; run it again to go on)",
              file=sys.stderr)
        return 1
    print(counts.summary(move))
    return 0
