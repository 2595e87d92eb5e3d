"""Limits on how often someone may try: login failures with exponential back-off, and token buckets
for creating things (accounts, sessions). Knows nothing of HTTP: keys are plain strings (an address,
a username), times come from a clock that tests can replace.

State lives in this process only: with several processes or replicas each keeps its own, so the
limits hold per process (an attacker spread over N processes gets N times the allowance). On Redis,
handlers/limits.py counts the same rules there, fleet-wide, and falls back to these when it cannot.
Every table is bounded (`max_keys`); the oldest entries go first, so a flood of fresh keys costs a
fixed amount of memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass
class _Failures:
    count: int
    last_failure: float
    locked_until: float


class FailureThrottle:
    """Counts failures per key; after `free_failures` of them, each further failure locks the key for
    `first_delay * 2**k` seconds (k = failures beyond the free ones, minus one), at most `max_delay`.
    Attempts refused while locked are not failures: hammering does not lengthen the wait. A key
    that fails no more for `forget_after` seconds starts afresh; a success clears it."""

    def __init__(self, *, free_failures: int, first_delay: float, max_delay: float,
                 forget_after: float | None = None, max_keys: int = 100_000,
                 clock: Clock = time.monotonic) -> None:
        if free_failures < 1 or first_delay <= 0 or max_delay < first_delay:
            raise ValueError("need free_failures >= 1 and 0 < first_delay <= max_delay")
        self.free_failures = free_failures
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.forget_after = forget_after if forget_after is not None else max(4 * max_delay, 900.0)
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until key may try again; 0 when it may now."""
        entry = self._current(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - self._clock())

    def failed(self, key: str) -> float:
        """Record a failure; returns the seconds key must now wait (0 while failures are free)."""
        now = self._clock()
        entry = self._current(key) or _Failures(0, now, 0.0)
        entry.count += 1
        entry.last_failure = now
        beyond = entry.count - self.free_failures
        if beyond >= 0:
            # 2**beyond overflows long before a float does: cap the exponent first.
            delay = self.first_delay * 2 ** min(beyond, 64)
            entry.locked_until = now + min(delay, self.max_delay)
        self._keys[key] = entry
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return max(0.0, entry.locked_until - now)

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)

    def failures(self, key: str) -> int:
        entry = self._current(key)
        return 0 if entry is None else entry.count

    def _current(self, key: str) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and self._clock() - entry.last_failure > self.forget_after \
                and entry.locked_until <= self._clock():
            del self._keys[key]
            return None
        return entry


class LoginThrottle:
    """Two throttles on logins, one per client address and one per username.

    Per address (strict): `free_failures` wrong passwords, then a lock that doubles with every
    further failure, up to `max_delay` (minutes). One guesser at one address gets a few tries, then
    one try per lock.

    Per username (looser and short): twice the free failures, counted over every address, and a
    lock of at most `max_username_delay` (a minute by default). It slows a guesser who spreads over
    many addresses, without letting that guesser lock the owner out for long: the owner, at their
    own address, waits at most that minute, whatever the attacker does. A single address that
    guesses is stopped by its own lock after `free_failures`, well before it can trip the username's
    (its refused attempts are not counted), so the owner at another address is not held up at all.

    A success clears both the address and the username."""

    def __init__(self, *, free_failures: int = 5, first_delay: float = 1.0, max_delay: float = 900.0,
                 max_username_delay: float = 60.0, max_keys: int = 100_000, clock: Clock = time.monotonic) -> None:
        self.by_address = FailureThrottle(free_failures=free_failures, first_delay=first_delay,
                                          max_delay=max_delay, max_keys=max_keys, clock=clock)
        self.by_username = FailureThrottle(free_failures=2 * free_failures, first_delay=first_delay,
                                           max_delay=min(max_username_delay, max_delay),
                                           max_keys=max_keys, clock=clock)

    def retry_after(self, address: str, username: str) -> float:
        """Seconds this address must wait before trying this username; 0 when it may now."""
        return max(self.by_address.retry_after(address), self.by_username.retry_after(username))

    def failed(self, address: str, username: str) -> float:
        return max(self.by_address.failed(address), self.by_username.failed(username))

    def succeeded(self, address: str, username: str) -> None:
        self.by_address.succeeded(address)
        self.by_username.succeeded(username)


class TokenBucket:
    """Per key, a bucket of `burst` tokens refilled at `rate` tokens a second; each `take` spends one.
    A fresh key starts full, so a person's first actions are never held up."""

    def __init__(self, *, rate: float, burst: int, max_keys: int = 100_000, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("need rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        # key -> (tokens, when they were counted); ordered by last use, for the bound.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend a token: 0 when there was one, else the seconds until there is (nothing spent)."""
        now = self._clock()
        tokens, counted_at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - counted_at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            self._buckets.move_to_end(key)
            if len(self._buckets) > self.max_keys:
                # The least recently used bucket goes; a full one would be recreated full anyway.
                self._buckets.popitem(last=False)
            return 0.0
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        return (1 - tokens) / self.rate


def whole_seconds(delay: float) -> int:
    """A wait as a Retry-After value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(delay))
