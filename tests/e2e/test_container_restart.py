"""The shop's Compose stack restarted in the middle of a shopping session, in headless Chromium.

For each backend, a Compose project of its own: log in as demo, add two products, then
1. `docker-compose restart web` (a clean stop), and
2. `docker-compose kill web` + `docker-compose up -d web` (a crash),
waiting for /healthz after each and going on in the same browser window. With `file` the login and
the cart survive both and checkout then succeeds; with `memory` the cart and the login are gone.
Screenshots of the cart before and after each restart go to test-artifacts/, and the container logs
too when the test fails. The stack is torn down with `down -v` whatever happens.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.compose_project import ComposeProject, inspect

TEST_IMAGE = "shop-web:e2e"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


class ComposeStack(ComposeProject):
    """One Compose project of docker-compose.yml, on its own host port and data volume."""

    def __init__(self, compose: list[str], backend: str, port: int) -> None:
        super().__init__(compose, "docker-compose.yml", f"shope2e{backend}{os.getpid()}",
                         SESSION_BACKEND=backend, SHOP_PORT=str(port), SHOP_IMAGE=TEST_IMAGE)
        self.backend, self.port = backend, port
        self.url = f"http://127.0.0.1:{port}"

    def up(self) -> None:
        # The build runs pip inside the image: the first one takes a minute, later ones hit the cache.
        self.run("up", "-d", "--build", timeout=900)

    def inspect(self, template: str) -> str:
        return inspect(self.containers("web")[0], template)

    def restart(self) -> None:
        started = self.inspect("{{.State.StartedAt}}")
        self.run("restart", "web")
        assert self.inspect("{{.State.StartedAt}}") != started, "`restart web` did not restart the container"

    def crash(self) -> None:
        started = self.inspect("{{.State.StartedAt}}")
        self.run("kill", "web")
        self.run("up", "-d", "web")
        assert self.inspect("{{.State.StartedAt}}") != started, "`kill web` + `up -d web` did not restart it"

    def wait_healthy(self, timeout: float = 90) -> None:
        """Docker's own HEALTHCHECK (the Dockerfile's, on /healthz) reports healthy."""
        deadline = time.monotonic() + timeout
        while (status := self.inspect("{{.State.Health.Status}}")) != "healthy":
            assert time.monotonic() < deadline, f"the container's health is {status!r} after {timeout}s"
            time.sleep(1)


@pytest.fixture
def start_stack(request, compose, free_tcp_port):
    """start_stack(backend) -> a running ComposeStack; logs saved on failure, `down -v` always."""
    stacks: list[ComposeStack] = []

    def start(backend: str) -> ComposeStack:
        stack = ComposeStack(compose, backend, free_tcp_port)
        stacks.append(stack)
        stack.up()
        return stack

    yield start
    report = getattr(request.node, "report_call", None)
    for stack in stacks:
        try:
            if report is None or report.failed:
                stack.save_logs(f"container-{stack.backend}-logs")
        finally:
            stack.down()


def ready(stack: ComposeStack, healthz) -> None:
    body = healthz(stack.url, timeout=120)
    assert stack.backend in body, f"/healthz does not name the backend {stack.backend!r}: {body!r}"


def test_file_backend_keeps_login_and_cart_across_container_restarts(start_stack, shopper, healthz):
    stack = start_stack("file")
    ready(stack, healthz)
    assert stack.inspect("{{.Config.User}}") not in ("", "root", "0"), "the container runs as root"
    before = shopper.fill_cart_as_demo(stack.url)
    stack.wait_healthy()

    for step, restart in (("1-restart", stack.restart), ("2-kill-up", stack.crash)):
        shopper.view_cart(stack.url)
        shopper.screenshot(f"container-file-{step}-before")
        restart()
        ready(stack, healthz)
        after = shopper.view_cart(stack.url)
        shopper.screenshot(f"container-file-{step}-after")
        assert after.user is not None and "demo" in after.user, f"{step}: the header no longer shows demo"
        assert after.lines == before.lines, f"{step}: the cart lines changed"
        assert after.count == before.count, f"{step}: the header count changed"
        assert after.total == before.total, f"{step}: the total changed"

    shopper.check_out(stack.url)
    shopper.screenshot("container-file-3-order-placed")
    assert shopper.view_cart(stack.url).lines == {}, "checkout did not empty the cart"


def test_memory_backend_loses_login_and_cart_across_container_restarts(start_stack, shopper, healthz):
    stack = start_stack("memory")
    ready(stack, healthz)

    for step, restart in (("1-restart", stack.restart), ("2-kill-up", stack.crash)):
        # Fill the cart afresh each time, so that each kind of restart is shown to lose it.
        shopper.fill_cart_as_demo(stack.url)
        shopper.screenshot(f"container-memory-{step}-before")
        restart()
        ready(stack, healthz)
        after = shopper.view_cart(stack.url)
        shopper.screenshot(f"container-memory-{step}-after")
        assert after.user is None, f"{step}: memory store, yet the login survived"
        assert after.lines == {}, f"{step}: memory store, yet the cart survived"
        assert after.count == 0
