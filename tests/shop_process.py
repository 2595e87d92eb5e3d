"""The shop as a real `python app.py` subprocess, and a shopper that drives it over HTTP like a browser
without JavaScript (a cookie jar, the _xsrf token with every form, pages read through their data-testid
hooks). Used by the integration tests that need a process and by the end-to-end tests."""

from __future__ import annotations

import copy
import http.cookiejar
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import free_port, wait_for_healthz  # noqa: F401 (shared with the bench and re-exported)
from tests.pages import Page

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- the app as a subprocess --------------------------------------------------------------------------


@dataclass
class AppProcess:
    """One `python app.py` on 127.0.0.1:port; restartable on the same port and DATA_DIR.

    The shop sees none of this environment's SESSION_* or COOKIE_SECRET, only `environ` on top of
    the place it is given (e.g. a fixed COOKIE_SECRET or a SESSION_DIR)."""

    data_dir: Path
    backend: str
    port: int
    log_path: Path
    environ: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    # The source tree whose app.py runs: this one, or another release's (an upgrade test's).
    root: Path = REPO_ROOT

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_") and k != "COOKIE_SECRET"}
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.port),
            DATA_DIR=str(self.data_dir),
            SESSION_BACKEND=self.backend,
            PYTHONUNBUFFERED="1",
            **self.environ,
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            body = wait_for_healthz(self.url, timeout=30, alive=lambda: self.process.poll() is None)
        except (RuntimeError, TimeoutError) as error:
            self.stop(signal.SIGKILL)
            raise AssertionError(f"app.py did not come up: {error}\n--- its output:\n{self.output()}") from None
        assert self.backend in body, f"/healthz does not name the backend {self.backend!r}: {body!r}"
        return self

    def kill9(self) -> int:
        """A crash: SIGKILL, nothing gets to run. Returns the exit status (-9)."""
        return self.stop(signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        """The worker processes of a shop started with WORKERS > 1 (none with one process)."""
        if self.process is None:
            return []
        return worker_pids(self.process.pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send sig and wait for the exit, of the workers too; returns the exit status (0 when it was
        not running)."""
        if self.process is None:
            return 0
        workers = self.worker_pids()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            status = self.process.wait(timeout)
            # Workers die with their supervisor; wait for them, or a restart could find the port held.
            wait_until_gone(workers, timeout)
            return status
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"app.py did not exit within {timeout}s of signal {sig}\n--- its output:\n{self.output()}"
            ) from None
        finally:
            self.process = None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def worker_pids(parent: int) -> list[int]:
    try:
        with open(f"/proc/{parent}/task/{parent}/children") as children:
            return [int(pid) for pid in children.read().split()]
    except FileNotFoundError:
        return []


def wait_until_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for pid in pids:
        while os.path.exists(f"/proc/{pid}") and _state(pid) != "Z":
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {pid} outlived its supervisor by {timeout}s")
            time.sleep(0.02)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "gone"


# --- a shopper without JavaScript ----------------------------------------------------------------------


class Shopper:
    """An HTTP client with a cookie jar that sends the _xsrf token with every POST and follows redirects,
    as a browser without JavaScript does."""

    def __init__(self, base_url: str, jar: http.cookiejar.CookieJar | None = None) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar() if jar is None else jar
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self._unredirected = urllib.request.build_opener(_RefuseRedirects)

    def at(self, base_url: str) -> Shopper:
        """The same browser on another shop process: it shares this shopper's cookie jar."""
        return Shopper(base_url, self.jar)

    def copy_at(self, base_url: str) -> Shopper:
        """Another browser holding a copy of this one's cookies as they are now, on base_url: what
        a request sent before a logout still carries."""
        jar = http.cookiejar.CookieJar()
        for cookie in self.jar:
            jar.set_cookie(copy.copy(cookie))
        return Shopper(base_url, jar)

    def get(self, path: str) -> Page:
        return self._open(self.opener, urllib.request.Request(self.base_url + path))

    def post(self, path: str, **fields: str) -> Page:
        return self._open(self.opener, self._form(path, fields))

    def post_without_redirect(self, path: str, **fields: str) -> Page:
        """The answer to one form post as it came (a 303 stays a 303). It sends the jar's cookies but
        keeps none it is sent, so that many can go at once from threads; the _xsrf cookie must
        already be in the jar (any page with a form sets it)."""
        request = self._form(path, fields)
        self.jar.add_cookie_header(request)
        return self._open(self._unredirected, request, timeout=60)

    def _form(self, path: str, fields: dict[str, str]) -> urllib.request.Request:
        if self._cookie("_xsrf") is None:
            self.get("/login")
        body = urllib.parse.urlencode({**fields, "_xsrf": self._cookie("_xsrf")}).encode()
        return urllib.request.Request(self.base_url + path, data=body, method="POST")

    def _cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.jar if cookie.name == name), None)

    @staticmethod
    def _open(opener: urllib.request.OpenerDirector, request: urllib.request.Request, timeout: float = 15) -> Page:
        try:
            with opener.open(request, timeout=timeout) as response:
                return Page(response.read().decode("utf-8", "replace"), status=response.status, url=response.url)
        except urllib.error.HTTPError as error:
            return Page(error.read().decode("utf-8", "replace"), status=error.code, url=error.url)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
