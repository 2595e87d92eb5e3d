"""Helper processes for the file store's crash and cross-process tests (run as scripts)."""
import asyncio
import random
import sys

from sessions import FileStore, SessionManager, StoreSettings, registry
from tests.stores.devices import Device, log_in, log_out


async def write_forever(directory, session_ids):
    """Rewrite the sessions over and over with large payloads, until killed."""
    store = FileStore(directory)
    print("writing", flush=True)  # the test's kill lands after this, never during start-up
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


async def owner_churn(directory, owner):
    """Log devices of one owner in, regenerate, log out and end sessions over and over, until killed:
    every step of the owner index, for a kill -9 to land between any two."""
    manager = SessionManager(FileStore(directory), ttl=3600, max_age=7200)
    devices = [Device(agent=f"Churn/{n}") for n in range(4)]
    rng = random.Random()
    print("churning", flush=True)  # the test's kill lands after this, never during start-up
    while True:
        device = rng.choice(devices)
        step = rng.random()
        if step < 0.5:
            await log_in(manager, device, owner)
        elif step < 0.7:
            await log_out(manager, device)
        elif step < 0.85:
            sessions = await manager.owner_sessions(owner)
            if sessions:
                await manager.end_session(owner, rng.choice(sessions).session_id)
        else:
            async with manager.owner_record(owner, ttl=3600) as record:
                record["n"] = record.get("n", 0) + 1


async def end_owner_sessions(backend, location, prefix, owner):
    """From another process: end every session of owner's; prints how many."""
    settings = (StoreSettings(directory=location) if backend == "file"
                else StoreSettings(url=location, key_prefix=prefix))
    store = registry.create(backend, settings)
    manager = SessionManager(store, ttl=3600, max_age=7200)
    print(await manager.end_owner_sessions(owner), flush=True)
    await store.close()


if __name__ == "__main__":
    command, directory, *rest = sys.argv[1:]
    if command == "write-forever":
        asyncio.run(write_forever(directory, rest))
    elif command == "increment":
        asyncio.run(increment(directory, rest[0], int(rest[1])))
    elif command == "owner-churn":
        asyncio.run(owner_churn(directory, rest[0]))
    elif command == "end-owner-sessions":
        # Here `directory` is the backend's name: file DIR - OWNER, or redis URL PREFIX OWNER.
        asyncio.run(end_owner_sessions(directory, *rest))
