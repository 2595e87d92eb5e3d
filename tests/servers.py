"""Real servers the tests start themselves: a `redis-server` on a free port in a temporary folder,
without persistence, stoppable and startable again on the same port (to test a Redis that goes away
and comes back). `redis_server` in tests/conftest.py shares one for a whole run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.availability import unavailable
from tests.shop_process import free_port


class RedisServer:
    """One redis-server on 127.0.0.1:port, keeping nothing on disk unless persistent; its log is in folder."""

    def __init__(self, folder: Path, port: int | None = None, password: str | None = None,
                 persistent: bool = False) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.password = password
        # Append-only with a sync per write: a restart after SIGKILL finds every session again.
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.folder / f"redis-{self.port}.log"

    def start(self, timeout: float = 10) -> RedisServer:
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("no redis-server on PATH (apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                   "--save", "", "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always",
                   "--daemonize", "no", "--logfile", str(self.log_path)]
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"redis-server did not come up on port {self.port}:\n{self.output()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """SIGKILL: nothing written, the port free again at once."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def flush(self) -> None:
        self.command("FLUSHALL")

    def command(self, *words: str) -> str:
        """Send one command over a plain socket (RESP); returns the first line of the answer."""
        parts = ([b"AUTH", self.password.encode()],) if self.password else ()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            for command in (*parts, [word.encode() for word in words]):
                connection.sendall(_resp(command))
                answer = connection.recv(65536).decode(errors="replace")
            return answer.splitlines()[0] if answer else ""

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _answers(self) -> bool:
        try:
            return self.command("PING") in ("+PONG", "-NOAUTH Authentication required.")
        except OSError:
            return False


def _resp(words: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in words)
