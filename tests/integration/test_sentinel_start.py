"""`python app.py` with REDIS_SENTINELS that cannot be used stops at start with one line naming the
variable and exit status 2, before it listens: a malformed list, no sentinel answering, or sentinels
that monitor no primary of REDIS_SENTINEL_MASTER's name. (Sentinels that answer: tests/faults/.)"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import SentinelCluster
from tests.shop_process import free_port

ROOT = Path(__file__).resolve().parents[2]


def start_shop(tmp_path, **environ: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SESSION_", "REDIS_"))}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(free_port()), SESSION_BACKEND="redis",
               SESSION_REDIS_TIMEOUT="0.5", **environ)
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def assert_refused_in_one_line(done: subprocess.CompletedProcess, *parts: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("configuration error: REDIS_SENTINELS=") or \
        lines[0].startswith("configuration error: REDIS_SENTINEL_MASTER="), lines[0]
    for part in parts:
        assert part in lines[0], lines[0]


def test_a_malformed_sentinel_list_stops_the_start(tmp_path):
    done = start_shop(tmp_path, REDIS_SENTINELS="sentinel-1:26379;sentinel-2:26379")
    assert_refused_in_one_line(done, "expected host:port pairs separated by commas")


def test_no_sentinel_answering_stops_the_start(tmp_path):
    nobody = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    done = start_shop(tmp_path, REDIS_SENTINELS=nobody)
    assert_refused_in_one_line(done, nobody, "expected at least one sentinel that answers", "Connection refused")


@pytest.fixture
def lone_sentinel(tmp_path):
    cluster = SentinelCluster(tmp_path / "cluster", replicas=0, sentinels=1).start()
    yield cluster
    cluster.stop()


def test_sentinels_that_know_no_primary_of_that_name_stop_the_start(tmp_path, lone_sentinel):
    done = start_shop(tmp_path, REDIS_SENTINELS=lone_sentinel.sentinels_variable, REDIS_SENTINEL_MASTER="shop-eu")
    assert_refused_in_one_line(done, "monitors no primary named 'shop-eu'")
