"""Fixtures of the fault suite (see kit.py): `tmpfs` mounts a small file system for a test."""

from tests.faults.kit import tmpfs  # noqa: F401  (a fixture)
