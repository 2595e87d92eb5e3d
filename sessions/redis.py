"""RedisStore: sessions in Redis, shared by every process and machine that uses the same Redis.

Keys (all under one prefix, `shop:session:` by default):
    <prefix><id>        a session: its JSON, with a Redis expiry equal to its ttl (Redis expires it;
                        nothing here ever sweeps)
    <prefix>lock:<id>   the lock of `locked(id)`: an owner token with a lease, so a holder that dies
                        blocks the session for at most the lease
    <prefix>owner:<key> the owner index: a sorted set of an owner's session ids, scored by when each
                        was added (key: a digest of the owner, store.owner_key); it expires once
                        the longest-lived of its sessions must have

A change made under the lock leaves its token in the session's own JSON (the last RECEIPTS tokens,
under RECEIPTS_FIELD, never shown to the caller): a retry after a lost answer finds it there and
knows its change was made. A receipt costs a few bytes inside a key that exists anyway.

A Redis that refuses writes (at `maxmemory` with `noeviction`: OOM; a read-only replica: READONLY)
raises StoreFull: reads and deletes still work there, and `ping` says which.

Through Redis Sentinel (sessions.sentinel), every connection finds the primary by asking the
sentinels, and READONLY, a refused or a lost connection is a failover to follow: retried (the retry
asks again), not StoreFull. With min_replicas, a change (save, the release's write, destroy, the owner
index's writes) is acknowledged only once WAIT has seen it on that many replicas; otherwise
StoreUnavailable with maybe_written: a change the primary alone has can be lost in a failover.

No request ever runs KEYS or SCAN; only `stats` (for the CLI) scans.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import codec
from .events import NO_EVENTS, SessionEvents
from .redis_wire import Unreplicated, wait_timeout_ms
from .sentinel import DEFAULT_MASTER, RedisPrimary
from .store import (
    LockedSession,
    StoreFull,
    StoreSettings,
    StoreStats,
    StoreUnavailable,
    check_session_id,
    is_valid_session_id,
    owner_key,
    roll_due,
    short_id,
)

log = logging.getLogger("sessions.redis")

T = TypeVar("T")

ID_LENGTH = 43
# How many sessions' expiries a process remembers (see RedisStore._expiries): the most recently
# used; one forgotten costs its next read a GETEX instead of a GET, nothing more.
_EXPIRIES_KEPT = 100_000
_SCAN_BATCH = 1_000

# Worth another try: the connection broke, could not be made, or an answer did not come in time.
# Anything else (a wrong password, a script error, a full Redis refusing writes) will not fix itself.
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)

# Take the lock, or find we already hold it (a retry after an answer that got lost), and read the
# session in the same round trip.
_ACQUIRE = """
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) or redis.call('GET', KEYS[2]) == ARGV[1] then
    return {1, redis.call('GET', KEYS[1])}
end
return {0}
"""

# Only while we still own the lock: apply the pending change and release, all in one step. A holder
# whose lease ran out (and whose lock someone else may hold now) changes nothing: 1 then only if the
# change is there already (a retry after a lost answer): the saved JSON holds our receipt (ARGV[5],
# the token as JSON writes it), a destroyed session is gone; "none" had nothing to write. A change
# found done answers 2, not 1: this call wrote nothing, so a WAIT behind it proves nothing about it.
_RELEASE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    if ARGV[2] == 'save' then
        local value = redis.call('GET', KEYS[1])
        if value and string.find(value, ARGV[5], 1, true) then return 2 end
        return 0
    elseif ARGV[2] == 'destroy' then
        return 2 * (1 - redis.call('EXISTS', KEYS[1]))
    end
    return 1
end
if ARGV[2] == 'save' then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
elseif ARGV[2] == 'destroy' then
    redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[2])
return 1
"""
# A Redis with noeviction counts as full once less than this share of its maxmemory is free: its
# memory use moves by tens of kilobytes (buffers) without any writes, so "over the limit" flickers,
# while a write that needs more than what is left is refused either way.
FULL_HEADROOM = 0.02

# Where a session's JSON keeps the tokens of its last RECEIPTS changes. A retry comes within a second
# or so, while at most a change or two of the same session's other requests can come in between.
RECEIPTS_FIELD = "__receipts__"
RECEIPTS = 3

# Add an entry to an owner's index, and make the index live at least as long as that session can.
_ADD_OWNED = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' and redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
"""


class RedisStore:
    name = "redis"
    # Redis deletes an expired key itself: sweep_expired has nothing to do.
    expires_by_itself = True

    def __init__(self, url: str, *, prefix: str = "shop:session:", timeout: float = 2.0, retries: int = 5,
                 retry_delay: float = 0.05, lock_lease: float = 10.0, lock_timeout: float = 30.0,
                 events: SessionEvents = NO_EVENTS, sentinels: Iterable[tuple[str, int]] = (),
                 sentinel_master: str = DEFAULT_MASTER, min_replicas: int = 0) -> None:
        """url: the Redis, unless sentinels (host, port pairs) are given: then the primary they
        monitor as sentinel_master, wherever they say it is now."""
        if retries < 0 or min_replicas < 0:
            raise ValueError("retries and min_replicas must be 0 or more")
        self.events = events
        if timeout <= 0 or lock_lease <= 0 or lock_timeout <= 0:
            raise ValueError("timeout, lock_lease and lock_timeout must be positive")
        self.prefix = prefix
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.lock_lease = lock_lease
        self.lock_timeout = lock_timeout
        self.min_replicas = min_replicas
        # One pool for the process. Connections are made on first use, so a Redis that is not up
        # yet does not stop the start; a connection that broke is dropped and made again on the
        # next call (through Sentinel: to wherever the primary is then). redis-py's own retries are
        # off: ours below count SESSION_RETRIES.
        self._primary = RedisPrimary(url, sentinels=tuple(sentinels), master=sentinel_master, timeout=timeout)
        self._redis = self._primary.client
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)
        self._add_owned = self._redis.register_script(_ADD_OWNED)
        # A request's own commands go on a wire of their own (redis_wire.py: a tenth of the CPU per
        # command); None for a TLS URL, whose commands then go through redis-py too.
        self._wire = self._primary.wire()
        # Changes that WAIT for replicas go on a wire of their own: a WAIT holds its connection
        # until the replicas answer, and the reads behind it need not wait with it.
        self._writes = self._primary.wire() if min_replicas and self._wire is not None else self._wire
        self._background: set[asyncio.Task] = set()
        # The expiry (time.time()) this process last gave each session, by a write or a roll: a
        # read is a plain GET until a roll is due (store.roll_due), a GETEX then. Only ever a lower
        # bound, as other processes only move an expiry later (a rolled or saved session) or
        # delete the key (then GET finds nothing), so no roll that is due is skipped.
        self._expiries: OrderedDict[str, float] = OrderedDict()
        # A write was refused as out of memory, and none succeeded since: full, whatever INFO says.
        self._refused_as_full = False

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> RedisStore:
        if settings.url is None and not settings.sentinels:
            raise ValueError("the redis store needs a url or sentinels")
        options: dict = {"retries": settings.retries, "events": settings.events or NO_EVENTS}
        if settings.key_prefix is not None:
            options["prefix"] = settings.key_prefix
        if settings.timeout is not None:
            options["timeout"] = settings.timeout
        if settings.sentinels:
            options.update(sentinels=settings.sentinels, sentinel_master=settings.sentinel_master or DEFAULT_MASTER)
        return cls(settings.url, min_replicas=settings.min_replicas, **options)

    # -- the SessionStore protocol ----------------------------------------------------------------

    async def load(self, session_id: str, *, extend_ttl: int | None = None) -> dict | None:
        key = self._key(check_session_id(session_id))
        now = time.time()
        if extend_ttl is None or not roll_due(self._expiries.get(session_id, now) - now, extend_ttl):
            raw = await self._call("read", session_id, lambda: self._command("GET", key))
        else:
            raw = await self._call("read", session_id, lambda: self._command("GETEX", key, "PX", _ms(extend_ttl)))
            if raw is not None:
                self._remember_expiry(session_id, now + extend_ttl)
        if raw is None:
            self._expiries.pop(session_id, None)
        return _without_receipts(self._decode(session_id, raw))

    async def save(self, session_id: str, data: dict, ttl: int) -> None:
        key = self._key(check_session_id(session_id))
        payload = _encode(data)  # a TypeError for data that is not JSON belongs to the caller
        expires_at = time.time() + ttl
        await self._call("write", session_id, lambda: self._command("SET", key, payload, "PX", _ms(ttl), confirm=True))
        self._remember_expiry(session_id, expires_at)

    async def destroy(self, session_id: str) -> None:
        """Delete the session and its lock: works on a full Redis (DEL needs no memory), and a
        request still holding the lock then writes nothing back (its release finds the lock gone)."""
        check_session_id(session_id)
        self._expiries.pop(session_id, None)
        keys = (self._key(session_id), self._lock_key(session_id))
        await self._call("delete", session_id, lambda: self._command("DEL", *keys, confirm=True))

    async def sweep_expired(self) -> int:
        # Redis deletes expired keys itself: there is never anything left to sweep.
        return 0

    async def stats(self) -> StoreStats:
        """Scans the prefix: for the CLI and an operator, never on a request's path."""
        # Exactly prefix + 43 characters: sessions, not their locks.
        pattern = _glob_escape(self.prefix) + "?" * ID_LENGTH
        sessions = size = 0
        cursor = 0
        while True:
            cursor, keys = await self._call(
                "scan", "*", lambda: self._redis.scan(cursor, match=pattern, count=_SCAN_BATCH))
            if keys:
                async def lengths() -> list[int]:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for key in keys:
                            pipe.strlen(key)
                        return await pipe.execute()

                found = [length for length in await self._call("scan", "*", lengths) if length]
                sessions += len(found)
                size += sum(found)
            if cursor == 0:
                return StoreStats(backend=self.name, sessions=sessions, expired=0, bytes=size)

    async def expires_in(self, session_id: str) -> float | None:
        key = self._key(check_session_id(session_id))
        left_ms = await self._call("read", session_id, lambda: self._command("PTTL", key))
        # -2: no such key; -1: a key without expiry (never written so by a store)
        return left_ms / 1000 if isinstance(left_ms, int) and left_ms > 0 else None

    async def session_ids(self) -> AsyncIterator[str]:
        """Scans the prefix: for the CLI, never on a request's path."""
        pattern = _glob_escape(self.prefix) + "?" * ID_LENGTH
        cursor = 0
        while True:
            cursor, keys = await self._call(
                "scan", "*", lambda: self._redis.scan(cursor, match=pattern, count=_SCAN_BATCH))
            for key in keys:
                session_id = key.decode()[len(self.prefix):]
                if is_valid_session_id(session_id):
                    yield session_id
            if cursor == 0:
                return

    @contextlib.asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[LockedSession]:
        check_session_id(session_id)
        token = secrets.token_hex(8)
        data = await self._lock_and_read(session_id, token)
        receipts = _receipts(data)
        held = LockedSession(session_id, _without_receipts(data))
        try:
            yield held
            if held.pending_save is not None:
                stored = {**held.pending_save[0], RECEIPTS_FIELD: [*receipts, token][-RECEIPTS:]}
                payload, ttl = _encode(stored), held.pending_save[1]
                change = ("save", payload, _ms(ttl))
            elif held.pending_destroy:
                change = ("destroy", "", 0)
            else:
                change = ("none", "", 0)
        except BaseException:
            await self._unlock_quietly(session_id, token)
            raise
        await self._apply_and_unlock(session_id, token, *change)

    # -- the OwnerIndex protocol: a sorted set per owner -------------------------------------------------

    async def add_owned(self, owner: str, session_id: str, ttl: int | None) -> None:
        key = self._owner_key(owner)
        check_session_id(session_id)
        args = [time.time(), session_id, "" if ttl is None else _ms(ttl)]
        if not self.min_replicas:
            await self._call("index", session_id, lambda: self._add_owned(keys=[key], args=args))
            return
        await self._call("index", session_id, lambda: self._confirmed_pipeline(
            lambda pipe: self._add_owned(keys=[key], args=args, client=pipe)))

    async def discard_owned(self, owner: str, session_ids: Iterable[str]) -> None:
        key = self._owner_key(owner)
        ids = [check_session_id(session_id) for session_id in session_ids]
        if ids and not self.min_replicas:
            await self._call("unindex", ids[0], lambda: self._redis.zrem(key, *ids))
        elif ids:
            await self._call("unindex", ids[0], lambda: self._confirmed_pipeline(lambda pipe: pipe.zrem(key, *ids)))

    async def owned(self, owner: str) -> dict[str, float]:
        key = self._owner_key(owner)
        entries = await self._call("list the index of", "*", lambda: self._redis.zrange(key, 0, -1, withscores=True))
        return {member.decode(): score for member, score in entries}

    async def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers within the timeout, for /healthz, and
        StoreFull when it answers but refuses writes: at its `maxmemory` with `noeviction`
        ("full"), or a read-only replica ("read_only"). A second try only when the first found a
        connection broken, as one left over from before a restart, or, through Sentinel, a
        replica: a connection to a primary demoted since (reads raise no READONLY to drop it)."""
        for attempt in range(2):
            try:
                info = await asyncio.wait_for(self._redis.info(), self.timeout)
                if attempt == 0 and self._primary.through_sentinel and info.get("role") == "slave":
                    await self._drop_idle_connections()
                    continue
                break
            except _TRANSIENT as error:
                failure = error
                await self._drop_idle_connections()
            except (RedisError, asyncio.TimeoutError) as error:
                failure = error
                raise StoreUnavailable(f"redis does not answer: {_reason(failure)}", kind=_kind(failure)) from None
        else:
            raise StoreUnavailable(f"redis does not answer: {_reason(failure)}", kind=_kind(failure)) from None
        if info.get("role") == "slave" and str(info.get("slave_read_only", 1)) == "1":
            raise StoreFull("redis is a read-only replica", state="read_only")
        maxmemory, used = int(info.get("maxmemory") or 0), int(info.get("used_memory") or 0)
        limited = maxmemory and info.get("maxmemory_policy") == "noeviction"
        if not limited or used < maxmemory * 0.9:
            self._refused_as_full = False  # the limit was lifted, or memory freed: writes will go
        if limited and used >= maxmemory * (1 - FULL_HEADROOM) or self._refused_as_full:
            raise StoreFull(f"redis is full: {used} of maxmemory {maxmemory} bytes used, "
                            f"{'a write was refused (OOM)' if self._refused_as_full else 'noeviction'}")

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for wire in {self._wire, self._writes} - {None}:
            wire.close()
        await self._primary.close()

    # -- the lock -------------------------------------------------------------------------------------

    async def _lock_and_read(self, session_id: str, token: str) -> dict | None:
        keys = [self._key(session_id), self._lock_key(session_id)]
        lease = str(_ms(self.lock_lease))
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.002
        while True:
            try:
                answer = await self._call(
                    "lock", session_id, lambda: self._script(self._acquire, keys, [token, lease]))
            except BaseException:
                # Cancelled (or failed) after the script may have run: give back what we may hold.
                self._unlock_in_background(session_id, token)
                raise
            if answer[0] == 1:
                return self._decode(session_id, answer[1])
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"session {short_id(session_id)} stayed locked for {self.lock_timeout}s",
                                       kind="timeout")
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.1)

    async def _apply_and_unlock(self, session_id: str, token: str, action: str, payload: str, ttl_ms: int) -> None:
        keys = self._release_keys(session_id)
        receipt = codec.encode(token).decode()
        unanswered = False

        async def release() -> int:
            nonlocal unanswered
            try:
                return await self._script(self._release, keys, [token, action, payload, ttl_ms, receipt],
                                          confirm=action != "none")
            except _TRANSIENT:
                # Sent, maybe run, answer lost: until a retry finds the receipt, nobody knows.
                unanswered = action != "none"
                raise

        expires_at = time.time() + ttl_ms / 1000
        try:
            # A retry whose first try ran but lost its answer finds the receipt: 2, done already.
            done = await self._call("write", session_id, release)
            if done == 2 and self.min_replicas:
                raise StoreUnavailable(f"cannot confirm the write of session {short_id(session_id)}: it was made "
                                       "by a try whose answer was lost, and no replica was seen to have it",
                                       maybe_written=True, kind="timeout")
            if done in (1, 2):
                if action == "save":
                    self._remember_expiry(session_id, expires_at)
                elif action == "destroy":
                    self._expiries.pop(session_id, None)
                return
        except StoreUnavailable as error:
            if error.maybe_written and self._primary.through_sentinel:
                # The primary may have been demoted under this change, and the new one still hold
                # our lock (its release went to the old one): free it there, not after its lease.
                self._unlock_in_background(session_id, token, follow=True)
            if unanswered and not isinstance(error, StoreFull):
                raise StoreUnavailable(f"{error} (the change may have been written)", maybe_written=True,
                                       kind=error.kind) from None
            raise
        raise StoreUnavailable(
            f"lost the lock of session {short_id(session_id)} (its {self.lock_lease}s lease ran out "
            "before the change was written): nothing was written", maybe_written=unanswered, kind="timeout")

    async def _unlock_quietly(self, session_id: str, token: str, follow: bool = False) -> None:
        """Release our lock if we still hold it; with follow, retried as any call (to a new primary)."""
        args = [token, "none", "", 0, ""]
        try:
            if follow:
                await self._call("unlock", session_id,
                                 lambda: self._script(self._release, self._release_keys(session_id), args))
            else:
                await self._script(self._release, self._release_keys(session_id), args)
        except (RedisError, OSError, StoreUnavailable) as error:
            # The lease frees the session anyway; the block's own error is the one to report.
            log.warning("cannot release the lock of session %s (the lease will): %s",
                        short_id(session_id), _reason(error))

    def _unlock_in_background(self, session_id: str, token: str, follow: bool = False) -> None:
        task = asyncio.ensure_future(self._unlock_quietly(session_id, token, follow))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- helpers -------------------------------------------------------------------------------------

    def _command(self, *args: str | bytes | int, confirm: bool = False) -> Awaitable:
        """One command; with confirm, a change, acknowledged once min_replicas have it (Unreplicated)."""
        replicas = self.min_replicas if confirm else 0
        if self._wire is not None:
            return (self._writes if replicas else self._wire).call(*args, replicas=replicas)
        if replicas:
            return self._confirmed_pipeline(lambda pipe: pipe.execute_command(*args))
        return self._redis.execute_command(*args)

    def _script(self, script: AsyncScript, keys: list[str], args: list, confirm: bool = False) -> Awaitable:
        replicas = self.min_replicas if confirm else 0
        if self._wire is not None:
            return (self._writes if replicas else self._wire).script(script.sha, script.script, keys, args,
                                                                     replicas=replicas)
        if replicas:
            return self._confirmed_pipeline(lambda pipe: script(keys=keys, args=args, client=pipe))
        return script(keys=keys, args=args)

    async def _confirmed_pipeline(self, add: Callable[[Any], object]) -> Any:
        """What add() puts in a pipeline, then WAIT for min_replicas on the same connection (WAIT
        counts the replicas that have that connection's writes): the first answer, or Unreplicated."""
        async with self._redis.pipeline(transaction=False) as pipe:
            queued = add(pipe)
            if asyncio.iscoroutine(queued):
                await queued  # a script's call queues it in the pipeline as a coroutine
            pipe.execute_command("WAIT", self.min_replicas, wait_timeout_ms(self.timeout))
            answer, acknowledged = await pipe.execute()
        if acknowledged < self.min_replicas:
            raise Unreplicated(f"the write was made, but only {acknowledged} of the {self.min_replicas} "
                               "replica(s) asked for had it in time")
        return answer

    def _remember_expiry(self, session_id: str, expires_at: float) -> None:
        self._expiries[session_id] = expires_at
        self._expiries.move_to_end(session_id)
        if len(self._expiries) > _EXPIRIES_KEPT:
            self._expiries.popitem(last=False)

    def _key(self, session_id: str) -> str:
        return self.prefix + session_id

    def _owner_key(self, owner: str) -> str:
        return self.prefix + "owner:" + owner_key(owner)

    def _lock_key(self, session_id: str) -> str:
        return self.prefix + "lock:" + session_id

    def _release_keys(self, session_id: str) -> list[str]:
        return [self._key(session_id), self._lock_key(session_id)]

    async def _call(self, what: str, session_id: str, operation: Callable[[], Awaitable[T]]) -> T:
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                result = await operation()
                if what in ("write", "lock"):
                    self._refused_as_full = False
                return result
            except _TRANSIENT as error:
                await self._drop_idle_connections()
                if attempt + 1 == attempts:
                    raise StoreUnavailable(f"cannot {what} session {short_id(session_id)} after {attempts} "
                                           f"tries: {_reason(error)}", kind=_kind(error)) from error
            except Unreplicated as error:
                raise StoreUnavailable(f"cannot confirm the {what} of session {short_id(session_id)}: {error}",
                                       maybe_written=True, kind="timeout") from None
            except OutOfMemoryError as error:
                self._refused_as_full = True
                raise StoreFull(f"cannot {what} session {short_id(session_id)}: redis is full: "
                                f"{_reason(error)}") from error
            except ReadOnlyError as error:
                raise StoreFull(f"cannot {what} session {short_id(session_id)}: redis is read-only: "
                                f"{_reason(error)}", state="read_only") from error
            except RedisError as error:
                raise StoreUnavailable(f"cannot {what} session {short_id(session_id)}: {_reason(error)}",
                                       kind=_kind(error)) from error
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    async def _drop_idle_connections(self) -> None:
        # What broke one connection (Redis restarted, a network blip) most likely broke the idle
        # ones too: drop them, so that each does not fail one more request before it is replaced.
        # Connections in use by other requests are theirs to find out about.
        for wire in {self._wire, self._writes} - {None}:
            wire.close_if_idle()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.connection_pool.disconnect(inuse_connections=False)

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so the retries of many requests do not arrive in step.
        return min(self.retry_delay * (2 ** attempt), 1.0) * random.uniform(0.5, 1.5)

    def _decode(self, session_id: str, raw: bytes | None) -> dict | None:
        if raw is None:
            return None
        try:
            data = codec.decode(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.events.store_failure(self.name, "read", "corrupt")
            log.warning("session %s does not hold a JSON object: read as no session", short_id(session_id))
            return None
        return data


def _receipts(data: dict | None) -> list[str]:
    raw = data.get(RECEIPTS_FIELD) if data else None
    return [token for token in raw if isinstance(token, str)] if isinstance(raw, list) else []


def _without_receipts(data: dict | None) -> dict | None:
    if data is not None:
        data.pop(RECEIPTS_FIELD, None)
    return data


def _encode(data: dict) -> bytes:
    return codec.encode(data)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _kind(error: BaseException) -> str:
    """The kind of a failed call, as sessions.events.FAILURE_KINDS names it."""
    if isinstance(error, (RedisTimeoutError, asyncio.TimeoutError)):
        return "timeout"
    return "unavailable"  # a full Redis is StoreFull, whose kind is "full"


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
