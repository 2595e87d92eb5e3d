"""`pip install .` packages the session library alone, and its command line works from any folder."""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sessions import FileStore, new_session_id
from tests.availability import unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with only `pip install .` in it, built as a user would build it (pip fetches
    the build backend; offline, the test is skipped). Tornado comes from the test venv through a
    .pth file, so nothing else is downloaded."""
    venv = tmp_path_factory.mktemp("venv")
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        unavailable(f"cannot make a venv: {made.stderr.strip()[-200:]}")
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "test-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # Build from a copy: a build leaves build/ and *.egg-info behind in the folder it builds.
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(ROOT / "sessions", source / "sessions", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                              str(source)], capture_output=True, text=True, timeout=600)
    if install.returncode != 0 and re.search(r"No matching distribution|Could not find a version|"
                                             r"Network is unreachable|Temporary failure|timed out", install.stderr):
        unavailable(f"offline: pip cannot fetch the build backend ({install.stderr.strip()[-200:]})")
    assert install.returncode == 0, install.stderr
    return venv


def run(*command, cwd):
    # A clean environment: no PYTHONPATH pointing back at the repository.
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([*command], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60)


def test_the_installed_library_is_the_sessions_package_alone(installed, tmp_path):
    python = installed / "bin" / "python"
    found = run(python, "-c", "import sessions, importlib.util as u; print(sessions.__file__); "
                "print([m for m in ('shop', 'handlers', 'config', 'app') if u.find_spec(m)])", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    where, others = found.stdout.splitlines()
    assert Path(where).is_relative_to(installed) and others == "[]"


def test_the_command_line_works_from_any_folder(installed, tmp_path, io_loop):
    folder = tmp_path / "sessions"
    store = FileStore(folder)
    for ttl in (600, 1):
        io_loop.run_sync(lambda: store.save(new_session_id(), {"n": 1}, ttl))
    io_loop.run_sync(store.close)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stats = run(installed / "bin" / "python", "-m", "sessions", "stats", folder, "--json", cwd=elsewhere)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["sessions"] + json.loads(stats.stdout)["expired"] == 2
    script = run(installed / "bin" / "tornado-sessions", "stats", folder, cwd=elsewhere)
    assert script.returncode == 0 and "bytes=" in script.stdout, script.stderr
