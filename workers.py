"""Several worker processes on one listening socket: `WORKERS=N python app.py`.

The parent binds the port, forks N workers that each run the shop's event loop on the shared socket,
and then only supervises: a worker that dies is logged and started again under the same index; SIGTERM
or SIGINT is passed on to every worker, which drains its requests, and the parent exits 0 once all
have stopped. Worker 0 is the one that sweeps expired sessions.

Why processes: one Python process is one GIL, and the file store's I/O threads fight the event loop
for it; a second process doubled the file store's throughput where a second thread did nothing.
Why a supervisor of our own rather than tornado.process.fork_processes: that one neither passes
SIGTERM on nor lets its children outlive a SIGKILL cleanly, and a `docker stop` must drain.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import time
from collections.abc import Callable

log = logging.getLogger("shop.workers")

# A worker that dies sooner than this after its start is restarted only after a pause, so a worker
# that cannot start (a broken disk, a bad deploy) is not forked in a tight loop.
QUICK_DEATH_SECONDS = 2.0
RESTART_PAUSE_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1


def run_workers(count: int, serve_worker: Callable[[int], int],
                worker_ended: Callable[[int, bool], None] | None = None) -> int:
    """Fork `count` workers that each call serve_worker(index) and exit with what it returns;
    supervise them until SIGTERM/SIGINT; return the parent's exit status (0 after a clean stop).
    worker_ended(pid, restarting) is called when a worker has ended, before any restart (the shop
    tidies the dead worker's metrics and counts the restart there).

    Call it after binding the listening sockets and before starting any thread or event loop:
    a fork copies only the calling thread."""
    supervisor = _Supervisor(serve_worker, worker_ended)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    for index in range(count):
        supervisor.start(index)
    return supervisor.supervise()


class _Supervisor:
    """The parent's side: its workers by pid, starting, stopping and restarting them."""

    def __init__(self, serve_worker: Callable[[int], int], worker_ended: Callable[[int, bool], None] | None) -> None:
        self.parent = os.getpid()
        self.serve_worker = serve_worker
        self.worker_ended = worker_ended
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (worker index, monotonic start time)
        self.stopping = False
        self.status = 0

    def start(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(_worker_main(index, self.parent, self.serve_worker))
        self.children[pid] = (index, time.monotonic())
        log.info("worker %d started (pid %d)", index, pid)

    def stop(self, signal_number: int, _frame: object) -> None:
        """The signal handler: pass SIGTERM on to every worker, once the first signal comes."""
        if not self.stopping:
            log.info("stopping: passing %s on to %d worker(s)", signal.Signals(signal_number).name, len(self.children))
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def supervise(self) -> int:
        """Wait for workers to end, restarting each unless stopping; the exit status once all have."""
        while self.children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            if pid in self.children:
                self._ended(pid, os.waitstatus_to_exitcode(wait_status))
        log.info("all workers stopped")
        return self.status

    def _ended(self, pid: int, code: int) -> None:
        index, started = self.children.pop(pid)
        if self.worker_ended is not None:
            try:
                self.worker_ended(pid, not self.stopping)
            except Exception:
                log.exception("after worker %d (pid %d) ended", index, pid)
        if self.stopping:
            if code != 0:
                log.warning("worker %d (pid %d) stopped with status %d", index, pid, code)
                self.status = 1
            return
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        log.error("worker %d (pid %d) %s; starting it again", index, pid, how)
        if time.monotonic() - started < QUICK_DEATH_SECONDS:
            time.sleep(RESTART_PAUSE_SECONDS)
        if not self.stopping:
            self.start(index)


def exit_on_stop_signals() -> None:
    """Until the server installs its own handlers (which drain), SIGTERM or SIGINT ends the process
    with status 0: nothing has been served yet, so there is nothing to drain, and a `docker stop`
    right after a start is still a clean stop."""
    def exit_cleanly(_signal_number: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_cleanly)
    signal.signal(signal.SIGINT, exit_cleanly)


def _worker_main(index: int, parent: int, serve_worker: Callable[[int], int]) -> int:
    # Not the parent's handlers: those would pass signals on to "children" this process does not have.
    exit_on_stop_signals()
    _die_with(parent)
    try:
        return serve_worker(index)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        log.exception("worker %d failed", index)
        return 1
    finally:
        logging.shutdown()


def _die_with(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when the supervisor dies, even by SIGKILL: orphaned workers
    would keep the port and serve on after the shop was "stopped"."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("cannot tie the worker's life to the supervisor's on this system")
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os._exit(1)


def listening_sockets(port: int, host: str) -> list[socket.socket]:
    """Bind before forking so every worker accepts on the same sockets (and a busy port is one clear
    error in the parent, not N in the workers)."""
    from tornado.netutil import bind_sockets

    return bind_sockets(port, host)

