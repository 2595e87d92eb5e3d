"""Real servers the tests start themselves: a `redis-server` on a free port in a temporary folder,
without persistence, stoppable and startable again on the same port (to test a Redis that goes away
and comes back). `redis_server` in tests/conftest.py shares one for a whole run. `SentinelCluster`:
a primary, its replicas and three real sentinels (`redis-server sentinel.conf --sentinel`) that
fail it over within seconds."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.availability import unavailable
from tests.shop_process import free_port


class RedisServer:
    """One redis-server on 127.0.0.1:port, keeping nothing on disk unless persistent; its log is in folder."""

    def __init__(self, folder: Path, port: int | None = None, password: str | None = None,
                 persistent: bool = False, replica_of: int | None = None) -> None:
        self.folder = folder
        self.replica_of = replica_of  # the port of the primary on 127.0.0.1 this one replicates
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
        if self.replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        # A replica (or one promoted later) syncs at once, not after the default 5 s wait for others.
        command += ["--repl-diskless-sync-delay", "0"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"redis-server did not come up on port {self.port}:\n{self.output()}")
            time.sleep(0.05)
        return self

    def wait_until_replicating(self, timeout: float = 10) -> RedisServer:
        """Once a replica's link to its primary is up (its first sync done)."""
        deadline = time.monotonic() + timeout
        while "master_link_status:up" not in self.info("replication"):
            if time.monotonic() > deadline:
                raise AssertionError(f"replica {self.port} did not sync within {timeout}s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def info(self, section: str) -> str:
        """INFO's section as `field:value` lines ("" when it does not answer)."""
        return _info(self.port, section)

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


class SentinelCluster:
    """A primary, `replicas` replicas and `sentinels` sentinels on 127.0.0.1, each on a free port,
    all in folder. The sentinels monitor the primary as `master` (quorum 2), call it down after
    `down_after_ms` without an answer and give a failover `failover_timeout_ms`."""

    def __init__(self, folder: Path, *, master: str = "shop", replicas: int = 2, sentinels: int = 3,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 3000) -> None:
        self.folder = folder
        self.master = master
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.primary = RedisServer(folder / "primary")
        self.replicas = [RedisServer(folder / f"replica-{n}", replica_of=self.primary.port) for n in range(replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self._sentinels: list[subprocess.Popen] = []

    @property
    def servers(self) -> list[RedisServer]:
        return [self.primary, *self.replicas]

    @property
    def sentinels_variable(self) -> str:
        """What REDIS_SENTINELS is set to for the shop."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self, timeout: float = 20) -> SentinelCluster:
        for server in self.servers:
            server.start()
        for replica in self.replicas:
            replica.wait_until_replicating()
        for number, port in enumerate(self.sentinel_ports):
            folder = self.folder / f"sentinel-{number}"
            folder.mkdir(parents=True, exist_ok=True)
            config = folder / "sentinel.conf"  # a sentinel rewrites its own config: in a folder of its own
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {folder}\nlogfile {folder / 'sentinel.log'}\n"
                f"sentinel monitor {self.master} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.master} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.master} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.master} 2\n")
            self._sentinels.append(subprocess.Popen([shutil.which("redis-server"), str(config), "--sentinel"],
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        # Ready once every sentinel knows the primary, its replicas and the other sentinels.
        while not all(self._ready(port) for port in self.sentinel_ports):
            if time.monotonic() > deadline:
                raise AssertionError(f"the sentinels did not find each other within {timeout}s:\n{self.output()}")
            time.sleep(0.1)
        return self

    def primary_port(self, sentinel: int = 0) -> int | None:
        """The primary's port as a sentinel says now (None when it does not answer)."""
        try:
            answer = _ask(self.sentinel_ports[sentinel], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master)
        except OSError:
            return None
        return int(answer[1]) if answer else None

    def wait_for_failover(self, old_port: int, timeout: float = 30) -> RedisServer:
        """The server every sentinel names as the primary once it is no longer old_port."""
        deadline = time.monotonic() + timeout
        while True:
            ports = {self.primary_port(n) for n in range(len(self.sentinel_ports))}
            if len(ports) == 1 and None not in ports and old_port not in ports:
                port = ports.pop()
                return next(server for server in self.servers if server.port == port)
            if time.monotonic() > deadline:
                raise AssertionError(f"no failover from {old_port} within {timeout}s (sentinels say {ports}):\n"
                                     f"{self.output()}")
            time.sleep(0.05)

    def server_at(self, port: int) -> RedisServer:
        return next(server for server in self.servers if server.port == port)

    def stop(self) -> None:
        for process in self._sentinels:
            process.kill()
            process.wait()
        self._sentinels = []
        for server in self.servers:
            if server.process is not None and server.process.poll() is None:
                server.process.send_signal(signal.SIGCONT)  # a test may leave one stopped
            server.stop()

    def output(self) -> str:
        logs = sorted(self.folder.glob("sentinel-*/sentinel.log"))
        return "\n".join(f"--- {log.parent.name}\n" + log.read_text(errors="replace")[-3000:] for log in logs)

    def _ready(self, port: int) -> bool:
        import redis

        client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
        try:
            state = client.sentinel_master(self.master)
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()
        return (state["num-slaves"] == len(self.replicas)
                and state["num-other-sentinels"] == len(self.sentinel_ports) - 1)


def _info(port: int, section: str) -> str:
    import redis

    client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        return "\n".join(f"{key}:{value}" for key, value in client.info(section).items())
    except redis.exceptions.RedisError:
        return ""
    finally:
        client.close()


def _ask(port: int, *words: str):
    """One command to 127.0.0.1:port through redis-py; its answer (raises OSError when it cannot)."""
    import redis

    client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        return client.execute_command(*words)
    except redis.exceptions.RedisError as error:
        raise OSError(str(error)) from None
    finally:
        client.close()
