"""Debian's nginx, started by a test in front of real `python app.py` processes, with the scale
stack's own deploy/nginx/nginx.conf: only what ties it to Docker is rewritten (the replicas'
addresses, the port, where it keeps its pid and temporary files), so a test through it proves the
shipped settings (header buffers, upstream failure rules, timeouts, error pages)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests.availability import unavailable
from tests.shop_process import REPO_ROOT, free_port

SHIPPED_CONFIG = REPO_ROOT / "deploy" / "nginx" / "nginx.conf"


def render_config(config: str, *, port: int, replicas: Sequence[int], folder: Path, status_port: int) -> str:
    """The shipped configuration, listening on 127.0.0.1:port in front of 127.0.0.1:<replica> each
    (its stub_status on 127.0.0.1:status_port), keeping its files in folder. Raises AssertionError if a line it rewrites is not there exactly
    once (the shipped file changed shape: this must change with it)."""

    def once(pattern: str, replacement, text: str) -> str:
        new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count == 1, f"expected one match of {pattern!r} in {SHIPPED_CONFIG}, found {count}"
        return new

    # The upstream's `server` line keeps its parameters (max_fails, fail_timeout) for every replica.
    def replica_lines(match: re.Match) -> str:
        indent, parameters = match.group(1), match.group(2)
        return "\n".join(f"{indent}server 127.0.0.1:{replica}{parameters};" for replica in replicas)

    config = once(r"^(\s*)server web:8888([^;]*);", replica_lines, config)
    config = once(r"^(\s*)listen 8080 default_server;", rf"\1listen 127.0.0.1:{port} default_server;", config)
    config = once(r"^(\s*)listen 8081;", rf"\1listen 127.0.0.1:{status_port};", config)
    config = once(r"^pid .*;", f"pid {folder}/nginx.pid;", config)
    config = once(r"^worker_processes .*;", "worker_processes 1;", config)
    config = once(r"^(\s*)client_body_temp_path .*;", rf"\1client_body_temp_path {folder}/body;", config)
    config = once(r"^(\s*)proxy_temp_path .*;", rf"\1proxy_temp_path {folder}/proxy;", config)
    # Started by root, nginx would run its workers as nobody, who cannot reach a test's folder.
    return "user root;\n" + config


class NginxServer:
    """nginx on 127.0.0.1:port in front of the shops on the given ports; its log is in folder."""

    def __init__(self, folder: Path, replicas: Sequence[int]) -> None:
        self.folder = folder
        self.replicas = list(replicas)
        self.port = free_port()
        self.status_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "nginx.log"

    def start(self, timeout: float = 10) -> NginxServer:
        executable = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
        if executable is None:
            unavailable("no nginx (apt-get install nginx-light)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config_path = self.folder / "nginx.conf"
        config_path.write_text(render_config(SHIPPED_CONFIG.read_text(), port=self.port,
                                             replicas=self.replicas, folder=self.folder,
                                             status_port=self.status_port))
        command = [executable, "-p", str(self.folder), "-c", str(config_path), "-e", str(self.folder / "error.log"),
                   "-g", "daemon off;"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"nginx did not come up on port {self.port}:\n{self.output()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def output(self) -> str:
        """nginx's access log and error log, as written so far."""
        parts = [path.read_text(errors="replace") for path in (self.log_path, self.folder / "error.log")
                 if path.exists()]
        return "\n".join(parts)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/nginx-health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False
