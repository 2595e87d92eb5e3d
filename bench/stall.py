"""The stall probe's driver: the shop's app inside bench.stall_probe, the page mix against it from wrk,
and the probe told over stdin when to mark its baseline and when to sweep."""
from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

from bench.parse import ParseError, StallResult, parse_load_result, parse_stall_result
from bench.peers import shop_env
from bench.processes import REPO, BenchError, free_port, run_logged, tail
from bench.report import TARGET_SHOPPERS


def stall(plan, peers: Path, scratch: Path, mode: str) -> StallResult:
    """Run bench.stall_probe (the shop's app in one process) under the page mix; `mode` is the probe's
    command after the baseline window ("sweep")."""
    port = free_port()
    env = shop_env("file", scratch, port, scratch / "sessions")
    log = plan.raw / f"stall-probe-{mode}.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as log_file:
        probe = subprocess.Popen([plan.python, "-m", "bench.stall_probe"], cwd=REPO, env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                 start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in probe.stdout], daemon=True).start()
    wrk = None
    try:
        _expect(lines, "READY", 60, log)
        cookies = scratch / "cookies.txt"
        cookies.write_text(run_logged(["python3", str(peers / "make_cookies.py"), base, str(TARGET_SHOPPERS)],
                                      plan.raw / f"stall-{mode}-cookies.txt", timeout=120))
        wrk = subprocess.Popen(["wrk", "-t", str(TARGET_SHOPPERS), "-c", str(TARGET_SHOPPERS), "-d", "600s",
                                "--latency", "-s", str(peers / "cart_mix.lua"), base],
                               env=dict(os.environ, COOKIES_FILE=str(cookies), CART_PATH="/cart"), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(plan.warmup_seconds)
        _send(probe, "mark")
        time.sleep(plan.seconds)
        _send(probe, mode)
        result = parse_stall_result(_expect(lines, "RESULT", 600, log))
        wrk.send_signal(signal.SIGINT)
        wrk_out, _ = wrk.communicate(timeout=60)
        (plan.raw / f"stall-{mode}-wrk.txt").write_text(wrk_out)
        with contextlib.suppress(ParseError):
            result = type(result)(**{**vars(result), "load": parse_load_result(wrk_out)})
        _send(probe, "quit")
        probe.wait(timeout=30)
        return result
    finally:
        if wrk is not None and wrk.poll() is None:
            wrk.kill()
            wrk.wait()
        if probe.poll() is None:
            probe.terminate()
            try:
                probe.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(probe.pid, signal.SIGKILL)
                probe.wait()


def _send(probe: subprocess.Popen, command: str) -> None:
    probe.stdin.write(command + "\n")
    probe.stdin.flush()


def _expect(lines: queue.Queue, prefix: str, timeout: float, log: Path) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise BenchError(f"stall probe printed no {prefix} line within {timeout:.0f}s: {tail(log)}") from None
        if line.startswith(prefix):
            return line
        if time.monotonic() > deadline:
            raise BenchError(f"stall probe printed no {prefix} line within {timeout:.0f}s: {tail(log)}")
