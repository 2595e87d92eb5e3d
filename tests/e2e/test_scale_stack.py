"""The scale stack (docker-compose.scale.yml) in headless Chromium: nginx in front of three `web`
replicas, sessions in Redis, users and orders in PostgreSQL, and parts of it killed or restarted in
the middle of one shopping session.

One Compose project of its own on a free port: log in as demo, add two products, and see /healthz
answered by more than one replica. Then, going on in the same browser window each time:
1. two of the three replicas are killed (SIGKILL, by container id): login and cart intact, checkout
   works, and only the survivor answers;
2. `restart redis`: login and cart intact, a change is kept;
3. `restart db`: login and cart intact, checkout works;
4. `up -d --scale web=3` brings the replicas back: every replica answers again, login and cart
   intact, checkout works;
5. the Redis primary's container is killed (SIGKILL) while the shopper keeps adding: the sentinels
   promote a replica, the replicas follow it with no restart, the login and cart are intact, and
   every add acknowledged before, during and after the failover is in the cart.
Screenshots before and after each step go to test-artifacts/, the stack's logs too when the test
fails, and the stack is removed with `down -v` whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.compose_project import ComposeProject, inspect
from tests.shop_process import free_port

REPLICAS = 3
IMAGE_PREFIX = "shop-scale-e2e"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


class ScaleStack(ComposeProject):
    def __init__(self, compose: list[str], port: int, project: str | None = None) -> None:
        self.prometheus_port = free_port()
        super().__init__(
            compose,
            "docker-compose.scale.yml",
            project or f"shopscale{os.getpid()}",
            SHOP_PORT=str(port),
            # Its own, so that stacks of parallel runs (and anything on 9090) never meet.
            PROMETHEUS_PORT=str(self.prometheus_port),
            STACK_IMAGE_PREFIX=IMAGE_PREFIX,
            POSTGRES_PASSWORD="scale-e2e-password",
        )
        self.url = f"http://127.0.0.1:{port}"

    def up(self) -> None:
        # The first build installs Debian's nginx, redis and postgresql and pip's packages: minutes.
        # Later ones hit the cache.
        self.run("up", "-d", "--build", "--scale", f"web={REPLICAS}", timeout=900)

    def web_hostnames(self) -> dict[str, str]:
        """Container id -> hostname (what /healthz names) of every web replica, running or not."""
        return {container: inspect(container, "{{.Config.Hostname}}") for container in self.containers("web")}

    def running(self, container: str) -> bool:
        return inspect(container, "{{.State.Running}}") == "true"

    def kill(self, containers: list[str]) -> None:
        # By container id: `docker-compose kill` knows services only, and this is two of three.
        result = subprocess.run(["docker", "kill", *containers], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert not any(self.running(c) for c in containers), "a killed replica is still running"

    def restart(self, service: str) -> None:
        """`restart SERVICE`, then wait for its health check (a restart resets it to "starting")."""
        self.run("restart", service)
        (container,) = self.containers(service)
        wait_until(
            lambda: inspect(container, "{{.State.Health.Status}}") == "healthy",
            90,
            f"{service} was not healthy again after a restart",
        )

    def redis_primary(self) -> str:
        """The service name of the Redis primary, as the first sentinel says."""
        answer = self.run("exec", "-T", "sentinel-1", "redis-cli", "-p", "26379",
                          "sentinel", "get-master-addr-by-name", "shop")
        return answer.split()[0]

    def started(self, containers) -> dict[str, str]:
        """Each container's restart count and start time: equal before and after, no restart."""
        return {container: inspect(container, "{{.RestartCount}} {{.State.StartedAt}}") for container in containers}

    def order_ids_in_postgres(self) -> set[str]:
        """The ids of every order in the stack's PostgreSQL (as its superuser, over the socket)."""
        query = "SELECT id FROM orders"
        out = self.run("exec", "-T", "db", "psql", "-U", "postgres", "-d", "shop", "-tAc", query)
        return {line.strip() for line in out.splitlines() if line.strip()}


def healthz(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


def hostname_of(body: dict) -> str:
    instance = body.get("instance")
    assert isinstance(instance, dict) and instance.get("hostname"), f"/healthz does not name the instance: {body}"
    return instance["hostname"]


def wait_until(condition, timeout: float, message: str, interval: float = 0.5):
    """Poll condition() until it returns something true; returns that. Errors count as not yet."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except (OSError, urllib.error.URLError, ValueError, AssertionError) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"{message} within {timeout}s (last error: {last!r})")


def answering(stack: ScaleStack, expected: set[str], timeout: float = 60) -> set[str]:
    """Wait until /healthz, asked again and again through nginx, has been answered by every
    hostname in `expected`, by no other, and with every store it names ready; returns the hostnames
    seen."""
    seen: set[str] = set()

    def all_seen() -> bool:
        for _ in range(3 * len(expected)):
            body = healthz(stack.url)
            assert "unavailable" not in body.values(), f"a store is not ready: {body}"
            seen.add(hostname_of(body))
        assert seen <= expected, f"answered by {seen - expected}, not one of the replicas {expected}"
        return seen == expected

    wait_until(all_seen, timeout, f"/healthz was not answered by each of {sorted(expected)} (seen: {sorted(seen)})")
    return seen


@pytest.fixture
def scale_stack(request, compose, free_tcp_port):
    stack = ScaleStack(compose, free_tcp_port)
    try:
        stack.up()
        yield stack
    finally:
        report = getattr(request.node, "report_call", None)
        try:
            if report is None or report.failed:
                stack.save_logs("scale-stack-logs")
        finally:
            stack.down()


def test_scale_stack_keeps_login_and_cart_while_replicas_redis_and_postgres_restart(scale_stack, shopper):
    stack = scale_stack
    replicas = stack.web_hostnames()
    assert len(replicas) == REPLICAS, f"expected {REPLICAS} web replicas, found {replicas}"
    answering(stack, set(replicas.values()), timeout=120)

    cart = shopper.fill_cart_as_demo(stack.url)
    shopper.screenshot("scale-0-cart-filled")
    first, second = cart.lines
    assert len({hostname_of(healthz(stack.url)) for _ in range(12)}) > 1, "one replica answered every request"

    def still_intact(step: str, expected_lines: dict[str, int]) -> None:
        after = shopper.view_cart(stack.url)
        shopper.screenshot(f"scale-{step}-after")
        assert after.user is not None and "demo" in after.user, f"{step}: the header no longer shows demo"
        assert after.lines == expected_lines, f"{step}: the cart lines changed"
        assert after.count == sum(expected_lines.values()), f"{step}: the header count changed"

    # 1. Two of three replicas crash in the middle of the session.
    shopper.screenshot("scale-1-kill-replicas-before")
    killed, survivor = list(replicas)[:2], list(replicas)[2]
    stack.kill(killed)
    answering(stack, {replicas[survivor]}, timeout=30)
    still_intact("1-kill-replicas", cart.lines)
    orders = [shopper.check_out(stack.url)]
    shopper.screenshot("scale-1-kill-replicas-order-placed")
    assert shopper.view_cart(stack.url).lines == {}, "checkout did not empty the cart"
    shopper.add_to_cart(stack.url, first, quantity=1)
    lines = {first: 1}

    # 2. Redis restarts: its append-only file brings every session back.
    shopper.screenshot("scale-2-restart-redis-before")
    stack.restart("redis")
    answering(stack, {replicas[survivor]}, timeout=60)
    still_intact("2-restart-redis", lines)
    shopper.add_to_cart(stack.url, second, quantity=2)
    lines = {first: 1, second: 2}

    # 3. PostgreSQL restarts: the replicas' pools reconnect without a restart of the shop.
    shopper.screenshot("scale-3-restart-db-before")
    stack.restart("db")
    answering(stack, {replicas[survivor]}, timeout=60)
    still_intact("3-restart-db", lines)
    orders.append(shopper.check_out(stack.url))
    shopper.screenshot("scale-3-restart-db-order-placed")
    shopper.add_to_cart(stack.url, second, quantity=1)
    lines = {second: 1}

    # 4. The killed replicas come back, and nginx sends them requests again.
    shopper.screenshot("scale-4-replicas-back-before")
    stack.run("up", "-d", "--scale", f"web={REPLICAS}", timeout=300)
    assert stack.web_hostnames() == replicas, "`up -d --scale` made new replicas instead of starting the killed ones"
    answering(stack, set(replicas.values()), timeout=90)
    still_intact("4-replicas-back", lines)
    orders.append(shopper.check_out(stack.url))
    shopper.screenshot("scale-4-replicas-back-order-placed")
    assert shopper.view_cart(stack.url).lines == {}, "checkout did not empty the cart"

    # 5. The Redis primary dies in the middle of the session; the shopper keeps adding meanwhile.
    shopper.add_to_cart(stack.url, second, quantity=1)
    shopper.screenshot("scale-5-kill-redis-primary-before")
    replicas_started = stack.started(replicas)
    primary = stack.redis_primary()
    stack.kill(stack.containers(primary))
    acknowledged, unconfirmed = adds_through_failover(stack, shopper, first, old_primary=primary)
    assert stack.redis_primary() != primary, "the sentinels did not promote a replica"
    after = shopper.view_cart(stack.url)
    shopper.screenshot("scale-5-kill-redis-primary-after")
    assert after.user is not None and "demo" in after.user, "5-kill-redis-primary: the header no longer shows demo"
    assert after.lines.get(second) == 1, "5-kill-redis-primary: a line added before the failover changed"
    assert acknowledged <= after.lines.get(first, 0) <= acknowledged + unconfirmed, \
        f"{acknowledged} adds acknowledged ({unconfirmed} not), {after.lines.get(first, 0)} in the cart"
    print(f"Redis primary killed: {acknowledged} adds acknowledged, {unconfirmed} answered with a message")
    assert stack.started(replicas) == replicas_started, "a web replica restarted during the failover"
    answering(stack, set(replicas.values()), timeout=60)
    orders.append(shopper.check_out(stack.url))

    # The orders are PostgreSQL's, each once: the replicas share the database, not a file.
    in_postgres = stack.order_ids_in_postgres()
    assert in_postgres == set(orders), f"orders placed {orders}, orders in PostgreSQL {sorted(in_postgres)}"


def adds_through_failover(stack: ScaleStack, shopper, product: str, old_primary: str,
                          timeout: float = 180) -> tuple[int, int]:
    """Add `product` again and again, one at a time, until the sentinels name a new primary and
    three adds after that were acknowledged (the header's count grew: a new page or JavaScript);
    a message instead (the 503's "could not confirm" or "cannot reach") is an add not
    acknowledged, which may or may not be in the cart. Returns (acknowledged, not)."""
    acknowledged = unconfirmed = after_failover = 0
    deadline = time.monotonic() + timeout
    failed_over = threading.Event()

    def watch() -> None:
        # Apart from the adds: asking a sentinel through `docker exec` takes a second or more.
        while not failed_over.is_set() and time.monotonic() < deadline:
            try:
                if stack.redis_primary() != old_primary:
                    failed_over.set()
            except AssertionError:
                pass  # the sentinel did not answer this time
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    while after_failover < 3:
        assert time.monotonic() < deadline, f"adds not acknowledged again within {timeout}s of the kill"
        moved = failed_over.is_set()
        shopper.driver.get(f"{stack.url}/product/{product}")
        buttons = shopper._testid("add-to-cart")
        if not buttons:
            # The product page itself answered 503 (its session could not be read): nothing sent.
            assert shopper._testid("flash"), shopper.driver.page_source[:500]
            time.sleep(1)
            continue
        before = shopper.header_count()
        buttons[0].click()
        outcome = wait_until(lambda: shopper._loaded() and (
            "acknowledged" if shopper.header_count() == before + 1 else
            "not" if any(flash.text.strip() for flash in shopper._testid("flash")) else None),
            60, "the add's answer did not come")
        if outcome == "acknowledged":
            acknowledged += 1
            after_failover += moved
        else:
            unconfirmed += 1
            time.sleep(1)
    failed_over.set()
    watcher.join()
    return acknowledged, unconfirmed
