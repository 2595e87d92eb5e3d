"""handlers/limits.py without a Redis to ask: every limit falls back to its process's own counter
(and logs it), so a login or a new session is limited per process, never refused with a 500."""

import asyncio
import logging

from handlers.limits import LoginLimit, RateLimit, SharedCounters
from shop.throttle import LoginThrottle, TokenBucket
from tests.shop_process import free_port


def _nowhere() -> SharedCounters:
    # A port nobody listens on: every call fails at once with a connection error.
    return SharedCounters(f"redis://127.0.0.1:{free_port()}/0", prefix="test:", timeout=0.5)


def test_a_rate_limit_counts_in_the_process_when_redis_cannot_be_asked(caplog):
    async def scenario() -> list[float]:
        shared = _nowhere()
        limit = RateLimit("s", TokenBucket(rate=1 / 60, burst=2), shared, rate=1, burst=60)
        try:
            return [await limit.take("192.0.2.1") for _ in range(3)]
        finally:
            await shared.close()

    with caplog.at_level(logging.WARNING, logger="shop.limits"):
        waits = asyncio.run(scenario())
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0
    assert "counted in this process" in caplog.text


def test_the_login_throttle_counts_in_the_process_when_redis_cannot_be_asked():
    async def scenario() -> tuple[float, float]:
        shared = _nowhere()
        limit = LoginLimit(LoginThrottle(free_failures=2, first_delay=30, max_delay=60), shared)
        try:
            for _ in range(2):
                await limit.failed("192.0.2.1", "demo")
            locked = await limit.retry_after("192.0.2.1", "demo")
            await limit.succeeded("192.0.2.1", "demo")
            return locked, await limit.retry_after("192.0.2.1", "demo")
        finally:
            await shared.close()

    locked, after_success = asyncio.run(scenario())
    assert 29 < locked <= 30 and after_success == 0
