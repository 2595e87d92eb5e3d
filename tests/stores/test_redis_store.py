"""What only the Redis store promises, on a real redis-server: one key of JSON per session with
Redis's own expiry, a roll in one command, a lock with an owner and a lease, and a store that
survives its Redis going away and coming back."""
import asyncio
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from sessions import StoreUnavailable, new_session_id
from sessions.redis import RedisStore
from tests.servers import RedisServer
from tests.shop_process import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def prefix():
    return f"test:{secrets.token_hex(6)}:"


@pytest.fixture
def make_redis_store(redis_server, prefix, io_loop):
    made = []

    def make(**options):
        store = RedisStore(options.pop("url", redis_server.url), prefix=prefix, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        io_loop.run_sync(store.close)


@pytest.fixture
def direct(redis_server):
    """A plain client, to look at what the store left in Redis."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def commands_run(client) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in client.info("commandstats").items()}


@pytest.mark.gen_test
async def test_a_session_is_one_key_of_json_with_the_ttl_as_its_expiry(make_redis_store, direct, prefix):
    store = make_redis_store()
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 2}}, 60)
    assert json.loads(direct.get(prefix + session_id)) == {"cart": {"mug": 2}}
    assert 59_000 < direct.pttl(prefix + session_id) <= 60_000
    assert direct.keys(prefix + "*") == [(prefix + session_id).encode()]


@pytest.mark.gen_test
async def test_load_with_extend_ttl_is_one_getex(make_redis_store, direct, prefix):
    store = make_redis_store()
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 5)
    direct.config_resetstat()
    assert await store.load(session_id, extend_ttl=600) == {"n": 1}
    run = commands_run(direct)
    run.pop("config|resetstat", None)
    assert run == {"getex": 1}
    assert direct.pttl(prefix + session_id) > 590_000


@pytest.mark.gen_test
async def test_a_read_is_a_plain_get_until_a_tenth_of_the_ttl_has_passed(make_redis_store, direct, prefix):
    store = make_redis_store()
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 600)
    async with store.locked(session_id) as held:
        held.save({"n": 2}, 600)
    direct.config_resetstat()
    for _ in range(3):
        assert await store.load(session_id, extend_ttl=600) == {"n": 2}
    # Another process knows nothing of this one's writes: its first read rolls.
    assert await make_redis_store().load(session_id, extend_ttl=600) == {"n": 2}
    run = commands_run(direct)
    for setup in ("config|resetstat", "hello"):  # hello: the second store's new connection
        run.pop(setup, None)
    assert run == {"get": 3, "getex": 1}


@pytest.mark.gen_test
async def test_a_change_is_two_round_trips_with_the_scripts_loaded_once(make_redis_store, direct):
    store = make_redis_store()
    session_id = new_session_id()
    await store.save(session_id, {"n": 0}, 600)
    direct.script_flush()
    for n in range(1, 4):
        direct.config_resetstat()
        async with store.locked(session_id) as held:
            held.save({"n": held.data["n"] + 1}, 600)
        run = commands_run(direct)
        # What the scripts run inside Redis is counted too; the client sent only EVALSHA (and, the
        # first time, SCRIPT LOAD after Redis answered NOSCRIPT).
        sent = {name: calls for name, calls in run.items() if name in ("evalsha", "eval", "script|load", "exists")}
        assert sent == ({"evalsha": 4, "script|load": 2} if n == 1 else {"evalsha": 2})
    assert await store.load(session_id) == {"n": 3}


@pytest.mark.gen_test
async def test_expired_sessions_are_gone_by_themselves_and_nothing_is_swept(make_redis_store):
    store = make_redis_store()
    await store.save(new_session_id(), {"old": True}, 1)
    await store.save(new_session_id(), {"old": False}, 60)
    await asyncio.sleep(1.2)
    stats = await store.stats()
    assert (stats.sessions, stats.expired) == (1, 0)
    assert await store.sweep_expired() == 0


@pytest.mark.gen_test
async def test_stats_count_sessions_not_their_locks(make_redis_store):
    store = make_redis_store()
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 60)
    async with store.locked(session_id):
        stats = await store.stats()
    assert stats.sessions == 1
    assert stats.bytes == len('{"n":1}')


@pytest.mark.gen_test
async def test_a_holder_whose_lease_ran_out_cannot_write_or_release_the_next_holders_lock(
        make_redis_store, direct, prefix):
    slow = make_redis_store(lock_lease=0.3)
    other = make_redis_store()
    session_id = new_session_id()
    await slow.save(session_id, {"by": "nobody"}, 60)
    with pytest.raises(StoreUnavailable, match="lost the lock"):
        async with slow.locked(session_id) as held:
            await asyncio.sleep(0.5)  # the lease runs out
            async with other.locked(session_id) as other_held:
                held.save({"by": "slow"}, 60)
                other_held.save({"by": "other"}, 60)
                lock = direct.get(prefix + "lock:" + session_id)
            assert await other.load(session_id) == {"by": "other"}
            # The next holder takes it again; the slow one's release must not free or overwrite it.
            third = other.locked(session_id)
            await third.__aenter__()
            assert direct.get(prefix + "lock:" + session_id) not in (None, lock)
    assert await other.load(session_id) == {"by": "other"}
    assert direct.exists(prefix + "lock:" + session_id), "the slow holder released the next holder's lock"
    await third.__aexit__(None, None, None)
    assert not direct.exists(prefix + "lock:" + session_id)


@pytest.mark.gen_test
async def test_a_release_whose_answer_was_lost_is_confirmed_by_its_retry(make_redis_store, direct, prefix):
    # The release ran in Redis, then the connection broke before its answer came back: the retry
    # must report the write as done (it was), not as "nothing was written".
    store = make_redis_store(retry_delay=0.001)
    run_script, lost = store._script, []

    async def answer_lost_once(script, keys, args, **options):
        answer = await run_script(script, keys, args, **options)
        if script is store._release and not lost:
            lost.append(answer)
            raise redis.exceptions.ConnectionError("the answer was lost")
        return answer

    store._script = answer_lost_once
    session_id = new_session_id()
    async with store.locked(session_id) as held:
        held.save({"cart": {"mug": 2}}, 60)
    assert lost == [1], "the injected fault did not run"
    assert await store.load(session_id) == {"cart": {"mug": 2}}
    assert not direct.exists(prefix + "lock:" + session_id)


@pytest.mark.gen_test
async def test_a_holder_that_never_releases_blocks_the_session_for_at_most_the_lease(make_redis_store):
    lost = make_redis_store(lock_lease=1.0)
    session_id = new_session_id()
    await lost.save(session_id, {"n": 1}, 60)
    abandoned = lost.locked(session_id)
    await abandoned.__aenter__()  # and never leaves: what a process killed while holding it does
    waiting = make_redis_store()
    started = time.monotonic()
    async with waiting.locked(session_id) as held:
        waited = time.monotonic() - started
        held.save({"n": 2}, 60)
    assert 0.5 < waited < 5, f"waited {waited:.1f}s for a lease of 1s"
    assert await waiting.load(session_id) == {"n": 2}


@pytest.mark.gen_test
async def test_a_lock_held_too_long_is_a_store_error_not_a_wait_for_ever(make_redis_store):
    holder = make_redis_store()
    impatient = make_redis_store(lock_timeout=0.3)
    session_id = new_session_id()
    async with holder.locked(session_id):
        with pytest.raises(StoreUnavailable, match="stayed locked"):
            async with impatient.locked(session_id):
                pass


@pytest.mark.gen_test
async def test_errors_that_waiting_cannot_fix_are_not_retried(make_redis_store, direct, prefix):
    store = make_redis_store(retries=5)
    session_id = new_session_id()
    direct.hset(prefix + session_id, "not", "a string")
    direct.config_resetstat()
    with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
        await store.load(session_id, extend_ttl=60)
    assert commands_run(direct).get("getex") == 1


@pytest.mark.gen_test
async def test_a_value_that_is_not_a_session_reads_as_none(make_redis_store, direct, prefix):
    store = make_redis_store()
    session_id = new_session_id()
    direct.set(prefix + session_id, b"\x80\x04pickle?")
    assert await store.load(session_id) is None


@pytest.mark.gen_test
async def test_a_password_in_the_url_is_used(tmp_path, io_loop):
    server = RedisServer(tmp_path / "redis-auth", password="s3cret-pass").start()
    try:
        store = RedisStore(server.url)
        session_id = new_session_id()
        await store.save(session_id, {"n": 1}, 60)
        assert await store.load(session_id) == {"n": 1}
        await store.close()
        wrong = RedisStore(server.url.replace("s3cret-pass", "wrong"), retries=0)
        with pytest.raises(StoreUnavailable):
            await wrong.load(session_id)
        await wrong.close()
    finally:
        server.stop()


@pytest.mark.gen_test(timeout=60)
async def test_redis_going_away_is_store_unavailable_and_coming_back_needs_no_new_store(tmp_path):
    server = RedisServer(tmp_path / "redis-restart", persistent=True).start()
    store = RedisStore(server.url, retries=2, timeout=0.5)
    try:
        session_id = new_session_id()
        await store.save(session_id, {"cart": {"mug": 1}}, 60)
        await store.ping()
        server.stop()
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.load(session_id, extend_ttl=60)
        with pytest.raises(StoreUnavailable):
            async with store.locked(session_id) as held:
                held.save({"cart": {"mug": 2}}, 60)
        server.start()
        await store.ping()
        assert await store.load(session_id, extend_ttl=60) == {"cart": {"mug": 1}}
        async with store.locked(session_id) as held:
            held.save({"cart": {"mug": 2}}, 60)
        assert await store.load(session_id) == {"cart": {"mug": 2}}
    finally:
        await store.close()
        server.stop()


@pytest.mark.gen_test
async def test_an_unreachable_redis_at_construction_is_not_an_error(io_loop):
    store = RedisStore("redis://127.0.0.1:1/0", retries=1, timeout=0.5)
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.save(new_session_id(), {"n": 1}, 60)
    await store.close()


def test_the_command_line_counts_a_redis_stores_sessions(make_redis_store, redis_server, prefix, io_loop):
    store = make_redis_store()
    for _ in range(3):
        io_loop.run_sync(lambda: store.save(new_session_id(), {"cart": {"mug": 1}}, 60))
    command = [sys.executable, "-m", "sessions", "stats", redis_server.url, "--prefix", prefix, "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sessions"] == 3
    swept = subprocess.run([*command[:3], "sweep", redis_server.url], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert swept.returncode == 2 and "nothing to sweep" in swept.stderr


def test_the_command_line_says_when_redis_does_not_answer():
    unused = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run([sys.executable, "-m", "sessions", "stats", unused], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot read the Redis store" in result.stderr
    assert "Traceback" not in result.stderr
