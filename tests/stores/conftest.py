"""Every store, for the one conformance suite: a test that takes `store` runs against each of them."""
import pytest

from sessions import FileStore, MemoryStore

BACKENDS = ["memory", "file"]


def make_store(backend, tmp_path, **options):
    if backend == "memory":
        return MemoryStore(**options)
    if backend == "file":
        return FileStore(tmp_path / "sessions", **options)
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def store(backend, tmp_path, io_loop):
    store = make_store(backend, tmp_path)
    yield store
    io_loop.run_sync(store.close)
