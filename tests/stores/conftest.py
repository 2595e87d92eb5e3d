"""Every store, for the one conformance suite: a test that takes `store` runs against each of them."""
import secrets

import pytest

from sessions import FileStore, MemoryStore
from sessions.redis import RedisStore

BACKENDS = ["memory", "file", "redis"]

# Redis deletes an expired key itself, at once: there is never an expired session left to count or
# sweep (sweep_expired is 0). tests/stores/test_redis_store.py checks that instead.
NOT_FOR_STORES_THAT_EXPIRE_BY_THEMSELVES = {
    "test_sweep_deletes_expired_sessions_and_keeps_live_ones",
    "test_sweep_finds_expired_sessions_whatever_their_order",
}


def make_store(backend, tmp_path, **options):
    if backend == "memory":
        return MemoryStore(**options)
    if backend == "file":
        return FileStore(tmp_path / "sessions", **options)
    if backend == "redis":
        # A prefix of its own per store: tests never see each other's sessions.
        url = options.pop("url")
        return RedisStore(url, prefix=f"test:{secrets.token_hex(6)}:", **options)
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "redis":
        if request.node.originalname in NOT_FOR_STORES_THAT_EXPIRE_BY_THEMSELVES:
            pytest.skip("Redis expires sessions itself: nothing is left to sweep")
        request.getfixturevalue("redis_server")
    return request.param


@pytest.fixture
def store_options(backend, request):
    """What make_store needs beyond the backend's name: the Redis server's URL."""
    return {"url": request.getfixturevalue("redis_server").url} if backend == "redis" else {}


@pytest.fixture
def store(backend, store_options, tmp_path, io_loop):
    store = make_store(backend, tmp_path, **store_options)
    yield store
    io_loop.run_sync(store.close)
