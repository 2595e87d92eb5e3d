"""`python -m bench.stall_probe`: the shop's own application in a process of ours, with a ticking
callback that measures how late the event loop runs, and a sweep we can start on command.

The shop is built with `create_app(Config.from_env())`, exactly as `python app.py` builds it, and
logs as it does; the sweep is the shop's store's own `sweep_expired()`, the call its Sweeper makes.
So the lag seen here is the lag of a shop process whose sweeper fires while the cart mix runs
against it.

Protocol, one line each: prints `READY` once listening; reads `mark` (forget the lag so far),
`sweep` (note the lag since `mark` as the baseline, sweep, print a RESULT line), `quit`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

from handlers.application import create_app
from config import Config

TICK_SECONDS = 0.005


class LagMonitor:
    """Wakes every TICK_SECONDS; how much later than asked it wakes is how long the loop was busy."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.since = time.perf_counter()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(TICK_SECONDS)
            self.lags.append(time.perf_counter() - asked - TICK_SECONDS)

    def take(self) -> dict[str, float]:
        """Worst and 99th-percentile lag (ms), stalls over 50 ms, and the window's length (s), since
        the last take; then start afresh."""
        lags, seconds = sorted(self.lags) or [0.0], time.perf_counter() - self.since
        self.lags, self.since = [], time.perf_counter()
        return {"max": lags[-1] * 1000, "p99": lags[int(len(lags) * 0.99)] * 1000,
                "over50": sum(1 for lag in lags if lag > 0.050), "seconds": seconds}


async def main() -> int:
    config = Config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config)
    server = app.listen(config.port, config.host)
    store = app.session_store
    monitor = LagMonitor()
    monitor.start()
    loop = asyncio.get_running_loop()
    print("READY", flush=True)
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "mark":
            monitor.take()
        elif command == "sweep":
            baseline = monitor.take()
            files = sum(1 for name in await loop.run_in_executor(None, os.listdir, config.session_dir)
                        if name.endswith(".json"))
            monitor.take()
            started = time.perf_counter()
            removed = await store.sweep_expired()
            seconds = time.perf_counter() - started
            during = monitor.take()
            print(f"RESULT files={files} sweep_s={seconds:.3f} removed={removed} "
                  f"max_stall_ms={during['max']:.1f} p99_stall_ms={during['p99']:.1f} "
                  f"stalls_over_50ms={during['over50']} "
                  f"baseline_max_stall_ms={baseline['max']:.1f} baseline_p99_stall_ms={baseline['p99']:.1f} "
                  f"baseline_stalls_over_50ms={baseline['over50']} baseline_s={baseline['seconds']:.1f}",
                  flush=True)
        elif command in ("quit", ""):
            break
    # As the shop's own serve() does: stop accepting, let the requests in flight finish, then close
    # (a store closed under them would fail them).
    server.stop()
    await app.in_flight.wait_idle(10)
    await server.close_all_connections()
    await app.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
