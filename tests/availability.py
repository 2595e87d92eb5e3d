"""What a test does when a tool it needs (a browser, Docker, redis-server, PostgreSQL, root) is
missing: skip with the reason on a developer's machine, fail under CI=true, where `.ci/run`
installs every tool and a skip would hide a test that never ran."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip for want of a tool or a privilege; under CI=true it is required, so fail instead."""
    if in_ci():
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)
