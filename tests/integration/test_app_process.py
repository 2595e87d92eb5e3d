"""`python app.py` as a process: a bad setting stops the start with one line and exit 2, and SIGTERM
lets the requests in flight finish before exiting 0."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.shop_process import REPO_ROOT, free_port, wait_for_healthz


pytestmark = pytest.mark.timeout(120)


def run_app(tmp_path, **environ):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_") and k != "COOKIE_SECRET"}
    env.update(DATA_DIR=str(tmp_path / "data"), HOST="127.0.0.1", **environ)
    return subprocess.Popen([sys.executable, "app.py"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_invalid_setting_stops_the_start_with_one_line_and_exit_2(tmp_path):
    process = run_app(tmp_path, SESSION_TTL="-5")
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stderr.strip().count("\n") == 0
    assert "SESSION_TTL='-5' is not valid: expected a whole number of seconds greater than 0" in stderr


def test_sigterm_lets_requests_in_flight_finish_then_exits_0(tmp_path):
    port = free_port()
    # 100 logins from one address start 100 sessions: lift the per-address limit on new ones,
    # which this test is not about.
    process = run_app(tmp_path, PORT=str(port), SESSION_BACKEND="file", SESSIONS_PER_MINUTE="100000")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_healthz(base, timeout=30, alive=lambda: process.poll() is None)

        page = urllib.request.urlopen(f"{base}/login", timeout=5)
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.read().decode()).group(1)
        body = urllib.parse.urlencode({"_xsrf": token, "username": "demo", "password": "demo1234"}).encode()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)

        def log_in(_):
            request = urllib.request.Request(f"{base}/login", data=body, headers={"Cookie": cookie})
            try:
                return opener.open(request, timeout=30).status
            except urllib.error.HTTPError as error:
                return error.code
            except urllib.error.URLError as error:
                # Sent after the shop stopped accepting: refused, which is what stopping means.
                if isinstance(error.reason, ConnectionError):
                    return "not accepted"
                raise
            except ConnectionResetError:
                # Queued in the kernel but never accepted by the shop before its socket closed.
                return "not accepted"

        # Each login hashes with scrypt in the executor: 100 of them keep the shop busy for a while.
        with ThreadPoolExecutor(50) as pool:
            results = pool.map(log_in, range(100))
            time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            statuses = list(results)
        # Every request the shop took was answered in full; the rest were never accepted.
        assert set(statuses) <= {303, "not accepted"}, statuses
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=10)
    assert f"listening on http://127.0.0.1:{port} (session backend: file)" in stderr
    in_flight = int(re.search(r"waiting for (\d+) request", stderr).group(1))
    assert in_flight > 0, "SIGTERM came after every request had finished: nothing was drained"
    assert statuses.count(303) >= in_flight
    assert "stopped" in stderr
