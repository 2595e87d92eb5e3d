"""Every store, for the one conformance suite: a test that takes `store` runs against each backend
in sessions.registry, built the way the application builds it."""
import pytest

from sessions import StoreSettings, registry


@pytest.fixture(params=registry.names())
def backend(request):
    return request.param


@pytest.fixture
def store(backend, tmp_path, io_loop):
    store = registry.create(backend, StoreSettings(directory=tmp_path / "sessions"))
    yield store
    io_loop.run_sync(store.close)
