"""The Redis store through Redis Sentinel and with SESSION_REDIS_MIN_REPLICAS, on real servers: a
change that WAIT did not see on enough replicas (one stopped with SIGSTOP) is never a success but
StoreUnavailable(maybe_written); 0 replicas costs no WAIT; a primary demoted or killed is followed
to the new one by the same store, wire and redis-py paths alike."""
import asyncio
import os
import secrets
import signal

import pytest
import redis

from sessions import StoreUnavailable, new_session_id
from sessions.redis import RedisStore
from tests.servers import RedisServer, SentinelCluster


@pytest.fixture
def primary_and_replica(tmp_path):
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(tmp_path / "replica", replica_of=primary.port).start().wait_until_replicating()
    yield primary, replica
    if replica.process is not None:
        os.kill(replica.process.pid, signal.SIGCONT)
    replica.stop()
    primary.stop()


@pytest.fixture
def cluster(tmp_path):
    cluster = SentinelCluster(tmp_path / "cluster").start()
    yield cluster
    cluster.stop()


def wait_calls(port: int) -> int:
    stats = redis.Redis(port=port).info("commandstats")
    return stats.get("cmdstat_wait", {}).get("calls", 0)


async def every_change(store: RedisStore, session_id: str) -> dict[str, BaseException | None]:
    """Each write path once: what each raised (None: acknowledged)."""
    outcomes: dict[str, BaseException | None] = {}

    async def attempt(name, change):
        try:
            await change()
            outcomes[name] = None
        except StoreUnavailable as error:
            outcomes[name] = error

    async def release():
        async with store.locked(session_id) as held:
            held.save({"cart": {"mug": 3}}, 60)

    async def locked_destroy():
        async with store.locked(session_id) as held:
            held.destroy()

    await attempt("save", lambda: store.save(session_id, {"cart": {"mug": 1}}, 60))
    await attempt("release", release)
    await attempt("add_owned", lambda: store.add_owned("user-1", session_id, 60))
    await attempt("discard_owned", lambda: store.discard_owned("user-1", [session_id]))
    await attempt("locked destroy", locked_destroy)
    await attempt("destroy", lambda: store.destroy(session_id))
    return outcomes


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("wire", [True, False], ids=["wire", "redis-py"])
async def test_a_change_no_replica_confirmed_is_maybe_written_never_a_success(primary_and_replica, wire):
    primary, replica = primary_and_replica
    # WAIT gets three quarters of the timeout: 1.5 s, so that a replica slowed by a busy machine
    # still confirms in the first and last rounds (a stopped one never does, whatever the time).
    store = RedisStore(primary.url, prefix=f"t:{secrets.token_hex(4)}:", timeout=2.0, retries=1,
                       min_replicas=1)
    if not wire:
        store._wire = store._writes = None  # every command through redis-py, as for a TLS URL
    session_id = new_session_id()
    try:
        assert await every_change(store, session_id) == dict.fromkeys(
            ["save", "release", "add_owned", "discard_owned", "locked destroy", "destroy"])

        os.kill(replica.process.pid, signal.SIGSTOP)
        outcomes = await every_change(store, session_id)
        assert all(isinstance(error, StoreUnavailable) and error.maybe_written for error in outcomes.values()), outcomes
        # Reads go on meanwhile: a WAIT holds only the connection of the changes.
        waiting = asyncio.ensure_future(store.save(session_id, {"cart": {"mug": 4}}, 60))
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        assert await store.load(session_id) == {"cart": {"mug": 4}}  # the primary has it, unconfirmed
        assert asyncio.get_running_loop().time() - started < 0.2
        with pytest.raises(StoreUnavailable) as unconfirmed:
            await waiting
        assert unconfirmed.value.maybe_written

        os.kill(replica.process.pid, signal.SIGCONT)
        assert await every_change(store, session_id) == dict.fromkeys(outcomes)
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_no_min_replicas_sends_no_wait(primary_and_replica):
    primary, replica = primary_and_replica
    store = RedisStore(primary.url, prefix=f"t:{secrets.token_hex(4)}:", timeout=0.5)
    before = wait_calls(primary.port)
    os.kill(replica.process.pid, signal.SIGSTOP)  # a WAIT would now hang for its timeout
    try:
        assert await every_change(store, new_session_id()) == dict.fromkeys(
            ["save", "release", "add_owned", "discard_owned", "locked destroy", "destroy"])
    finally:
        await store.close()
    assert wait_calls(primary.port) == before


@pytest.mark.gen_test(timeout=90)
async def test_the_store_follows_a_demoted_and_a_killed_primary(cluster):
    store = RedisStore(None, sentinels=[("127.0.0.1", port) for port in cluster.sentinel_ports],
                       sentinel_master=cluster.master, prefix="t:", timeout=1, retries=8, retry_delay=0.2,
                       min_replicas=1)
    first = new_session_id()
    try:
        await store.save(first, {"cart": {"mug": 1}}, 600)
        await store.add_owned("user-1", first, 600)
        await store.ping()  # its connections are open now, to the first primary

        # A primary demoted while the store's connections to it are open: READONLY, then the new one.
        old = cluster.primary.port
        redis.Redis(port=cluster.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", cluster.master)
        promoted = cluster.wait_for_failover(old)
        cluster.server_at(old).wait_until_replicating(timeout=30)
        # /healthz's INFO on a connection to the demoted primary meets no READONLY: it asks again.
        await store.ping()

        async def change_to_two():
            async with store.locked(first) as held:
                held.save({"cart": {"mug": 2}}, 600)

        await until_acknowledged(change_to_two, cluster)
        await until_acknowledged(lambda: store.add_owned("user-1", new_session_id(), 600), cluster)
        assert redis.Redis(port=promoted.port).info("replication")["role"] == "master"
        assert await store.load(first) == {"cart": {"mug": 2}}

        # A primary killed: the store asks the sentinels again until they name the next one. Until
        # then a change fails (StoreUnavailable), never succeeds unconfirmed.
        promoted.stop()

        async def change_to_three():
            async with store.locked(first) as held:
                held.save({"cart": {"mug": 3}}, 600)

        await until_acknowledged(change_to_three, cluster)
        assert await store.load(first) == {"cart": {"mug": 3}}
        assert cluster.primary_port() != promoted.port
        assert first in await store.owned("user-1")
        await store.ping()
    finally:
        await store.close()


async def until_acknowledged(change, cluster, timeout: float = 40) -> None:
    """Try the change until it is acknowledged: during a failover it fails (StoreUnavailable: no
    primary yet, or none of its replicas has the change yet), never succeeds unconfirmed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await change()
        except StoreUnavailable:
            assert asyncio.get_running_loop().time() < deadline, cluster.output()
            await asyncio.sleep(0.2)
