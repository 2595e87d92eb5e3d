"""A Compose project as the end-to-end tests drive it: one compose file, a project name of its own
(so its containers and volumes never meet another run's), the environment it is given, and which
base image its builds use; and ComposeStack, docker-compose.yml's project as the container tests
restart and switch it. The `compose` fixture (conftest.py) says which Compose command to use."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.shop_process import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
LOCAL_BASE_IMAGE = "shop-base:bookworm"  # scripts/build-base-image.sh, for machines with no registry
OFFICIAL_BASE_IMAGE = "python:3.12-slim"
TEST_IMAGE = "shop-web:e2e"  # the shop's image as the tests build it, apart from a user's shop-web:latest


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


class ComposeStack(ComposeProject):
    """One Compose project of docker-compose.yml (web, and redis beside it), on its own host port
    and volumes, named after what it tests."""

    def __init__(self, compose: list[str], backend: str, port: int, name: str | None = None) -> None:
        super().__init__(compose, "docker-compose.yml", f"shope2e{name or backend}{os.getpid()}",
                         SESSION_BACKEND=backend, SHOP_PORT=str(port), SHOP_IMAGE=TEST_IMAGE)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    @property
    def backend(self) -> str:
        return self.env["SESSION_BACKEND"]

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

    def recreate(self, **environ: str) -> None:
        """`up -d web` from a shell with environ set, as an operator changes the web service's
        settings: Compose sees its environment changed and replaces the container (a new id)."""
        before = self.containers("web")
        self.env.update(environ)
        self.run("up", "-d", "web")
        after = self.containers("web")
        assert len(after) == 1 and after != before, f"`up -d web` with {environ} did not recreate web: {before} -> {after}"
        seen = self.inspect("{{range .Config.Env}}{{println .}}{{end}}").splitlines()
        missing = [f"{name}={value}" for name, value in environ.items() if f"{name}={value}" not in seen]
        assert not missing, f"the new web container does not have {missing}"

    def wait_healthy(self, timeout: float = 90) -> None:
        """Docker's own HEALTHCHECK (the Dockerfile's, on /healthz) reports healthy."""
        deadline = time.monotonic() + timeout
        while (status := self.inspect("{{.State.Health.Status}}")) != "healthy":
            assert time.monotonic() < deadline, f"the container's health is {status!r} after {timeout}s"
            time.sleep(1)
