"""The bench's process handling, with real processes: a refused start is a row 'not available', a
stop leaves nothing of the group behind, the bench's own redis-server, the floor probe's output."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from bench.parse import parse_floor_result, parse_round_trip_result
from bench.peers import shop_env
from bench.processes import (
    BenchError,
    RedisServer,
    Service,
    Unavailable,
    free_port,
    processes_like_leader,
    session_cpu_seconds,
    stop_group,
)
from tests.availability import unavailable


def service(tmp_path, code: str) -> Service:
    return Service("test server", [sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path,
                   port=free_port(), ready_path="/healthz", log=tmp_path / "server.log")


def test_a_start_refused_by_the_shops_configuration_is_unavailable_with_the_reason(tmp_path):
    refused = service(tmp_path, "import sys; print(\"configuration error: SESSION_BACKEND='redis' is not valid: "
                                "not yet\", file=sys.stderr); sys.exit(2)")
    with pytest.raises(Unavailable) as caught:
        refused.start()
    assert str(caught.value) == ("refused by the shop's configuration: SESSION_BACKEND='redis' is not valid: "
                                 "not yet")


def test_any_other_early_exit_is_a_failure_not_unavailable(tmp_path):
    crashed = service(tmp_path, "import sys; print('Traceback: boom', file=sys.stderr); sys.exit(1)")
    with pytest.raises(BenchError) as caught:
        crashed.start()
    assert not isinstance(caught.value, Unavailable)
    assert "exited with 1 before it was ready: Traceback: boom" in str(caught.value)


FORKING = """
import os, sys, time
for _ in range(2):
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
print('forked', flush=True)
time.sleep(600)
"""


def test_workers_are_counted_and_stopping_the_group_leaves_none(tmp_path):
    leader = subprocess.Popen([sys.executable, "-c", FORKING], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert leader.stdout.readline().strip() == "forked"
        assert processes_like_leader(leader.pid) == 3
    finally:
        stop_group(leader)
    deadline = time.monotonic() + 10
    while processes_like_leader(leader.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the children, SIGKILLed, wait for init to reap them
    assert processes_like_leader(leader.pid) == 0


BUSY_CHILD = """
import os, time
if os.fork() == 0:
    end = time.process_time() + 0.5
    while time.process_time() < end:
        pass
    print('child done', flush=True)
    time.sleep(600)
time.sleep(600)
"""


def test_a_servers_cpu_time_counts_every_process_it_forked(tmp_path):
    leader = subprocess.Popen([sys.executable, "-c", BUSY_CHILD], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert leader.stdout.readline().strip() == "child done"
        # the child's half second of busy work is the leader's server's too
        assert 0.4 <= session_cpu_seconds(leader.pid) < 5   # /proc counts in clock ticks: a little slack below
    finally:
        stop_group(leader)


def test_the_benchs_redis_server_answers_and_leaves_nothing(tmp_path):
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    with RedisServer(tmp_path / "redis.log") as redis:
        with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as sock:
            sock.sendall(b"CONFIG GET save\r\n")
            reply = sock.recv(200)
        assert b"save" in reply and b"$0" in reply   # no snapshots
        before = redis.command_calls()
        with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as sock:
            sock.sendall(b"SET k v\r\n")
            assert sock.recv(100) == b"+OK\r\n"
        assert redis.command_calls()["set"] == before.get("set", 0) + 1
        folder = redis.folder
        assert redis.url == f"redis://127.0.0.1:{redis.port}/0"
    assert not folder.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis.port), timeout=1).close()


def test_the_floor_probe_prints_a_line_the_parser_reads(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.floor_probe", str(tmp_path), "5", "2", "0.2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    floor = parse_floor_result(done.stdout)
    assert floor.threads == 2 and floor.pairs_per_s > 0 and floor.cpu_per_request_us > 0
    assert floor.store_read_cpu_us > 0 and floor.store_change_cpu_us > floor.store_read_cpu_us
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".locks", "fsync-only", "parallel-000.json", "parallel-001.json", "serial.json", "store"]


def test_the_redis_probe_prints_a_line_the_parser_reads(tmp_path):
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    with RedisServer(tmp_path / "redis.log") as redis:
        done = subprocess.run([sys.executable, "-m", "bench.redis_probe", redis.url, "20"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = parse_round_trip_result(done.stdout)
    assert found.iterations == 20 and found.read_cpu_us > 0 and found.change_cpu_us > 0


def test_shop_env_passes_workers_only_when_asked_and_memory_always_one(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKERS", "7")
    monkeypatch.setenv("SESSION_TTL", "1")
    default = shop_env("file", tmp_path, 1234)
    assert "WORKERS" not in default and "SESSION_TTL" not in default
    assert shop_env("file", tmp_path, 1234, workers=2)["WORKERS"] == "2"
    assert shop_env("memory", tmp_path, 1234, workers=2)["WORKERS"] == "1"
    redis = shop_env("redis", tmp_path, 1234, redis_url="redis://127.0.0.1:1/0", redis_prefix="bench:1:")
    assert (redis["REDIS_URL"], redis["SESSION_REDIS_PREFIX"]) == ("redis://127.0.0.1:1/0", "bench:1:")
