"""`python -m bench.stall_probe`: the shop's own application in a process of ours, with a ticking
callback that measures how late the event loop runs, and a sweep we can start on command.

The shop is built with `app.make_app(Config.from_env())`, exactly as `python app.py` builds it, and
logs as it does; the sweep is the shop's store's own `sweep_expired()` (the call its Sweeper makes,
in the store's sweep thread). So the lag seen here is the lag of a shop process whose sweeper fires
while the cart mix runs against it.

Protocol, one line each: prints `READY` once listening; reads `mark` (forget the lag so far),
`sweep` (note the lag since `mark` as the baseline, sweep, print a RESULT line), `quit`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

from app import make_app
from config import Config

TICK_SECONDS = 0.005


class LagMonitor:
    """Wakes every TICK_SECONDS; how much later than asked it wakes is how long the loop was busy."""

    def __init__(self) -> None:
        self.max_lag = 0.0
        self.ticks = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(TICK_SECONDS)
            lag = time.perf_counter() - asked - TICK_SECONDS
            self.ticks += 1
            if lag > self.max_lag:
                self.max_lag = lag

    def take(self) -> tuple[float, int]:
        """The worst lag and the tick count since the last take, then start afresh."""
        result = (self.max_lag, self.ticks)
        self.max_lag, self.ticks = 0.0, 0
        return result


async def main() -> int:
    config = Config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = make_app(config)
    server = app.listen(config.port, config.host)
    store = app.settings["session_store"]
    monitor = LagMonitor()
    monitor.start()
    loop = asyncio.get_running_loop()
    print("READY", flush=True)
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "mark":
            monitor.take()
        elif command == "sweep":
            baseline, _ = monitor.take()
            files = sum(1 for name in await loop.run_in_executor(None, os.listdir, config.session_dir)
                        if name.endswith(".json"))
            started = time.perf_counter()
            removed = await store.sweep_expired()
            seconds = time.perf_counter() - started
            worst, ticks = monitor.take()
            print(f"RESULT files={files} sweep_s={seconds:.3f} removed={removed} max_stall_ms={worst * 1000:.1f} "
                  f"baseline_max_stall_ms={baseline * 1000:.1f} ticks={ticks}", flush=True)
        elif command in ("quit", ""):
            break
    server.stop()
    await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
