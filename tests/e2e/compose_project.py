"""A Compose project as the end-to-end tests drive it: one compose file, a project name of its own
(so its containers and volumes never meet another run's), the environment it is given, and which
base image its builds use. The `compose` fixture (conftest.py) says which Compose command to use."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.shop_process import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
LOCAL_BASE_IMAGE = "shop-base:bookworm"  # scripts/build-base-image.sh, for machines with no registry
OFFICIAL_BASE_IMAGE = "python:3.12-slim"


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def base_image() -> str:
    """BASE_IMAGE from the environment; else the official image if present, else the local one."""
    chosen = os.environ.get("BASE_IMAGE")
    if chosen:
        return chosen
    if not image_exists(OFFICIAL_BASE_IMAGE) and image_exists(LOCAL_BASE_IMAGE):
        return LOCAL_BASE_IMAGE
    return OFFICIAL_BASE_IMAGE


class ComposeProject:
    """`compose -f FILE -p PROJECT ...` run from the repo root with the given environment on top of
    this one's, minus the shop's own settings (SESSION_*, COOKIE_SECRET, DATABASE_URL, REDIS_URL),
    so that the test decides what the containers see."""

    def __init__(self, compose: list[str], file: str, project: str, **environ: str) -> None:
        self.compose, self.file, self.project = compose, file, project
        own = ("COOKIE_SECRET", "DATABASE_URL", "REDIS_URL")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_") and k not in own}
        self.env.update(BASE_IMAGE=base_image(), **environ)

    def run(self, *args: str, timeout: float = 180, check: bool = True) -> str:
        command = [*self.compose, "-f", self.file, "-p", self.project, *args]
        result = subprocess.run(
            command, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout + result.stderr

    def containers(self, service: str) -> list[str]:
        """The ids of the service's containers, running or not."""
        return self.run("ps", "-q", service).split()

    def save_logs(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.txt"
        path.write_text(self.run("logs", "--no-color", "--timestamps", check=False, timeout=60))
        return path

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", check=False, timeout=180)


def inspect(container: str, template: str) -> str:
    result = subprocess.run(["docker", "inspect", "-f", template, container], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
