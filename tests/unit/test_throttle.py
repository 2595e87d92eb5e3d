"""shop.throttle: login back-off per address and per username, token buckets, bounded tables."""

import pytest

from shop.throttle import FailureThrottle, LoginThrottle, TokenBucket, whole_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


def test_failures_are_free_up_to_the_limit_then_lock(clock):
    throttle = FailureThrottle(free_failures=3, first_delay=1, max_delay=60, clock=clock)
    assert [throttle.failed("a") for _ in range(2)] == [0, 0]
    assert throttle.retry_after("a") == 0
    assert throttle.failed("a") == 1
    assert throttle.retry_after("a") == 1


def test_the_lock_doubles_with_each_failure_up_to_the_cap(clock):
    throttle = FailureThrottle(free_failures=1, first_delay=1, max_delay=10, clock=clock)
    delays = []
    for _ in range(7):
        delays.append(throttle.failed("a"))
        clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8, 10, 10, 10]


def test_a_thousand_failures_do_not_overflow(clock):
    throttle = FailureThrottle(free_failures=1, first_delay=1, max_delay=900, clock=clock)
    for _ in range(1100):
        throttle.failed("a")
    assert throttle.retry_after("a") == 900


def test_success_clears_and_quiet_time_forgets(clock):
    throttle = FailureThrottle(free_failures=1, first_delay=1, max_delay=10, forget_after=100, clock=clock)
    throttle.failed("a")
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0 and throttle.failures("a") == 0
    throttle.failed("b")
    clock.advance(101)
    assert throttle.failures("b") == 0


def test_the_table_is_bounded(clock):
    throttle = FailureThrottle(free_failures=1, first_delay=1, max_delay=10, max_keys=100, clock=clock)
    for number in range(1000):
        throttle.failed(f"key{number}")
    assert len(throttle._keys) == 100
    assert throttle.retry_after("key999") > 0


def test_a_guesser_at_one_address_does_not_lock_the_owner_at_another(clock):
    throttle = LoginThrottle(free_failures=5, first_delay=1, max_delay=900, clock=clock)
    attempts = 0
    for _ in range(30):
        # What the handler does: a refused attempt checks no password and counts no failure.
        if throttle.retry_after("10.0.0.66", "demo") == 0:
            throttle.failed("10.0.0.66", "demo")
            attempts += 1
    assert attempts == 5
    assert throttle.retry_after("10.0.0.66", "demo") > 0
    assert throttle.retry_after("192.0.2.7", "demo") == 0


def test_guessers_spread_over_addresses_lock_the_username_for_a_minute_at_most(clock):
    throttle = LoginThrottle(free_failures=5, first_delay=1, max_delay=900, clock=clock)
    for number in range(200):
        address = f"10.0.{number // 250}.{number % 250}"
        if throttle.retry_after(address, "demo") == 0:
            throttle.failed(address, "demo")
        clock.advance(0.1)
    wait = throttle.retry_after("192.0.2.7", "demo")
    assert 0 < wait <= 60
    clock.advance(wait)
    assert throttle.retry_after("192.0.2.7", "demo") == 0


def test_success_clears_both_the_address_and_the_username(clock):
    throttle = LoginThrottle(free_failures=2, first_delay=5, max_delay=900, clock=clock)
    for _ in range(2):
        throttle.failed("a", "demo")
    throttle.succeeded("a", "demo")
    assert throttle.retry_after("a", "demo") == 0
    assert throttle.by_username.failures("demo") == 0


def test_a_bucket_allows_a_burst_then_the_rate(clock):
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0, 0, 0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0  # another key has its own bucket
    clock.advance(0.5)
    assert bucket.take("a") == 0
    assert bucket.take("a") > 0


def test_refused_takes_spend_nothing(clock):
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    bucket.take("a")
    for _ in range(100):
        bucket.take("a")
    clock.advance(1)
    assert bucket.take("a") == 0


def test_the_buckets_are_bounded(clock):
    bucket = TokenBucket(rate=1, burst=1, max_keys=10, clock=clock)
    for number in range(100):
        bucket.take(f"key{number}")
    assert len(bucket._buckets) == 10


def test_whole_seconds_rounds_up_to_at_least_one():
    assert [whole_seconds(0.01), whole_seconds(1.0), whole_seconds(1.2)] == [1, 1, 2]
