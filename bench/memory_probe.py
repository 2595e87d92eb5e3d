"""`python -m bench.memory_probe N`: resident memory a MemoryStore gains holding N sessions, each a
5-line cart saved through the store's async API. Prints one RESULT line."""
from __future__ import annotations

import asyncio
import gc
import secrets
import sys

from sessions import MemoryStore

from bench.fill import CART, TTL


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def fill(store: MemoryStore, count: int) -> None:
    for _ in range(count):
        # A fresh dict per session, as a request would build it.
        await store.save(secrets.token_urlsafe(32), {"cart": dict(CART["cart"])}, TTL)


def main(argv: list[str]) -> int:
    count = int(argv[0])
    store = MemoryStore(max_sessions=count + 1)
    asyncio.run(fill(store, 0))  # the event loop's own allocations are not the store's
    gc.collect()
    before = rss_bytes()
    asyncio.run(fill(store, count))
    gc.collect()
    after = rss_bytes()
    held = asyncio.run(store.stats()).sessions
    print(f"RESULT sessions={held} rss_delta_bytes={after - before}", flush=True)
    return 0 if held == count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
