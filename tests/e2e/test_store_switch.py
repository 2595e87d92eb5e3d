"""The shop's Compose stack switching its session store under a logged-in shopper, in headless
Chromium (the live switch of docs/CHANGING-THE-STACK.md).

On the file store: log in as demo, add two products. Then, as an operator switches:
1. `SESSION_BACKEND=redis SESSION_MIGRATE_FROM=file docker-compose up -d web` (to the redis
   service beside it), and
2. back: `SESSION_BACKEND=file SESSION_MIGRATE_FROM=redis://redis:6379/0 docker-compose up -d web`.
Each recreates the web container (a new id, the new environment); its /healthz then names the new
backend and the store being left, the same browser window finds demo logged in with the same cart,
and the store left has no live session any more (`python -m sessions stats` in the container).
Checkout then succeeds. Screenshots before and after each switch go to test-artifacts/, the
containers' logs too when the test fails; the stack is torn down with `down -v` whatever happens.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.compose_project import ComposeStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REDIS = "redis://redis:6379/0"  # the compose file's redis service, as web reaches it
SWITCHES = (
    # step, the environment `up -d web` is run with, the store left (as /healthz names it, and
    # as `python -m sessions stats` reads it inside the container)
    ("1-file-to-redis", {"SESSION_BACKEND": "redis", "SESSION_MIGRATE_FROM": "file"}, "file", "/data/sessions"),
    ("2-redis-to-file", {"SESSION_BACKEND": "file", "SESSION_MIGRATE_FROM": REDIS}, "redis", REDIS),
)


@pytest.fixture
def stack(request, compose, free_tcp_port):
    """docker-compose.yml's web (on file) and redis, running; logs saved on failure, `down -v` always."""
    stack = ComposeStack(compose, "file", free_tcp_port, name="switch")
    try:
        stack.up()
        yield stack
    finally:
        report = getattr(request.node, "report_call", None)
        try:
            if report is None or report.failed:
                stack.save_logs("container-switch-logs")
        finally:
            stack.down()


def health(stack: ComposeStack, healthz) -> dict:
    """/healthz through the host's port, once it answers 200; it must name the backend in use."""
    body = json.loads(healthz(stack.url, timeout=120))
    assert body["session_backend"] == stack.backend, f"/healthz does not name the backend {stack.backend!r}: {body}"
    return body


def live_sessions(stack: ComposeStack, store: str) -> int:
    """Live sessions in store (a folder or a Redis URL), counted inside the web container."""
    out = stack.run("exec", "-T", "web", "python", "-m", "sessions", "stats", store, "--json")
    return json.loads(out.strip().splitlines()[-1])["sessions"]


def test_switching_store_and_back_keeps_login_and_cart(stack, shopper, healthz):
    assert "session_migration" not in health(stack, healthz)
    before = shopper.fill_cart_as_demo(stack.url)
    stack.wait_healthy()

    for step, environ, left, old_store in SWITCHES:
        shopper.view_cart(stack.url)
        shopper.screenshot(f"container-switch-{step}-before")
        stack.recreate(**environ)
        migration = health(stack, healthz).get("session_migration")
        assert migration is not None and migration.get("from") == left, (
            f"{step}: /healthz shows session_migration {migration!r}, expected one from {left!r}")
        assert live_sessions(stack, old_store) >= 1, f"{step}: nothing in the store left to move"

        after = shopper.view_cart(stack.url)
        shopper.screenshot(f"container-switch-{step}-after")
        assert after.user is not None and "demo" in after.user, f"{step}: the header no longer shows demo"
        assert after.lines == before.lines, f"{step}: the cart lines changed"
        assert after.count == before.count, f"{step}: the header count changed"
        assert after.total == before.total, f"{step}: the total changed"
        assert live_sessions(stack, old_store) == 0, f"{step}: the session is still in the store left ({old_store})"
        stack.wait_healthy()

    shopper.check_out(stack.url)
    shopper.screenshot("container-switch-3-order-placed")
    assert shopper.view_cart(stack.url).lines == {}, "checkout did not empty the cart"
