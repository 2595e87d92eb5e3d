"""`python -m bench.redis_probe REDIS_URL ITERATIONS`: the Redis store's round trips alone, with
nothing else around them (no HTTP, no signing, no session manager).

It makes the calls sessions/redis.py makes, on its own client library and settings and with its
own scripts, on a session of a cart's size: a read (one GET) and a change (EVALSHA of the lock
script, which also reads, then EVALSHA of the release script, which writes and unlocks). It times
the CPU time this process spends per read and per change (the client's work: packing, the event
loop, parsing; Redis's own work is another process's). Prints one RESULT line (see
bench.parse.RoundTripResult)."""
from __future__ import annotations

import asyncio
import secrets
import sys
import time

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sessions import codec, new_session_id
from sessions.redis import _ACQUIRE, _RECEIPT_MS, _RELEASE

CART = {"cart": {str(i): i for i in range(1, 21)}, "user": None}


async def probe(url: str, iterations: int) -> tuple[float, float]:
    client = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
    acquire, release = client.register_script(_ACQUIRE), client.register_script(_RELEASE)
    prefix = f"probe:{secrets.token_hex(4)}:"
    session_id = new_session_id()
    key, lock = prefix + session_id, prefix + "lock:" + session_id
    payload = codec.encode(CART)
    await client.set(key, payload, px=3_600_000)

    async def read() -> None:
        await client.get(key)

    async def change() -> None:
        token = secrets.token_hex(16)
        await acquire(keys=[key, lock], args=[token, 10_000])
        await release(keys=[key, lock, prefix + "released:" + token],
                      args=[token, "save", payload, 3_600_000, _RECEIPT_MS])

    async def per_call_us(action) -> float:
        await action()  # once untimed: the first loads the scripts
        started = time.process_time()
        for _ in range(iterations):
            await action()
        return (time.process_time() - started) / iterations * 1e6

    try:
        return await per_call_us(read), await per_call_us(change)
    finally:
        await client.delete(key)
        await client.aclose()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    try:  # the shop's own event loop, when it runs on one
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    read_us, change_us = run(probe(argv[0], int(argv[1])))
    print(f"RESULT read_cpu_us={read_us:.1f} change_cpu_us={change_us:.1f} iterations={argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
