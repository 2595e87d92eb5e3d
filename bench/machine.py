"""What the report says about the machine it ran on."""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from bench.processes import REPO


def machine_info() -> dict[str, str]:
    def first(path: str, key: str) -> str:
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        return "unknown"

    def version(argv: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        return "not found"

    return {
        "CPU": first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "memory": first("/proc/meminfo", "MemTotal"),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": version(["node", "--version"]),
        "redis-server": version(["redis-server", "--version"]),
        "wrk": version(["wrk", "--version"]).split(" Copyright")[0],
        "temp folder file system": _filesystem(Path(tempfile.gettempdir())),
        "commit": version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _filesystem(path: Path) -> str:
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, f"{parts[2]} ({parts[0]} on {mount})"
    return kind
