"""The login throttle and the rate limits as handlers use them: counted in this process
(shop/throttle.py), or, with SESSION_BACKEND=redis, in Redis, where every worker of every replica
shares one count, so that a client gets exactly the configured figures from the whole fleet.

When Redis cannot be asked (down, slow past SESSION_REDIS_TIMEOUT, full), a limit falls back to
its process's own counter, the one the file and memory backends use, and logs one line: logins and
new sessions stay possible, limited per process, rather than refused or answered with a 500.

Keys (under SESSION_REDIS_PREFIX, e.g. `shop:session:limit:a:<sha-256 hex>`): `a` a login address,
`u` a username (case-folded), `r` registrations, `s` new sessions, each a hash with a Redis expiry.
Hashed, so that Redis holds no address or username, every key has one length (never a session's),
and any key fits. The clock is Redis's own (TIME), the same for every replica.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from shop.throttle import FailureThrottle, LoginThrottle, TokenBucket

log = logging.getLogger("shop.limits")

# Spend one token of a bucket (KEYS[1]) refilled at ARGV[1] tokens a second up to ARGV[2]: returns
# the seconds to wait ("0" when a token was spent), as text (Lua numbers become integers otherwise).
_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""

# The longest wait among the keys' locks, in seconds, as text.
_WAIT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local wait = 0
for _, key in ipairs(KEYS) do
    local locked_until = tonumber(redis.call('HGET', key, 'until')) or 0
    wait = math.max(wait, locked_until - now)
end
return tostring(wait)
"""

# A failure for each key, with ARGV holding four figures per key (free failures, first delay,
# longest delay, forget after: FailureThrottle's rules): the longest wait that results, as text.
_FAIL = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local wait = 0
for i, key in ipairs(KEYS) do
    local free, first = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2])
    local longest, forget = tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i])
    local count = redis.call('HINCRBY', key, 'count', 1)
    local locked_until = tonumber(redis.call('HGET', key, 'until')) or 0
    local beyond = count - free
    if beyond >= 0 then
        locked_until = now + math.min(first * 2 ^ math.min(beyond, 64), longest)
        redis.call('HSET', key, 'until', tostring(locked_until))
    end
    redis.call('PEXPIRE', key, math.ceil(math.max(forget, locked_until - now) * 1000))
    wait = math.max(wait, locked_until - now)
end
return tostring(wait)
"""


class SharedCounters:
    """The Redis side: one client per process (its own pool, apart from the session store's), and
    the scripts above. Every method raises one of `errors` when Redis cannot answer."""

    def __init__(self, url: str, *, prefix: str, timeout: float, sentinels: tuple[tuple[str, int], ...] = (),
                 sentinel_master: str = "shop") -> None:
        """At url, or, with sentinels, at the primary they monitor as sentinel_master (following a
        failover as the session store does: sessions.sentinel)."""
        # Imported only when the shop runs on Redis, as the session store's client is.
        import redis.exceptions

        from sessions.sentinel import RedisPrimary

        self.prefix = prefix + "limit:"
        self.errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        # No retry: a limit that cannot be asked at once falls back to the process's own count.
        self._primary = RedisPrimary(url, sentinels=sentinels, master=sentinel_master, timeout=timeout)
        self._redis = self._primary.client
        self._take = self._redis.register_script(_TAKE)
        self._wait = self._redis.register_script(_WAIT)
        self._fail = self._redis.register_script(_FAIL)

    def key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()}"

    async def take(self, key: str, rate: float, burst: int) -> float:
        return float(await self._take(keys=[key], args=[repr(rate), burst]))

    async def wait(self, keys: list[str]) -> float:
        return max(0.0, float(await self._wait(keys=keys)))

    async def fail(self, keys: list[str], rules: list[FailureThrottle]) -> float:
        args: list[Any] = []
        for rule in rules:
            args += [rule.free_failures, repr(rule.first_delay), repr(rule.max_delay), repr(rule.forget_after)]
        return max(0.0, float(await self._fail(keys=keys, args=args)))

    async def clear(self, keys: list[str]) -> None:
        await self._redis.delete(*keys)

    async def close(self) -> None:
        await self._primary.close()


class RateLimit:
    """A token bucket per client key: in Redis when shared is given (at the fleet's figures, rate
    and burst), else, and whenever Redis cannot be asked, in local (this process's share)."""

    def __init__(self, kind: str, local: TokenBucket, shared: SharedCounters | None = None, *,
                 rate: float = 0.0, burst: int = 0) -> None:
        self.kind = kind
        self.local = local
        self.shared = shared
        self.rate = rate
        self.burst = burst

    async def take(self, key: str) -> float:
        """Spend one of key's tokens: 0 when there was one, else the seconds until there is."""
        if self.shared is not None:
            try:
                return await self.shared.take(self.shared.key(self.kind, key), self.rate, self.burst)
            except self.shared.errors as error:
                log.warning("rate limit %s counted in this process: Redis cannot be asked (%s)", self.kind,
                            type(error).__name__)
        return self.local.take(key)


class LoginLimit:
    """The login throttle (shop.throttle.LoginThrottle's rules: per address and per username): in
    Redis when shared is given, else, and whenever Redis cannot be asked, in local."""

    def __init__(self, local: LoginThrottle, shared: SharedCounters | None = None) -> None:
        self.local = local
        self.shared = shared

    async def retry_after(self, address: str, username: str) -> float:
        """Seconds this address must wait before trying this username; 0 when it may now."""
        if self.shared is not None:
            try:
                return await self.shared.wait(self._keys(address, username))
            except self.shared.errors as error:
                self._fall_back(error)
        return self.local.retry_after(address, username)

    async def failed(self, address: str, username: str) -> float:
        """Record a failed login; the seconds the address or the username must now wait."""
        if self.shared is not None:
            try:
                return await self.shared.fail(self._keys(address, username),
                                              [self.local.by_address, self.local.by_username])
            except self.shared.errors as error:
                self._fall_back(error)
        return self.local.failed(address, username)

    async def succeeded(self, address: str, username: str) -> None:
        """A login that worked clears both counts."""
        self.local.succeeded(address, username)
        if self.shared is not None:
            try:
                await self.shared.clear(self._keys(address, username))
            except self.shared.errors as error:
                self._fall_back(error)

    def _keys(self, address: str, username: str) -> list[str]:
        assert self.shared is not None
        return [self.shared.key("a", address), self.shared.key("u", username)]

    @staticmethod
    def _fall_back(error: BaseException) -> None:
        log.warning("login throttle counted in this process: Redis cannot be asked (%s)", type(error).__name__)
