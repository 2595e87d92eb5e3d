"""`python -m bench.floor_probe FOLDER ITERATIONS THREADS SECONDS`: the file store's system calls
alone, with nothing else around them (no HTTP, no signing, no JSON, no thread pool hand-off).

It makes the calls sessions/file.py makes, in the same order, on a session file of a cart's size:
a change (the lock stripe opened and flock'ed, the session read, a temp file written, its mtime set,
fsynced, renamed over the session, the folder fsynced, the lock released) and a read with no roll
due (open, fstat, read, close). It times each alone in one thread (wall time, and the CPU time the
thread spent, the kernel's work for it included), the change without its two fsyncs, the two
fsyncs alone, and then THREADS threads doing change + read pairs at once, each on its own session,
for SECONDS. Last, the store itself (sessions.file.FileStore, as bench/redis_probe.py drives the
Redis store): THREADS sessions at once for SECONDS, reads and then changes, the CPU of this process
and of the store's writer process per operation: the system calls above and every hand-off and
line of Python the store adds to them, without HTTP or the session manager.
Prints one RESULT line (see bench.parse.FloorResult).

FOLDER must be on the disk the shop's sessions would be on: fsync must cost what it costs."""
from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import threading
import time

from app import run_event_loop

PAYLOAD = b'{"cart": {' + b", ".join(b'"%d": %d' % (i, i) for i in range(1, 21)) + b'}, "user": null}'


class Session:
    def __init__(self, folder: str, name: str) -> None:
        self.folder = folder
        self.path = f"{folder}/{name}.json"
        self.lock = f"{folder}/.locks/{name}"
        self.temp = f"{folder}/.tmp-{name}.json"
        self.write(fsync=True)

    def read(self, extend: bool) -> bytes:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            data = os.read(fd, max(size, 4096) + 1)
            if extend:
                later = time.time() + 3600
                os.utime(fd, (later, later))
            return data
        finally:
            os.close(fd)

    def write(self, fsync: bool) -> None:
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, PAYLOAD)
            later = time.time() + 3600
            os.utime(fd, (later, later))
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.temp, self.path)
        if fsync:
            folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def change(self, fsync: bool = True) -> None:
        lock = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.read(extend=False)
            self.write(fsync)
            fcntl.flock(lock, fcntl.LOCK_UN)
        finally:
            os.close(lock)

    def fsyncs_only(self, fd: int) -> None:
        os.pwrite(fd, PAYLOAD, 0)
        os.fsync(fd)
        folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def per_call_us(action, iterations: int) -> tuple[float, float]:
    """(wall µs, this thread's CPU µs) per call."""
    action()  # once untimed: the first call pays for creating what the rest reuse
    started, cpu_started = time.perf_counter(), time.thread_time()
    for _ in range(iterations):
        action()
    cpu = time.thread_time() - cpu_started
    return (time.perf_counter() - started) / iterations * 1e6, cpu / iterations * 1e6


def pairs_per_second(folder: str, threads: int, seconds: float) -> float:
    sessions = [Session(folder, f"parallel-{i:03d}") for i in range(threads)]
    stop = threading.Event()
    counts = [0] * threads

    def shopper(index: int) -> None:
        session = sessions[index]
        while not stop.is_set():
            session.change()
            session.read(extend=False)
            counts[index] += 1

    workers = [threading.Thread(target=shopper, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def store_cpu_us(folder: str, concurrent: int, seconds: float) -> tuple[float, float]:
    """(read, change): the CPU µs per operation of sessions.file.FileStore itself, this process and
    its writer process together, `concurrent` sessions at once for `seconds` each, on the shop's
    event loop. A read finds no roll due; a change is `locked` with a save, as the cart's add."""
    from sessions import FileStore, new_session_id

    cart = {"cart": {str(i): i for i in range(1, 21)}}

    async def run() -> dict[str, tuple[int, float]]:
        store = FileStore(f"{folder}/store")
        ids = [new_session_id() for _ in range(concurrent)]
        for session_id in ids:
            await store.save(session_id, cart, 3600)

        async def change(session_id: str) -> None:
            async with store.locked(session_id) as held:
                held.save(cart, 3600)

        async def read(session_id: str) -> None:
            await store.load(session_id, extend_ttl=3600)

        counts = {}
        for name, operation in (("change", change), ("read", read)):
            await asyncio.gather(*(operation(session_id) for session_id in ids))  # once untimed
            loop = asyncio.get_running_loop()
            stop, done = loop.time() + seconds, 0

            async def repeat(session_id: str) -> None:
                nonlocal done
                while loop.time() < stop:
                    await operation(session_id)
                    done += 1

            started = _cpu_seconds()
            await asyncio.gather(*(repeat(session_id) for session_id in ids))
            counts[name] = (done, _cpu_seconds() - started)
        await store.close()
        return counts

    results = run_event_loop(run())  # the shop's own event loop
    return tuple(cpu / done * 1e6 for done, cpu in (results["read"], results["change"]))


def _cpu_seconds() -> float:
    """This process's CPU time, and its children's (the store's writer, from /proc, while it runs)."""
    total = time.process_time()
    for pid in _children():
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as children:
            return [int(pid) for pid in children.read().split()]
    except OSError:
        return []


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    folder, iterations, threads, seconds = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    os.makedirs(f"{folder}/.locks", exist_ok=True)
    one = Session(folder, "serial")
    change_us, change_cpu_us = per_call_us(one.change, iterations)
    change_nofsync_us, _ = per_call_us(lambda: one.change(fsync=False), iterations)
    read_us, read_cpu_us = per_call_us(lambda: one.read(extend=False), iterations)
    fd = os.open(f"{folder}/fsync-only", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fsyncs_us, _ = per_call_us(lambda: one.fsyncs_only(fd), iterations)
    finally:
        os.close(fd)
    pairs = pairs_per_second(folder, threads, seconds)
    store_read_us, store_change_us = store_cpu_us(folder, threads, seconds)
    print(f"RESULT change_us={change_us:.1f} change_nofsync_us={change_nofsync_us:.1f} fsyncs_us={fsyncs_us:.1f} "
          f"read_us={read_us:.1f} threads={threads} pairs_per_s={pairs:.1f} change_cpu_us={change_cpu_us:.1f} "
          f"read_cpu_us={read_cpu_us:.1f} store_read_cpu_us={store_read_us:.1f} store_change_cpu_us={store_change_us:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
