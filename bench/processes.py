"""Subprocesses the bench starts and waits for: servers (each in its own process group), a Redis of
its own, commands run to completion with their output kept. `free_port` and `wait_for_healthz`
are also what the tests use (tests/shop_process.py imports them from here)."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """Something the bench needs is missing or broke; the message says what to do."""


class Unavailable(BenchError):
    """A row that cannot run here, for a reason that is not a fault of the run (a tool missing, the
    shop refusing a backend it does not have yet). The report shows the row with the reason."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_healthz(base_url: str, timeout: float = 60, alive=lambda: True, path: str = "/healthz") -> str:
    """Poll GET base_url+path until it answers 200; returns the body. alive() false stops the wait
    early (RuntimeError); no 200 within timeout seconds is a TimeoutError."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"stopped before {path} answered ({last})")
        try:
            with urllib.request.urlopen(f"{base_url}{path}", timeout=3) as response:
                if response.status == 200:
                    return response.read().decode("utf-8", "replace")
                last = f"status {response.status}"
        except (OSError, urllib.error.URLError) as error:
            last = str(error)
        time.sleep(0.1)
    raise TimeoutError(f"{base_url}{path} did not answer 200 within {timeout}s ({last})")


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def stop_group(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the leader and wait; then SIGKILL whatever is left of its process group (workers,
    a gunicorn thread worker), so nothing of one row is still running during the next."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def session_cpu_seconds(session: int) -> float:
    """The CPU time (user + system, seconds) of every live process in the session `session` (a
    process started with start_new_session=True and everything it forked): a server's whole tree."""
    from bench.parse import ParseError, parse_proc_stat

    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, ParseError):
            owner, used = parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())
            if owner == session:
                ticks += used
    return ticks / os.sysconf("SC_CLK_TCK")


def processes_like_leader(pgid: int) -> int:
    """How many processes of the group `pgid` run the leader's command line (the leader and the
    workers it forked; not helpers it spawned with other commands)."""
    def cmdline(pid: str) -> bytes | None:
        with contextlib.suppress(OSError):
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        return None

    leader = cmdline(str(pgid))
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # the fields after the command name (which may hold spaces) start after its ")"
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and cmdline(pid) == leader:
                count += 1
    return count


class Service:
    """A server subprocess in its own process group, ready once `ready_path` answers 200."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, port: int,
                 ready_path: str, log: Path, ready_timeout: float = 60) -> None:
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.port, self.ready_path, self.log = port, ready_path, log
        self.ready_timeout = ready_timeout
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # A restart appends to the log of the first start.
        with open(self.log, "ab" if self.process else "wb") as log:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_healthz(self.base_url, timeout=self.ready_timeout, alive=lambda: self.process.poll() is None,
                             path=self.ready_path)
        except RuntimeError:  # it exited
            self.stop()
            raise self.exit_error() from None
        except TimeoutError as error:
            self.stop()
            raise BenchError(f"{self.name}: {error}: {tail(self.log)}") from None
        except BaseException:
            self.stop()
            raise

    def exit_error(self) -> BenchError:
        """Why it exited before it was ready; `Unavailable` when the shop's configuration refused it."""
        from bench.parse import parse_config_refusal

        refusal = parse_config_refusal(self.log.read_text(errors="replace")) if self.log.exists() else None
        if refusal is not None:
            return Unavailable(f"refused by the shop's configuration: {refusal}")
        return BenchError(f"{self.name} exited with {self.process.returncode} before it was ready: {tail(self.log)}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def processes(self) -> int:
        """How many processes serve: with WORKERS > 1 the leader only supervises its workers."""
        if not self.alive:
            return 0
        count = processes_like_leader(self.process.pid)
        return count - 1 if count > 1 else count

    def cpu_seconds(self) -> float:
        """CPU seconds its processes have used so far (see session_cpu_seconds)."""
        return session_cpu_seconds(self.process.pid) if self.alive else 0.0

    def died(self) -> str:
        return (f"{self.name} (pid {self.process.pid}) exited with {self.process.returncode} during the run, "
                f"stopped by something outside the bench: {tail(self.log, 2)}")

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


class RedisServer:
    """The bench's own redis-server: a free port, a temp folder, no persistence."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> RedisServer:
        server = shutil.which("redis-server")
        if server is None:
            raise Unavailable("redis-server is not installed: apt-get install -y redis-server")
        self.folder = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.folder), "--protected-mode", "yes"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self._pong():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise BenchError(f"redis-server did not start on port {self.port}: {tail(self.log)}")
            time.sleep(0.05)
        return self

    def cpu_seconds(self) -> float:
        return session_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def command_calls(self) -> dict[str, int]:
        """Calls by command since it started (INFO commandstats)."""
        from bench.parse import parse_commandstats

        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"INFO commandstats\r\n")
            reply = b""
            while not 0 < _bulk_length(reply) <= len(reply):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return parse_commandstats(reply.decode("utf-8", "replace"))

    def _pong(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_group(self.process)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _bulk_length(reply: bytes) -> int:
    """The whole length of a RESP bulk string reply (`$N\\r\\n` + N bytes + `\\r\\n`), from its header."""
    header, sep, _ = reply.partition(b"\r\n")
    if not sep or not header.startswith(b"$"):
        return 0
    return len(header) + 2 + int(header[1:]) + 2


def run_logged(argv: list[str], log: Path, *, timeout: float, cwd: Path = REPO,
               env: dict[str, str] | None = None) -> str:
    """Run to completion; keep stdout+stderr in `log`; return stdout; raise BenchError on failure."""
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{Path(argv[0]).name} ran longer than {timeout:.0f}s") from error
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {' '.join(map(str, argv))}\nexit {done.returncode}\n--- stdout\n{done.stdout}"
                   f"--- stderr\n{done.stderr}")
    if done.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv[:3]))} exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-300:]} (see {log})")
    return done.stdout


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder on the disk (not tmpfs: fsync must cost what it costs)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
