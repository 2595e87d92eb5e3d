"""The file store under faults (issue 9): a failure at any step between taking a lock and releasing
it releases it; any file that does not decode is quarantined; a missing folder is recreated on the
next write; a failed ttl roll on a read is logged and the read served; errors never name a full id.

Failures are injected into the store's blocking steps (a patched function of sessions/file_io.py,
or a patched system call): the fault is simulated, the behaviour under test is the real store's."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil

import pytest

from sessions import FileStore, StoreUnavailable, file_io, new_session_id

CORRUPT_FILES = {
    "truncated": b'{"v":1,"data":{"cart":{"mug":',
    "garbage": bytes(range(256)) * 4,
    "empty": b"",
    "wrong shape": b'{"v":1,"data":[1,2,3]}',
    # The envelope's number only ever grows (file_io.FORMAT_VERSION): one that is not a whole
    # number from 1 up is no envelope at all. A higher one is read (the test after this table).
    "no version": b'{"data":{"cart":{"mug":1}}}',
    "version 0": b'{"v":0,"data":{"cart":{"mug":1}}}',
    "version as text": b'{"v":"1","data":{"cart":{"mug":1}}}',
    "version as true": b'{"v":true,"data":{"cart":{"mug":1}}}',
    "future version without data": b'{"v":99,"session":{"cart":{"mug":1}}}',
    "a list": b"[]",
    "deeply nested": b'{"v":1,"data":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "a huge number": b'{"v":1,"data":{"x":' + b"9" * 5000 + b"}}",
    "invalid UTF-8": b'{"v":1,"data":{"name":"\xff\xfe"}}',
}


def stripe_is_free(store: FileStore, session_id: str) -> bool:
    fd = file_io.try_lock(str(store.directory), session_id)
    if fd is None:
        return False
    file_io.unlock(fd)
    return True


def session_path(store: FileStore, session_id: str):
    return store.directory / f"{session_id}.json"


def plant(store: FileStore, session_id: str, raw: bytes) -> None:
    path = session_path(store, session_id)
    path.write_bytes(raw)
    os.utime(path, (path.stat().st_atime, 4_000_000_000))  # the mtime is the expiry: far ahead


@pytest.fixture
def make_store(tmp_path, io_loop):
    stores = []

    def make(cls=FileStore, **options) -> FileStore:
        options.setdefault("retries", 1)
        options.setdefault("retry_delay", 0.001)
        options.setdefault("lock_timeout", 2)
        store = cls(tmp_path / "sessions", **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        io_loop.run_sync(store.close)


@pytest.mark.gen_test
@pytest.mark.parametrize("kind", list(CORRUPT_FILES))
async def test_a_file_that_does_not_decode_is_quarantined_and_reads_as_no_session(make_store, kind):
    store = make_store()
    session_id = new_session_id()
    plant(store, session_id, CORRUPT_FILES[kind])
    assert await store.load(session_id, extend_ttl=60) is None
    assert not session_path(store, session_id).exists()
    assert len(list(store.quarantine_directory.iterdir())) == 1


@pytest.mark.gen_test
@pytest.mark.parametrize("kind", list(CORRUPT_FILES))
async def test_a_change_to_an_undecodable_session_starts_afresh_and_releases_the_lock(make_store, kind):
    store = make_store()
    session_id = new_session_id()
    plant(store, session_id, CORRUPT_FILES[kind])
    async with store.locked(session_id) as held:
        assert held.data is None
        held.save({"cart": {"mug": 1}}, 60)
    assert stripe_is_free(store, session_id)
    assert await store.load(session_id) == {"cart": {"mug": 1}}


@pytest.mark.gen_test
async def test_a_newer_envelope_with_its_data_is_read_and_changed_not_quarantined(make_store):
    # A later release may number its envelope higher and put more beside "data"; the session is
    # "data" all the same. What this release writes back is its own envelope (number 1, the only
    # one the releases before sessions had versions can read) around every key of "data".
    store = make_store()
    session_id = new_session_id()
    data = {"cart": {"mug": 1}, "_meta": {"shape": 7, "from_the_future": True}, "wishlist": ["vase"]}
    plant(store, session_id, json.dumps({"v": 2, "data": data, "checksum": "abc"}).encode())
    assert await store.load(session_id) == data
    async with store.locked(session_id) as held:
        assert held.data == data
        held.save({**held.data, "cart": {"mug": 2}}, 60)
    assert not store.quarantine_directory.exists() or not any(store.quarantine_directory.iterdir())
    assert json.loads(session_path(store, session_id).read_bytes()) == {"v": 1, "data": {**data, "cart": {"mug": 2}}}


def fail_step(monkeypatch, step: str, error: BaseException) -> None:
    """Make the file store's blocking step (file_io.read, .write or .unlink) raise `error` (a read
    both on the loop and in the pool)."""

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(file_io, step, failing)


@pytest.mark.gen_test
@pytest.mark.parametrize("step, error, expected", [
    ("read", OSError(errno.EIO, "Input/output error"), StoreUnavailable),
    ("read", OSError(errno.EACCES, "Permission denied"), StoreUnavailable),
    ("read", RuntimeError("a bug in a read"), RuntimeError),
    ("read", RecursionError("maximum recursion depth exceeded"), RuntimeError),
    ("write", OSError(errno.ENOSPC, "No space left on device"), StoreUnavailable),
    ("write", OSError(errno.EROFS, "Read-only file system"), StoreUnavailable),
    ("write", MemoryError(), MemoryError),
    ("unlink", OSError(errno.EIO, "Input/output error"), StoreUnavailable),
])
async def test_a_failure_at_any_step_under_the_lock_releases_it(make_store, monkeypatch, step, error, expected):
    # The failures are put into this process, so the change is made by the pool's threads here;
    # the writer process meets real ones (test_file_store.py, tests/faults/test_storage.py).
    store = make_store(writer_process=False)
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 1}}, 60)
    fail_step(monkeypatch, step, error)
    with pytest.raises(expected):
        async with store.locked(session_id) as held:
            if step == "unlink":
                held.destroy()
            else:
                held.save({"cart": {"mug": 2}}, 60)
    monkeypatch.undo()
    assert stripe_is_free(store, session_id)
    # And the session is as it was: a failed change changed nothing.
    assert await store.load(session_id) == {"cart": {"mug": 1}}


@pytest.mark.gen_test
async def test_data_that_cannot_be_encoded_releases_the_lock(make_store):
    store = make_store()
    session_id = new_session_id()
    with pytest.raises(TypeError):
        async with store.locked(session_id) as held:
            held.save({"not json": object()}, 60)
    assert stripe_is_free(store, session_id)


@pytest.mark.gen_test
async def test_a_lock_file_that_cannot_be_opened_is_store_unavailable_and_holds_nothing(make_store, monkeypatch):
    store = make_store()
    session_id = new_session_id()

    def refuse(directory, session_id):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(file_io, "try_lock", refuse)
    with pytest.raises(StoreUnavailable):
        async with store.locked(session_id):
            pass
    monkeypatch.undo()
    assert stripe_is_free(store, session_id)


@pytest.mark.gen_test
async def test_a_cancelled_change_releases_the_lock(make_store):
    store = make_store()
    session_id = new_session_id()
    entered = asyncio.Event()

    async def change():
        async with store.locked(session_id) as held:
            entered.set()
            await asyncio.sleep(60)
            held.save({}, 60)

    task = asyncio.ensure_future(change())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stripe_is_free(store, session_id)


@pytest.mark.gen_test
@pytest.mark.parametrize("failure", [KeyError("in the block"), TypeError("data a store cannot keep")])
async def test_every_store_can_be_locked_again_after_a_block_raises(store, failure):
    # `store` is each registered backend (tests/stores/conftest.py).
    session_id = new_session_id()
    for _ in range(3):
        with pytest.raises(type(failure)):
            async with store.locked(session_id) as held:
                if isinstance(failure, TypeError):
                    held.save({"not json": object()}, 60)
                else:
                    raise failure
    async with asyncio.timeout(5):
        async with store.locked(session_id) as held:
            held.save({"ok": True}, 60)
    assert await store.load(session_id) == {"ok": True}


@pytest.mark.gen_test
@pytest.mark.parametrize("missing", ["sessions", ".locks", ".quarantine"])
async def test_a_missing_folder_is_recreated_on_the_next_write_and_logged(make_store, caplog, missing):
    store = make_store()
    first = new_session_id()
    await store.save(first, {"n": 1}, 60)
    shutil.rmtree(store.directory if missing == "sessions" else store.directory / missing)
    session_id = new_session_id()
    with caplog.at_level(logging.ERROR, logger="sessions.file"):
        async with store.locked(session_id) as held:
            held.save({"cart": {"mug": 1}}, 60)
    assert await store.load(session_id) == {"cart": {"mug": 1}}
    assert store.lock_directory.is_dir()
    if missing != ".quarantine":
        assert "recreated" in caplog.text
    # The quarantine heals too.
    bad = new_session_id()
    shutil.rmtree(store.quarantine_directory, ignore_errors=True)
    plant(store, bad, b"garbage")
    assert await store.load(bad) is None
    assert len(list(store.quarantine_directory.iterdir())) == 1


@pytest.mark.gen_test
async def test_a_failed_ttl_roll_on_a_read_is_logged_and_the_read_served(make_store, monkeypatch, caplog):
    store = make_store()
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 1}}, 60)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("sessions.file_io.os.utime", read_only)
    with caplog.at_level(logging.WARNING, logger="sessions.file"):
        assert await store.load(session_id, extend_ttl=3600) == {"cart": {"mug": 1}}
    assert "EROFS" in caplog.text
    assert session_id not in caplog.text


@pytest.mark.gen_test
async def test_a_folder_replaced_by_a_file_is_unavailable_then_heals(make_store):
    store = make_store()
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 60)
    moved = store.directory.with_name("sessions.moved")
    store.directory.rename(moved)
    store.directory.write_text("not a folder")
    for attempt in (store.load(session_id), store.save(new_session_id(), {}, 60)):
        with pytest.raises(StoreUnavailable) as raised:
            await attempt
        assert session_id not in str(raised.value)
        assert "ENOTDIR" in str(raised.value) or "EEXIST" in str(raised.value)
    store.directory.unlink()
    moved.rename(store.directory)
    assert await store.load(session_id) == {"n": 1}


@pytest.mark.gen_test
async def test_errors_name_the_operation_and_errno_but_never_a_full_id(make_store, monkeypatch):
    store = make_store(writer_process=False)
    fail_step(monkeypatch, "write", OSError(errno.ENOSPC, "No space left on device",
                                            "/var/sessions/secret-full-id.json"))
    session_id = new_session_id()
    with pytest.raises(StoreUnavailable) as raised:
        await store.save(session_id, {}, 60)
    message = str(raised.value)
    assert "cannot write session" in message and "ENOSPC" in message
    assert session_id not in message and "secret-full-id" not in message
