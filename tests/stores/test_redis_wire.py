"""sessions/redis_wire.py against real redis-servers: answers matched to callers however many share
the connection, a cancelled or timed-out caller never shifting another's answer, a restart and a
flushed script cache healed on the next call, and redis-py's own error classes."""
import asyncio
import hashlib
import os
import signal

import pytest
import redis.exceptions

from sessions.redis_wire import RedisWire
from tests.servers import RedisServer


@pytest.fixture
def wire_to(io_loop):
    """wire_to(server, **options) -> a RedisWire to that server (options: RedisWire's), closed at teardown."""
    wires = []

    def make(server, **options):
        options.setdefault("password", server.password)
        wires.append(RedisWire(host="127.0.0.1", port=server.port, **options))
        return wires[-1]

    yield make
    for wire in wires:
        wire.close()


@pytest.fixture
def own_redis(tmp_path):
    servers = []

    def start(**options):
        server = RedisServer(tmp_path / f"redis-{len(servers)}", **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.mark.gen_test
async def test_many_callers_on_one_connection_each_get_their_own_answer(redis_server, wire_to):
    wire = wire_to(redis_server)
    keys = [f"wire-test:{n}" for n in range(300)]
    await asyncio.gather(*(wire.call("SET", key, f"value {n}", "PX", 60_000) for n, key in enumerate(keys)))
    answers = await asyncio.gather(*(wire.call("GET", key) for key in keys))
    assert answers == [f"value {n}".encode() for n in range(300)]
    assert await wire.call("GET", "wire-test:missing") is None
    assert await wire.call("DEL", *keys) == 300


@pytest.mark.gen_test
async def test_a_cancelled_caller_leaves_the_next_answer_to_the_next_caller(redis_server, wire_to):
    wire = wire_to(redis_server)
    await wire.call("SET", "wire-test:a", "a", "PX", 60_000)
    await wire.call("SET", "wire-test:b", "b", "PX", 60_000)
    # Redis holds every client's commands for 300 ms: both are sent and waiting.
    redis_server.command("CLIENT", "PAUSE", "300", "ALL")
    first = asyncio.ensure_future(wire.call("GET", "wire-test:a"))
    second = asyncio.ensure_future(wire.call("GET", "wire-test:b"))
    await asyncio.sleep(0.05)
    first.cancel()
    assert await second == b"b"
    assert first.cancelled()
    assert await wire.call("GET", "wire-test:a") == b"a"


@pytest.mark.gen_test
async def test_a_hung_redis_times_out_and_the_wire_connects_again_once_it_answers(own_redis, wire_to):
    server = own_redis()
    wire = wire_to(server, timeout=0.3)
    await wire.call("SET", "k", "v")
    os.kill(server.process.pid, signal.SIGSTOP)
    waiting = [asyncio.ensure_future(wire.call("GET", "k")) for _ in range(3)]
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert type(outcomes[0]) is redis.exceptions.TimeoutError
    # The others were on the same connection, closed so no late answer can land on a new caller.
    assert all(type(outcome) is redis.exceptions.ConnectionError for outcome in outcomes[1:])
    os.kill(server.process.pid, signal.SIGCONT)
    assert await wire.call("GET", "k") == b"v"


@pytest.mark.gen_test
async def test_a_restarted_redis_fails_the_calls_on_the_old_connection_and_serves_the_next(own_redis, wire_to):
    server = own_redis()
    wire = wire_to(server)
    await wire.call("SET", "k", "v")
    server.stop()
    with pytest.raises(redis.exceptions.ConnectionError):
        await wire.call("GET", "k")
    with pytest.raises(redis.exceptions.ConnectionError):
        await wire.call("GET", "k")  # nobody listens: cannot connect
    server.start()
    assert await wire.call("GET", "k") is None  # a fresh Redis, kept nothing


@pytest.mark.gen_test
async def test_a_script_redis_forgot_is_loaded_again(redis_server, wire_to):
    wire = wire_to(redis_server)
    source = "return ARGV[1] .. KEYS[1]"
    sha = hashlib.sha1(source.encode()).hexdigest()
    await wire.call("SCRIPT", "FLUSH")
    assert await wire.script(sha, source, ["k"], ["v-"]) == b"v-k"
    assert await wire.call("EVALSHA", sha, 1, "k", "again-") == b"again-k"


@pytest.mark.gen_test
async def test_error_replies_are_redis_pys_exceptions_and_the_connection_goes_on(own_redis, wire_to):
    server = own_redis()
    wire = wire_to(server)
    await wire.call("SET", "text", "v")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await wire.call("LPUSH", "text", "x")
    server.command("CONFIG", "SET", "maxmemory", "1")
    server.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        await wire.call("SET", "more", "v")
    assert await wire.call("GET", "text") == b"v"


@pytest.mark.gen_test
async def test_the_password_and_the_database_of_the_url_are_used(own_redis, wire_to):
    server = own_redis(password="wire-secret")
    wire = wire_to(server, db=3)
    wrong = wire_to(server, password="not-it")
    await wire.call("SET", "in-three", "v")
    assert server.command("SELECT", "3") == "+OK"
    assert await wire.call("DBSIZE") == 1
    with pytest.raises(redis.exceptions.AuthenticationError):
        await wrong.call("GET", "in-three")
