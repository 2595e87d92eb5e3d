"""`python -m bench.redis_probe REDIS_URL ITERATIONS`: the Redis store's round trips alone, with
nothing else around them (no HTTP, no signing, no session manager).

It drives sessions.redis.RedisStore itself, on a session of a cart's size: a read with no roll due
(one GET) and a change (`locked`: EVALSHA of the lock script, which also reads, then EVALSHA of the
release script, which writes and unlocks). It times the CPU time this process spends per read and
per change: the store's and its client library's work (packing, the event loop, parsing); Redis's
own work is another process's. Prints one RESULT line (see bench.parse.RoundTripResult)."""
from __future__ import annotations

import asyncio
import secrets
import sys
import time

from sessions import new_session_id
from sessions.redis import RedisStore

CART = {"cart": {str(i): i for i in range(1, 21)}}
TTL = 3600


async def probe(url: str, iterations: int) -> tuple[float, float]:
    store = RedisStore(url, prefix=f"probe:{secrets.token_hex(4)}:")
    session_id = new_session_id()
    await store.save(session_id, CART, TTL)

    async def read() -> None:
        await store.load(session_id, extend_ttl=TTL)   # just written: no roll due, a plain GET

    async def change() -> None:
        async with store.locked(session_id) as held:
            held.save(CART, TTL)

    async def per_call_us(action) -> float:
        await action()  # once untimed: the first loads the scripts
        started = time.process_time()
        for _ in range(iterations):
            await action()
        return (time.process_time() - started) / iterations * 1e6

    try:
        return await per_call_us(read), await per_call_us(change)
    finally:
        await store.destroy(session_id)
        await store.close()


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
