"""`python -m bench.migration_probe REDIS_URL FOLDER ITERATIONS`: what SESSION_MIGRATE_FROM costs a
request, at the store (sessions.migration.MigratingStore: the Redis store, falling back on a file
store being left), against the Redis store alone.

A request's session read (`load` with a roll, as SessionManager.load does), timed in wall-clock and
CPU time per call, for: a session the new store has (moved already, or new since the switch); an id
neither store has (an expired session's cookie: the new store misses, then the old one is read);
and the move itself (a session's first request after the switch: both locks, the copy, the delete).
Prints one RESULT line (see bench.parse.MigrationResult)."""
from __future__ import annotations

import secrets
import statistics
import sys
import time

from sessions import FileStore, new_session_id
from sessions.migration import MigratingStore
from sessions.redis import RedisStore

from app import run_event_loop

CART = {"cart": {str(i): i for i in range(1, 21)}}
TTL = 3600
ROUNDS = 5


async def probe(url: str, folder: str, iterations: int) -> dict[str, float]:
    current = RedisStore(url, prefix=f"probe:{secrets.token_hex(4)}:")
    previous = FileStore(folder)
    migrating = MigratingStore(current, previous)
    present, absent = new_session_id(), new_session_id()
    await current.save(present, CART, TTL)
    to_move = [new_session_id() for _ in range(iterations)]
    for session_id in to_move:
        await previous.save(session_id, CART, TTL)

    async def timed(action, ids=None) -> tuple[float, float]:
        await action(present)  # once untimed: the first loads the scripts, opens connections
        wall, cpu = time.perf_counter(), time.process_time()
        for number in range(iterations):
            await action(ids[number] if ids else None)
        return ((time.perf_counter() - wall) / iterations * 1e6, (time.process_time() - cpu) / iterations * 1e6)

    try:
        cells = (("plain_hit", lambda _: current.load(present, extend_ttl=TTL)),
                 ("migrating_hit", lambda _: migrating.load(present, extend_ttl=TTL)),
                 ("plain_miss", lambda _: current.load(absent, extend_ttl=TTL)),
                 ("migrating_miss", lambda _: migrating.load(absent, extend_ttl=TTL)))
        # Interleaved rounds, the median of each: the machine's noise falls on every cell alike.
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in cells}
        for _ in range(ROUNDS):
            for name, action in cells:
                samples[name].append(await timed(action))
        figures = {}
        for name, found in samples.items():
            figures[f"{name}_us"] = statistics.median(wall for wall, _ in found)
            figures[f"{name}_cpu_us"] = statistics.median(cpu for _, cpu in found)
        figures["move_us"], figures["move_cpu_us"] = await timed(
            lambda session_id: migrating.load(session_id or present, extend_ttl=TTL), to_move)
        assert migrating.moved == iterations, f"moved {migrating.moved} of {iterations}"
        return figures
    finally:
        await migrating.close()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    figures = run_event_loop(probe(argv[0], argv[1], int(argv[2])))  # the shop's own event loop
    print("RESULT " + " ".join(f"{key}={value:.1f}" for key, value in figures.items()) + f" iterations={argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
