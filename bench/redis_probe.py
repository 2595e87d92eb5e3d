"""`python -m bench.redis_probe REDIS_URL ITERATIONS`: the Redis store's round trips alone, with
nothing else around them (no HTTP, no signing, no session manager).

It drives sessions.redis.RedisStore itself, on a session of a cart's size: a read with no roll due
(one GET) and a change (`locked`: EVALSHA of the lock script, which also reads, then EVALSHA of the
release script, which writes and unlocks). It times the CPU time this process spends per read and
per change: the store's and its client library's work (packing, the event loop, parsing); Redis's
own work is another process's. Then what a logged-in session costs Redis's memory: SESSIONS of them
(a five-line cart, the manager's metadata, an owner-index entry each), by INFO's used_memory before
and after, and the length of one's JSON. Prints one RESULT line (see bench.parse.RoundTripResult)."""
from __future__ import annotations

import secrets
import sys
import time

from sessions import new_session_id
from sessions.redis import RedisStore

from app import run_event_loop

CART = {"cart": {str(i): i for i in range(1, 21)}}
TTL = 3600
SESSIONS = 10_000
# A logged-in shopper's session as the shop stores it (handlers/session_access.py, sessions/manager.py).
LOGGED_IN = {
    "user": {"id": 123456, "username": "shopper-123456"},
    "cart": {"stoneware-mug": 2, "oak-cutting-board": 1, "chefs-knife": 1, "linen-apron": 3, "tea-towel-set": 1},
    "_meta": {"created": 1765170000.123, "seen": 1765170300.456, "owner": "123456", "owned_since": 1765170000.123,
              "agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
              "address": "203.0.113.7", "shape": 1},
}


async def probe(url: str, iterations: int) -> tuple[float, float, float, int]:
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

    async def bytes_per_session() -> tuple[float, int]:
        before = (await store._redis.info("memory"))["used_memory"]
        ids = [new_session_id() for _ in range(SESSIONS)]
        for number, session_id in enumerate(ids):
            await store.add_owned(str(number), session_id, TTL)
            async with store.locked(session_id) as held:  # as the shop writes it: with its receipt
                held.save(LOGGED_IN, TTL)
        after = (await store._redis.info("memory"))["used_memory"]
        length = await store._redis.strlen(store._key(ids[0]))
        return (after - before) / SESSIONS, length

    try:
        read_us, change_us = await per_call_us(read), await per_call_us(change)
        return read_us, change_us, *await bytes_per_session()
    finally:
        await store.destroy(session_id)
        await store.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    read_us, change_us, session_bytes, value_bytes = run_event_loop(probe(argv[0], int(argv[1])))
    print(f"RESULT read_cpu_us={read_us:.1f} change_cpu_us={change_us:.1f} iterations={argv[1]} "
          f"session_bytes={session_bytes:.0f} value_bytes={value_bytes}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
