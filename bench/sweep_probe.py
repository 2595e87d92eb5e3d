"""`python -m bench.sweep_probe DIR N`: fill DIR with N expired sessions in the file store's format,
then time the library's own sweep, `FileStore.sweep_expired()`. Prints one RESULT line."""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from sessions import FileStore

from bench.fill import fill, learn_format


async def sweep(directory: Path) -> tuple[int, float]:
    store = FileStore(directory)
    try:
        started = time.perf_counter()
        removed = await store.sweep_expired()
        return removed, time.perf_counter() - started
    finally:
        await store.close()


def main(argv: list[str]) -> int:
    directory, count = Path(argv[0]), int(argv[1])
    fill(directory, learn_format(directory.parent), count, expired_fraction=1.0)
    removed, seconds = asyncio.run(sweep(directory))
    left = sum(1 for p in directory.iterdir() if p.name.endswith(".json"))
    print(f"RESULT files={count} removed={removed} seconds={seconds:.3f} left={left}", flush=True)
    return 0 if removed == count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
