"""Every store, for the one conformance suite: a test that takes `store` runs against each backend
in sessions.registry, built the way the application builds it."""
import secrets

import pytest

from sessions import StoreSettings, registry


@pytest.fixture(params=registry.names())
def backend(request):
    return request.param


@pytest.fixture
def store_settings(backend, tmp_path, request):
    """What the registry builds the store from; a network store gets a real server (tests/servers.py)
    and a key prefix of its own per test, so tests never see each other's sessions."""
    if backend == "redis":
        return StoreSettings(url=request.getfixturevalue("redis_server").url,
                             key_prefix=f"test:{secrets.token_hex(6)}:")
    return StoreSettings(directory=tmp_path / "sessions")


@pytest.fixture
def store(backend, store_settings, io_loop):
    store = registry.create(backend, store_settings)
    yield store
    io_loop.run_sync(store.close)
