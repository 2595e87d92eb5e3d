"""Helper processes for the file store's crash and cross-process tests (run as scripts)."""
import asyncio
import sys

from sessions import FileStore


async def write_forever(directory, session_ids):
    """Rewrite the sessions over and over with large payloads, until killed."""
    store = FileStore(directory)
    n = 0
    while True:
        n += 1
        for session_id in session_ids:
            await store.save(session_id, {"n": n, "padding": "x" * (200_000 + n % 1000)}, 3600)


async def increment(directory, session_id, times):
    store = FileStore(directory)
    for _ in range(times):
        async with store.locked(session_id) as held:
            await asyncio.sleep(0.001)  # widen the window a lost update would need
            held.save({"n": held.data["n"] + 1}, 3600)
    await store.close()


if __name__ == "__main__":
    command, directory, *rest = sys.argv[1:]
    if command == "write-forever":
        asyncio.run(write_forever(directory, rest))
    elif command == "increment":
        asyncio.run(increment(directory, rest[0], int(rest[1])))
