"""The scale stack watches itself (docker-compose.scale.yml, a Compose project of its own on free
ports): its Prometheus scrapes every replica (found through Docker's DNS) and nginx's exporter;
Redis stopped, the SessionStoreUnavailable alert fires within its `for:` period (30 s at a 5 s
scrape), and resolves once Redis is back; a request through nginx carries one X-Request-ID that
is in nginx's log line and the replica's. The stack is removed with `down -v` whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request

import pytest

from tests.e2e.test_scale_stack import ScaleStack, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

REPLICAS = 2


def prometheus(stack: ScaleStack, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.prometheus_port}{path}", timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def alert_states(stack: ScaleStack, name: str) -> list[str]:
    """The states ("pending", "firing") of every active alert of that name."""
    return [alert["state"] for alert in prometheus(stack, "/api/v1/alerts")["alerts"]
            if alert["labels"]["alertname"] == name]


def healthy_targets(stack: ScaleStack, job: str) -> int:
    targets = prometheus(stack, "/api/v1/targets")["activeTargets"]
    return sum(1 for target in targets if target["labels"]["job"] == job and target["health"] == "up")


@pytest.fixture
def watched_stack(request, compose, free_tcp_port):
    stack = ScaleStack(compose, free_tcp_port, project=f"shopwatch{os.getpid()}")
    try:
        stack.run("up", "-d", "--build", "--scale", f"web={REPLICAS}", timeout=1200)
        yield stack
    finally:
        report = getattr(request.node, "report_call", None)
        try:
            if report is None or report.failed:
                stack.save_logs("stack-watches-itself-logs")
        finally:
            stack.down()


def test_prometheus_fires_and_resolves_the_store_alert_and_request_ids_tie_the_logs(watched_stack):
    stack = watched_stack
    wait_until(lambda: healthy_targets(stack, "shop") == REPLICAS, 180,
               f"Prometheus did not scrape {REPLICAS} replicas")
    wait_until(lambda: healthy_targets(stack, "nginx") == 1, 120, "Prometheus did not scrape nginx's exporter")
    rules = {rule["name"] for group in prometheus(stack, "/api/v1/rules")["groups"] for rule in group["rules"]}
    assert {"SessionStoreUnavailable", "SessionStoreFull", "DatabaseUnavailable", "HighErrorRate",
            "SlowPages", "WorkersRestarting"} <= rules

    # One id for one request, in nginx's line and the replica's.
    with urllib.request.urlopen(stack.url + "/", timeout=15) as response:
        request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id
    wait_until(lambda: f"request_id={request_id}" in stack.run("logs", "--no-color", "nginx"), 30,
               "the request id is not in nginx's log")
    # ACCESS_LOG=errors keeps a 200 out of the replica's log: a 404 is logged, with its id.
    try:
        urllib.request.urlopen(stack.url + "/no-such-page", timeout=15)
    except urllib.error.HTTPError as error:
        missing_id = error.headers["X-Request-ID"]
    nginx_lines = wait_until(
        lambda: [line for line in stack.run("logs", "--no-color", "nginx").splitlines() if missing_id in line],
        30, "the 404's id is not in nginx's log")
    web_lines = wait_until(
        lambda: [line for line in stack.run("logs", "--no-color", "web").splitlines() if missing_id in line],
        30, "the 404's id is not in the replica's log")
    assert len(nginx_lines) == 1 and "/no-such-page" in nginx_lines[0], nginx_lines
    assert any("404 GET /no-such-page" in line for line in web_lines), web_lines

    assert alert_states(stack, "SessionStoreUnavailable") == []
    # Every Redis server: with one stopped, the sentinels would fail over to another (docs/FAILOVER.md).
    redis_servers = ("redis", "redis-replica-1", "redis-replica-2")
    stack.run("stop", *redis_servers)
    try:
        # The rule's for: is 30 s; a scrape every 5 s, an evaluation every 5 s: firing well within 90 s.
        wait_until(lambda: alert_states(stack, "SessionStoreUnavailable").count("firing") == REPLICAS, 90,
                   "SessionStoreUnavailable did not fire for every replica with Redis stopped")
    finally:
        stack.run("start", *redis_servers)
    wait_until(lambda: alert_states(stack, "SessionStoreUnavailable") == [], 90,
               "SessionStoreUnavailable did not resolve with Redis back")
