"""The file store's writer: a process of its own that makes each change durable (the temp file,
both fsyncs, the rename) and then releases the change's lock.

Why a process: a change waits for two fsyncs, which must not happen on the event loop. In threads
of the shop's process, the waiting thread and the busy event loop passed the GIL back and forth
around every system call of the change: `perf stat` counted 16 context switches per change, and
the file store spent 1,800-1,900 µs of CPU per request of the API mix against 1,370 with this
process (bench/, 16 shoppers, the writer's CPU counted). Its threads only ever wait on each other.

    FileStore (event loop)                         writer process (main() below)
      takes the lock, reads, decides the change
      sends: request + the lock's descriptor  --->  a thread: write temp, fsync, rename, fsync the
      closes its own copy of the descriptor         folder (retrying transient errors), then
      awaits the answer                      <---   releases the lock and answers: 0 or an errno

The lock travels with the request (SCM_RIGHTS) and the writer releases it only once the change is
on disk or has failed: if the shop's process is killed meanwhile, no other process can take the
lock and write before this change lands, so no acknowledged change is overwritten by an older one.
The writer exits once the shop's process closes its end of the socket (or dies), after the changes
it was given; it ignores SIGINT and SIGTERM, which a terminal or `docker stop` sends the whole group.

Messages go over a SOCK_SEQPACKET socketpair, one per datagram:
    request  REQUEST (request id, expiry as time.time(), action, the id's length) + the session id
             + the JSON payload, with one descriptor attached: the lock
    answer   ANSWER (request id, 0 when done, else the errno of the last failure; -1 for a failure
             that is not an OSError)
"""
from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import file_io
from .store import short_id

log = logging.getLogger("sessions.file")

REQUEST = struct.Struct("<QdBB")  # then the session id (its length in the last byte), then the payload
ANSWER = struct.Struct("<Qi")
WRITE, DELETE = 1, 2
NOT_AN_OS_ERROR = -1
# The largest request the store sends here; a larger session is written by the store's threads.
MAX_PAYLOAD = 192 * 1024
SOCKET_BUFFER = 4 * 1024 * 1024


def serve(connection: socket.socket, directory: str, threads: int, retries: int, retry_delay: float) -> None:
    """Answer requests on connection until its other end is closed, in `threads` threads."""
    workers = [threading.Thread(target=_work, args=(connection, directory, retries, retry_delay),
                                name=f"file-writer-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _work(connection: socket.socket, directory: str, retries: int, retry_delay: float) -> None:
    while True:
        try:
            message, descriptors, _, _ = socket.recv_fds(connection, REQUEST.size + 255 + MAX_PAYLOAD, 1)
        except OSError:
            return
        if not message:
            return  # the shop's process closed its end, or died: every request has been answered
        outcome = 0
        request_id = 0
        try:
            request_id, expires_at, action, length = REQUEST.unpack_from(message)
            session_id = message[REQUEST.size:REQUEST.size + length].decode()
            outcome = _apply(directory, session_id, action, message[REQUEST.size + length:], expires_at,
                             retries, retry_delay)
        except Exception as error:  # a bug or a bad request: answered, never a silent hang
            log.error("the file writer failed a request: %s: %s", type(error).__name__, error)
            outcome = NOT_AN_OS_ERROR
        finally:
            for descriptor in descriptors:
                file_io.unlock(descriptor)
        try:
            connection.send(ANSWER.pack(request_id, outcome))
        except OSError:
            return


def _apply(directory: str, session_id: str, action: int, payload: bytes, expires_at: float,
           retries: int, retry_delay: float) -> int:
    """0 when the change is on disk, else the errno of its last failure (after the retries a
    transient one gets, with the backoff FileStore._retrying uses)."""
    if not file_io.is_valid_session_id(session_id):
        raise ValueError("not a session id")
    for attempt in range(retries + 1):
        try:
            if action == WRITE:
                file_io.write(directory, session_id, payload, expires_at)
            elif action == DELETE:
                file_io.unlink(directory, session_id)
            else:
                raise ValueError(f"unknown action {action}")
            return 0
        except OSError as error:
            code = error.errno or errno.EIO
            if code not in file_io.TRANSIENT_ERRNOS or attempt == retries:
                log.warning("cannot write session %s: %s", short_id(session_id), file_io.describe(error))
                return code
        time.sleep(min(retry_delay * (2 ** attempt), 0.25) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def request(request_id: int, session_id: str, action: int, payload: bytes, expires_at: float) -> bytes:
    encoded = session_id.encode()
    return REQUEST.pack(request_id, expires_at, action, len(encoded)) + encoded + payload


# A writer that dies this soon after it started is not started again for BROKEN_PAUSE seconds
# (the store's threads write meanwhile): a crash loop must not cost every change a process start.
DIED_YOUNG = 1.0
BROKEN_PAUSE = 30.0
# Where `sessions` lives, for the writer's own imports whatever the shop's working folder is.
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
# Not `-m sessions.file_writer`: the package imports this module before runpy would run it again.
_ENTRY = "import sys; from sessions.file_writer import main; sys.exit(main(sys.argv[1:]))"


class Writer:
    """The store's end: starts the writer process on first use (in the process that uses it),
    sends it changes, and hands each answer to its future. Methods run on the event loop."""

    def __init__(self, directory: str, *, threads: int, retries: int, retry_delay: float) -> None:
        self.directory = directory
        self.threads = threads
        self.retries = retries
        self.retry_delay = retry_delay
        self.process: subprocess.Popen | None = None
        self._connection: socket.socket | None = None
        self._owner_pid = 0
        self._started_at = 0.0
        self._broken_until = 0.0
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}

    def send(self, session_id: str, action: int, payload: bytes, expires_at: float,
             lock: int) -> asyncio.Future | None:
        """Send a change. Returns a future of its answer (0 when done, an errno, NOT_AN_OS_ERROR, or
        None when the writer died before answering: the change may have been made), and the lock
        is then the writer's too (close, never unlock, the caller's descriptor); or returns None
        when the writer cannot take it (too large, its socket full, it cannot start), and the lock
        is still only the caller's."""
        if len(payload) > MAX_PAYLOAD or not self._running():
            return None
        request_id = next(self._ids)
        try:
            socket.send_fds(self._connection, [request(request_id, session_id, action, payload, expires_at)], [lock])
        except BlockingIOError:
            return None
        except OSError as error:
            self._lost(f"cannot send it a change: {error.strerror}")
            return None
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    async def close(self, timeout: float = 10.0) -> None:
        """Close our end: the writer finishes the changes it has and exits (waited for up to timeout)."""
        process = self.process
        self._disconnect()
        if process is not None and self._owner_pid == os.getpid():
            try:
                await asyncio.get_running_loop().run_in_executor(None, process.wait, timeout)
            except subprocess.TimeoutExpired:
                log.error("the file writer (pid %d) did not exit in %ss: killed", process.pid, timeout)
                process.kill()

    def _running(self) -> bool:
        if self._connection is not None and self._owner_pid == os.getpid():
            return True
        if self._connection is not None:
            # Inherited through a fork: that writer is the parent's. This process starts its own.
            self._connection, self.process, self._pending = None, None, {}
        if time.monotonic() < self._broken_until:
            return False
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            path = os.environ.get("PYTHONPATH")
            environment = {**os.environ, "PYTHONPATH": _PACKAGE_PARENT + (os.pathsep + path if path else "")}
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, str(theirs.fileno()), self.directory,
                 str(self.threads), str(self.retries), str(self.retry_delay)],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=environment)
        except OSError as error:
            ours.close()
            log.error("cannot start the file writer (%s): the store's threads write for %.0f s",
                      error.strerror or error, BROKEN_PAUSE)
            self._broken_until = time.monotonic() + BROKEN_PAUSE
            return False
        finally:
            theirs.close()
        ours.setblocking(False)
        asyncio.get_running_loop().add_reader(ours.fileno(), self._read_answers)
        self._connection, self._owner_pid, self._started_at = ours, os.getpid(), time.monotonic()
        return True

    def _read_answers(self) -> None:
        while self._connection is not None:
            try:
                answer = self._connection.recv(ANSWER.size)
            except BlockingIOError:
                return
            except OSError as error:
                self._lost(f"its socket failed: {error.strerror}")
                return
            if not answer:
                self._lost("it exited")
                return
            request_id, outcome = ANSWER.unpack(answer)
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(outcome)

    def _lost(self, why: str) -> None:
        process = self.process
        died_young = time.monotonic() - self._started_at < DIED_YOUNG
        log.error("the file writer (pid %s) stopped: %s; %d change(s) it had are unconfirmed",
                  process.pid if process else "?", why, len(self._pending))
        self._disconnect()
        if died_young:
            self._broken_until = time.monotonic() + BROKEN_PAUSE
        if process is not None:
            threading.Thread(target=process.wait, daemon=True).start()  # no zombie left behind

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result(None)  # no answer will come: maybe made, maybe not
        if connection is not None:
            if self._owner_pid == os.getpid():
                try:
                    asyncio.get_running_loop().remove_reader(connection.fileno())
                except RuntimeError:
                    pass  # no loop running: nothing to remove it from
            connection.close()


def main(argv: list[str]) -> int:
    descriptor, directory, threads, retries, retry_delay = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s file-writer: %(message)s")
    connection = socket.socket(fileno=int(descriptor))
    serve(connection, directory, int(threads), int(retries), float(retry_delay))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
