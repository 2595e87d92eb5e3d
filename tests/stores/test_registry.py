"""sessions.registry: one name -> one backend; what it builds is what the conformance suite tests."""
import pytest

from sessions import FileStore, MemoryStore, StoreSettings, registry


def test_memory_file_and_redis_are_registered():
    assert {"memory", "file", "redis"} <= set(registry.names())


@pytest.mark.gen_test
async def test_each_backend_builds_a_store_reporting_its_own_name(backend, store_settings):
    store = registry.create(backend, store_settings)
    try:
        assert store.name == backend
        assert (await store.stats()).backend == backend
    finally:
        await store.close()


def test_the_settings_reach_the_store(tmp_path):
    memory = registry.create("memory", StoreSettings(max_sessions=7))
    assert isinstance(memory, MemoryStore) and memory.max_sessions == 7
    file = registry.create("file", StoreSettings(directory=tmp_path / "s", retries=2))
    assert isinstance(file, FileStore) and file.directory == tmp_path / "s" and file.retries == 2


def test_the_file_store_refuses_settings_without_a_folder():
    with pytest.raises(ValueError, match="directory"):
        registry.create("file", StoreSettings())


def test_the_redis_store_refuses_settings_without_a_url():
    with pytest.raises(ValueError, match="url"):
        registry.create("redis", StoreSettings())


def test_an_unknown_name_lists_the_registered_ones():
    with pytest.raises(registry.UnknownBackend) as raised:
        registry.create("postgres", StoreSettings())
    assert f"expected one of {', '.join(registry.names())}" in str(raised.value)


def test_what_the_application_asks_of_a_backend():
    # Config checks SESSION_DIR only for a backend that keeps a folder; a store that lives in one
    # process cannot be shared by several workers.
    assert registry.backend("file").needs_directory and not registry.backend("file").process_local
    assert registry.backend("memory").process_local and not registry.backend("memory").needs_directory
