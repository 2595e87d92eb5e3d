"""Fixtures for the bench's tests."""
from __future__ import annotations

import os

import pytest


def unavailable(reason: str) -> None:
    """Skip for want of a tool; under CI=true the tool is required, so fail instead (as tests/e2e does)."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)
