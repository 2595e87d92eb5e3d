"""/metrics on METRICS_PORT against real `python app.py` processes: each count moves when its event
happens (real failures: a stopped redis-server, a corrupt session file), with WORKERS=3 one scrape
adds up every worker's work, labels never take a raw path, and the port is the metrics' alone."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SHIPPING
from tests.servers import RedisServer
from tests.shop_process import AppProcess, Shopper, free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample of one scrape, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=15) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def start_with_metrics(start_app, backend: str = "file", **environ: str) -> tuple[AppProcess, int]:
    port = free_port()
    environ = {"WORKERS": "1", "METRICS_PORT": str(port), **environ}
    return start_app(backend, **environ), port


def eventually(check: Callable[[], bool], timeout: float = 15, what: str = "") -> None:
    """Wait until check() holds: a request is counted just after its answer is sent."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def status_of(url: str, **kwargs) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, **kwargs), timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process pid listens on: its socket inodes matched against /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# --- where /metrics is served ----------------------------------------------------------------------


def test_without_metrics_port_the_shop_listens_on_its_port_alone_and_keeps_no_counts(start_app):
    app = start_app("file", WORKERS="1")
    assert listening_ports(app.process.pid) == {app.port}
    assert status_of(app.url + "/metrics") == 404
    assert not (app.data_dir / "metrics").exists()


def test_metrics_are_served_on_their_own_port_and_never_on_the_public_one(start_app):
    app, metrics_port = start_with_metrics(start_app)
    assert listening_ports(app.process.pid) == {app.port, metrics_port}
    assert status_of(f"http://127.0.0.1:{metrics_port}/metrics") == 200
    assert status_of(app.url + "/metrics") == 404
    # The metrics' port serves /metrics and nothing of the shop.
    assert status_of(f"http://127.0.0.1:{metrics_port}/") == 404
    assert status_of(f"http://127.0.0.1:{metrics_port}/healthz") == 404


def test_metrics_port_equal_to_port_is_refused_at_start(tmp_path):
    port = free_port()
    app = AppProcess(tmp_path, "file", port, tmp_path / "app.log", {"METRICS_PORT": str(port)})
    with pytest.raises(AssertionError, match="METRICS_PORT"):
        app.start()


def test_two_shops_sharing_data_dir_each_count_only_their_own(start_app):
    # As the scale stack's replicas share their DATA_DIR volume.
    first, first_port = start_with_metrics(start_app)
    second, second_port = start_with_metrics(start_app)
    assert first.data_dir == second.data_dir
    for _ in range(3):
        assert status_of(first.url + "/") == 200
    eventually(lambda: value(scrape(first_port), "shop_http_requests_total", route="/", status="200") == 3,
               what="the first shop's requests counted")
    assert value(scrape(second_port), "shop_http_requests_total", route="/", status="200") == 0


# --- requests ----------------------------------------------------------------------------------------


def test_requests_are_counted_by_route_pattern_and_status_and_timed(start_app):
    app, port = start_with_metrics(start_app)
    shopper = Shopper(app.url)
    assert shopper.get("/").status == 200
    assert shopper.get("/product/no-such-product").status == 404
    assert shopper.get("/no/such/page").status == 404
    eventually(lambda: value(scrape(port), "shop_http_requests_total", route="unmatched", status="404") == 1,
               what="the unmatched 404 counted")
    samples = scrape(port)
    assert value(samples, "shop_http_requests_total", route="/", status="200") == 1
    assert value(samples, "shop_http_requests_total", route="/product/{id}", status="404") == 1
    assert value(samples, "shop_http_request_duration_seconds_count", route="/") == 1
    assert value(samples, "shop_http_request_duration_seconds_bucket", route="/", le="+Inf") == 1
    assert value(samples, "shop_http_requests_in_flight") == 0


def test_a_thousand_distinct_urls_add_no_series(start_app):
    app, port = start_with_metrics(start_app)
    product_ids = _product_ids()

    def get_all(paths: list[str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=15)
        for path in paths:
            connection.request("GET", path)
            connection.getresponse().read()
        connection.close()

    # One of each kind first, so that every series these requests can make exists.
    get_all([f"/product/{product_ids[0]}", "/product/unknown-0", "/unknown/0"])
    eventually(lambda: value(scrape(port), "shop_http_requests_total", route="unmatched", status="404") == 1)
    before = scrape(port)
    paths = []
    for n in range(1000):
        kind = n % 3
        paths.append(f"/product/{product_ids[n % len(product_ids)]}?ref={n}" if kind == 0
                     else f"/product/unknown-{n}" if kind == 1 else f"/unknown/{n}/{n}")
    get_all(paths)
    eventually(lambda: value(scrape(port), "shop_http_requests_total", route="unmatched", status="404") == 334,
               what="every request counted")
    after = scrape(port)
    request_series = lambda samples: {key for key in samples if key[0].startswith("shop_http_")}
    assert request_series(after) == request_series(before)
    assert not any("unknown-" in str(labels) for _, labels in after)


# --- refusals ----------------------------------------------------------------------------------------


def test_refusals_are_counted_by_status_and_cause(start_app):
    app, port = start_with_metrics(start_app, LOGIN_THROTTLE_FAILURES="1", REGISTER_PER_MINUTE="1")
    shopper = Shopper(app.url)
    statuses = [shopper.post("/login", username="demo", password="wrong").status for _ in range(3)]
    assert statuses[-1] == 429
    # A burst of two registrations is allowed a minute; the third is refused.
    registrations = [shopper.post("/register", username=f"metrics{n}", password="password123").status
                     for n in range(3)]
    assert registrations[-1] == 429
    big = b"x" * (64 * 1024)
    assert status_of(app.url + "/cart/add", data=big, method="POST") == 413

    def counted() -> bool:
        samples = scrape(port)
        return (value(samples, "shop_http_refusals_total", status="413", cause="body_size") == 1
                and value(samples, "shop_http_refusals_total", status="429", cause="register_limit") >= 1)

    eventually(counted, what="the 413 and the registration's 429 counted")
    samples = scrape(port)
    assert value(samples, "shop_http_refusals_total", status="429", cause="login_throttle") == statuses.count(429)
    assert value(samples, "shop_http_refusals_total", status="429", cause="register_limit") == registrations.count(429)
    assert value(samples, "shop_http_refusals_total", status="429", cause="session_limit") == 0


# --- the session store ---------------------------------------------------------------------------------


def test_session_events_store_calls_and_lock_waits_are_counted(start_app):
    app, port = start_with_metrics(start_app, SESSION_TTL="2")
    shopper = Shopper(app.url)
    assert shopper.post("/cart/add", product_id=_a_product(), quantity="1").status == 200  # created
    assert shopper.post("/login", username="demo", password="demo1234").current_user == "demo"  # regenerated
    assert shopper.post("/logout").status == 200  # ended
    later = Shopper(app.url)
    later.post("/cart/add", product_id=_a_product(), quantity="1")
    time.sleep(2.5)
    assert later.get("/cart").status == 200  # its session has expired
    eventually(lambda: value(scrape(port), "shop_sessions_total", event="expired") >= 1, what="expired counted")
    samples = scrape(port)
    assert value(samples, "shop_sessions_total", event="created") == 2
    assert value(samples, "shop_sessions_total", event="regenerated") == 1
    assert value(samples, "shop_sessions_total", event="ended") == 1
    assert value(samples, "shop_session_store_call_duration_seconds_count", backend="file", operation="read") >= 3
    assert value(samples, "shop_session_store_call_duration_seconds_count", backend="file", operation="change") >= 3
    assert value(samples, "shop_session_lock_wait_seconds_count", backend="file") >= 2
    assert value(samples, "shop_database_call_duration_seconds_count", operation="find user") >= 1
    assert value(samples, "shop_session_store_up") == 1
    assert value(samples, "shop_database_up") == 1


def test_a_corrupt_session_file_counts_as_quarantined_and_corrupt(start_app):
    app, port = start_with_metrics(start_app)
    shopper = Shopper(app.url)
    shopper.post("/cart/add", product_id=_a_product(), quantity="1")
    sessions = app.data_dir / "sessions"
    files = [path for path in sessions.rglob("*") if path.is_file() and ".lock" not in path.parts
             and ".quarantine" not in path.parts and not path.name.startswith(".")]
    assert len(files) == 1, files
    expires = files[0].stat().st_mtime  # the file's mtime is the session's expiry
    files[0].write_bytes(b"{not json")
    os.utime(files[0], (expires, expires))
    assert shopper.get("/cart").status == 200
    samples = scrape(port)
    assert value(samples, "shop_sessions_total", event="quarantined") == 1
    assert value(samples, "shop_session_store_failures_total", backend="file", operation="read", kind="corrupt") == 1


def test_a_stopped_redis_counts_failures_as_unavailable_and_503s_by_cause(start_app, tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    try:
        app, port = start_with_metrics(start_app, "redis", REDIS_URL=redis.url, SESSION_RETRIES="0",
                                       SESSION_REDIS_TIMEOUT="0.5")
        shopper = Shopper(app.url)
        shopper.post("/cart/add", product_id=_a_product(), quantity="1")
        assert value(scrape(port), "shop_session_store_up") == 1
        redis.stop()
        assert shopper.get("/cart").status == 503
        eventually(lambda: value(scrape(port), "shop_http_refusals_total", status="503", cause="session_store") == 1,
                   what="the 503 counted")
        samples = scrape(port)
        assert value(samples, "shop_session_store_failures_total",
                     backend="redis", operation="read", kind="unavailable") == 1
        assert value(samples, "shop_session_store_up") == 0
        assert value(samples, "shop_http_requests_total", route="/cart", status="503") == 1
        redis.start()
        eventually(lambda: value(scrape(port), "shop_session_store_up") == 1, what="the store up again")
    finally:
        redis.stop()


def test_a_full_redis_counts_failures_as_full(start_app, tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    try:
        app, port = start_with_metrics(start_app, "redis", REDIS_URL=redis.url, SESSION_RETRIES="0")
        redis.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis.command("CONFIG", "SET", "maxmemory", "1")  # every write is refused: OOM
        shopper = Shopper(app.url)
        assert shopper.post("/cart/add", product_id=_a_product(), quantity="1").status == 503
        eventually(lambda: value(scrape(port), "shop_http_refusals_total", status="503", cause="session_store") == 1,
                   what="the 503 counted")
        samples = scrape(port)
        assert value(samples, "shop_session_store_failures_total",
                     backend="redis", operation="change", kind="full") == 1
        assert value(samples, "shop_session_store_full") == 1
        assert value(samples, "shop_session_store_up") == 1  # it answers: full is not down
        redis.command("CONFIG", "SET", "maxmemory", "0")
        eventually(lambda: value(scrape(port), "shop_session_store_full") == 0, what="no longer full")
    finally:
        redis.stop()


def test_expired_sessions_swept_are_counted(start_app):
    app, port = start_with_metrics(start_app, SESSION_TTL="1", SESSION_REAP_INTERVAL="1")
    for _ in range(2):
        Shopper(app.url).post("/cart/add", product_id=_a_product(), quantity="1")
    eventually(lambda: value(scrape(port), "shop_sessions_total", event="swept") == 2, timeout=60,
               what="both expired sessions swept")
    assert value(scrape(port), "shop_session_store_call_duration_seconds_count",
                 backend="file", operation="sweep") >= 1


def test_a_database_that_does_not_answer_counts_failures_and_503s_by_cause(start_app):
    # A PostgreSQL URL with nothing listening: every connection is refused.
    app, port = start_with_metrics(start_app, DATABASE_URL=f"postgresql://shop:pw@127.0.0.1:{free_port()}/shop",
                                   DATABASE_TIMEOUT="1")
    assert Shopper(app.url).post("/login", username="demo", password="demo1234").status == 503
    eventually(lambda: value(scrape(port), "shop_http_refusals_total", status="503", cause="database") == 1,
               what="the 503 counted")
    samples = scrape(port)
    failures = sum(count for (name, labels), count in samples.items()
                   if name == "shop_database_failures_total" and ("operation", "find user") in labels)
    assert failures >= 1, [key for key in samples if key[0] == "shop_database_failures_total"]
    assert value(samples, "shop_database_up") == 0
    assert value(samples, "shop_session_store_up") == 1


def test_orders_placed_are_counted(start_app):
    app, port = start_with_metrics(start_app)
    shopper = Shopper(app.url)
    shopper.post("/login", username="demo", password="demo1234")
    shopper.post("/cart/add", product_id=_a_product(), quantity="1")
    placed = shopper.post("/checkout", **SHIPPING)
    assert placed.first("order-id") is not None, placed.html[:2000]
    samples = scrape(port)
    assert value(samples, "shop_orders_placed_total") == 1
    assert value(samples, "shop_database_call_duration_seconds_count", operation="place order") == 1


# --- several workers --------------------------------------------------------------------------------


def test_with_three_workers_one_scrape_adds_up_every_worker_and_counts_restarts(start_app):
    app, port = start_with_metrics(start_app, WORKERS="3")
    eventually(lambda: len(app.worker_pids()) == 3, what="three workers")
    before = value(scrape(port), "shop_http_requests_total", route="/healthz", status="200")
    answered_by = []
    # A connection each, so that the kernel spreads them over the workers (a worker still starting
    # takes none: go on until every worker has answered).
    while len(answered_by) < 60 or len(set(answered_by)) < 3:
        assert len(answered_by) < 3000, f"not every worker answered: {set(answered_by)}"
        with urllib.request.urlopen(app.url + "/healthz", timeout=15) as response:
            answered_by.append(json.loads(response.read())["instance"]["pid"])
    sent = len(answered_by)
    eventually(lambda: value(scrape(port), "shop_http_requests_total", route="/healthz", status="200") - before == sent,
               what=f"{sent} requests counted")
    # A worker that dies keeps its counts in the total, and its restart is counted.
    victim = answered_by[0]
    os.kill(victim, signal.SIGKILL)
    eventually(lambda: victim not in app.worker_pids() and len(app.worker_pids()) == 3, what="the worker restarted")
    eventually(lambda: value(scrape(port), "shop_worker_restarts_total") == 1, what="the restart counted")
    samples = scrape(port)
    assert value(samples, "shop_http_requests_total", route="/healthz", status="200") - before == sent
    assert value(samples, "shop_http_requests_in_flight") == 0


def _product_ids() -> list[str]:
    catalog = json.loads((Path(__file__).parents[2] / "data" / "products.json").read_text())
    return [str(product["id"]) for product in catalog["products"]]


def _a_product() -> str:
    return _product_ids()[0]

