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

import pytest

from tests.e2e.compose_project import ComposeStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


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
