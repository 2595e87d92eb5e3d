"""WORKERS: several real `python app.py` worker processes on one port: they share every session and
lose no update, one of them sweeps, SIGTERM drains them all and exits 0, a worker that dies is
started again, and a supervisor killed with SIGKILL takes its workers with it."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_shared_sessions import SHARED_BACKENDS, add_all_at_once, log_in_as_demo_with_one_product
from tests.shop_process import Shopper, wait_until_gone

pytestmark = pytest.mark.timeout(120)


def answering_pids(url: str, requests: int = 60) -> set[int]:
    """The pids that answered /healthz over `requests` simultaneous connections."""
    def ask(_: int) -> int:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            return json.loads(response.read())["instance"]["pid"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        return set(pool.map(ask, range(requests)))


def wait_for(condition, timeout: float = 20, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def all_workers(app, count: int) -> list[int]:
    """The workers' pids once all `count` are forked (the first may answer before the last is)."""
    return wait_for(lambda: (pids := app.worker_pids()) and len(pids) == count and pids,
                    what=f"{count} workers")


@pytest.mark.parametrize("backend", SHARED_BACKENDS)
def test_workers_share_sessions_and_keep_every_simultaneous_add(start_app, backend, request):
    environ = {"WORKERS": "3"}
    if backend == "redis":
        environ["REDIS_URL"] = request.getfixturevalue("redis_server").url
        environ["SESSION_REDIS_PREFIX"] = f"test:{os.getpid()}:{time.monotonic_ns()}:"
    app = start_app(backend, **environ)
    workers = all_workers(app, 3)
    # Every worker answers: the kernel hands the shared socket's connections to all of them.
    assert wait_for(lambda: answering_pids(app.url) == set(workers), what="all three workers answering")

    shopper = Shopper(app.url)
    product_id = log_in_as_demo_with_one_product(shopper)
    statuses = add_all_at_once([shopper] * 50, product_id)
    assert statuses == [303] * 50, statuses
    page = shopper.get("/cart")
    assert page.cart_lines == {product_id: 51}
    assert "demo" in page.current_user


def test_sigterm_drains_every_worker_and_exits_0(start_app):
    app = start_app("file", WORKERS="2")
    workers = all_workers(app, 2)
    assert app.stop(signal.SIGTERM) == 0
    wait_until_gone(workers, 5)
    assert app.output().count("stopped") >= 2  # each worker's own drain ran


def test_a_worker_that_dies_is_started_again(start_app):
    app = start_app("file", WORKERS="2")
    victim = all_workers(app, 2)[0]
    os.kill(victim, signal.SIGKILL)
    replaced = wait_for(lambda: (pids := app.worker_pids()) and len(pids) == 2 and victim not in pids and pids,
                        what="a new worker in place of the killed one")
    assert re.search(rf"worker \d \(pid {victim}\) killed by SIGKILL; starting it again", app.output())
    assert answering_pids(app.url) <= set(replaced)
    log_in_as_demo_with_one_product(Shopper(app.url))


def test_workers_die_with_a_supervisor_killed_by_sigkill(start_app):
    app = start_app("file", WORKERS="2")
    workers = all_workers(app, 2)
    assert app.kill9() == -signal.SIGKILL
    wait_until_gone(workers, 10)  # no orphan keeps the port and serves on
    app.start()
    all_workers(app, 2)
    assert Shopper(app.url).get("/healthz").status == 200


def test_only_one_worker_sweeps(start_app):
    app = start_app("file", WORKERS="3", SESSION_REAP_INTERVAL="1")
    wait_for(lambda: app.output().count("session sweep:") >= 3, what="three sweeps")
    sweepers = set(re.findall(r"\[(\d+)\] sessions: session sweep:", app.output()))
    assert len(sweepers) == 1, app.output()
