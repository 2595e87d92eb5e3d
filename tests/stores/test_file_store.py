"""What the file store promises beyond the conformance suite: crash safety, quarantine, retries on
real transient failures, sweeping from metadata alone, and locking across processes."""
import asyncio
import json
import logging
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessions import FileStore, StoreUnavailable, file_io, new_session_id

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def session_path(store, session_id):
    """Where the file store keeps a session: <folder>/<id>.json (the layout in sessions/file_io.py)."""
    return store.directory / f"{session_id}.json"


def session_files(directory):
    return sorted(p for p in Path(directory).iterdir() if p.suffix == ".json" and not p.name.startswith("."))


@pytest.fixture
def file_store(tmp_path, io_loop):
    stores = []

    def make(**options):
        store = FileStore(tmp_path / "sessions", **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        io_loop.run_sync(store.close)


@pytest.mark.gen_test
async def test_session_file_is_private_json_with_its_expiry_as_mtime(file_store):
    store = file_store()
    session_id = new_session_id()
    before = time.time()
    await store.save(session_id, {"cart": {"mug": 1}}, 600)
    path = session_path(store, session_id)
    assert json.loads(path.read_text()) == {"v": 1, "data": {"cart": {"mug": 1}}}
    assert path.stat().st_mode & 0o777 == 0o600
    assert before + 600 <= path.stat().st_mtime <= time.time() + 600


@pytest.mark.gen_test
async def test_a_read_rolls_the_expiry_only_once_a_tenth_of_the_ttl_has_passed(file_store):
    store = file_store()
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 1000)
    path = session_path(store, session_id)
    written = path.stat().st_mtime
    assert await store.load(session_id, extend_ttl=1000) == {"n": 1}
    assert path.stat().st_mtime == written  # all 1,000 s still ahead: no roll due, nothing written
    later = time.time() + 899  # as if 101 s had passed since the write
    os.utime(path, (later, later))
    before = time.time()
    assert await store.load(session_id, extend_ttl=1000) == {"n": 1}
    assert before + 1000 <= path.stat().st_mtime <= time.time() + 1000


@pytest.mark.gen_test
async def test_malformed_ids_never_reach_the_file_system(file_store, tmp_path):
    store = file_store()
    escape = tmp_path / "escaped.json"
    for bad in ["../escaped", "..%2Fescaped", "/etc/passwd"]:
        with pytest.raises(ValueError):
            await store.save(bad, {}, 60)
    assert not escape.exists()
    assert session_files(store.directory) == []


def test_a_writer_killed_at_any_instant_leaves_only_whole_sessions(tmp_path, io_loop):
    directory = tmp_path / "sessions"
    session_ids = [new_session_id() for _ in range(3)]
    rng = random.Random(1234)
    for _ in range(30):
        writer = subprocess.Popen([sys.executable, str(HERE / "writer_process.py"), "write-forever",
                                   str(directory), *session_ids], env=ENV, stdout=subprocess.PIPE)
        # Wait for the writer to say it is writing (start-up alone can take a second on a loaded
        # machine), then kill it at a random instant of its writing.
        assert writer.stdout.readline() == b"writing\n"
        time.sleep(rng.uniform(0.0, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        store = FileStore(directory, retries=0)
        for path in session_files(directory):
            data = io_loop.run_sync(lambda: store.load(path.stem))
            assert isinstance(data, dict) and data["padding"].startswith("x"), path
        io_loop.run_sync(store.close)
    assert list((directory / ".quarantine").iterdir()) == []
    assert len(session_files(directory)) == 3  # every session was written at least once


@pytest.mark.gen_test
async def test_stale_temp_files_from_a_crash_are_swept_and_never_counted(file_store):
    store = file_store()
    leftover = store.directory / ".tmp-abcdefgh-123.json"
    leftover.write_text('{"v": 1, "da')
    assert (await store.stats()).sessions == 0
    await store.sweep_expired()
    assert leftover.exists()  # it could be a write in progress
    store.stale_temp_after = 0
    await store.sweep_expired()
    assert not leftover.exists()


@pytest.mark.gen_test
async def test_undecodable_file_is_quarantined_and_the_person_gets_no_session(file_store, caplog):
    store = file_store(retries=2, retry_delay=0.001)
    session_id = new_session_id()
    path = session_path(store, session_id)
    path.write_bytes(b"\x00\xffnot json at all")
    os.utime(path, (time.time() + 600,) * 2)
    with caplog.at_level(logging.WARNING, logger="sessions.file"):
        assert await store.load(session_id) is None
    assert not path.exists()
    quarantined = list(store.quarantine_directory.iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == b"\x00\xffnot json at all"
    assert "quarantined" in caplog.text and session_id not in caplog.text  # ids are shortened in logs
    assert (await store.stats()).quarantined == 1


@pytest.mark.gen_test
async def test_json_that_is_not_a_session_document_is_quarantined(file_store):
    store = file_store(retries=0)
    session_id = new_session_id()
    path = session_path(store, session_id)
    path.write_text('["a list", "not a session"]')
    os.utime(path, (time.time() + 600,) * 2)
    assert await store.load(session_id) is None
    assert len(list(store.quarantine_directory.iterdir())) == 1


@pytest.mark.gen_test
async def test_a_file_still_being_written_by_someone_else_is_read_once_complete(file_store, io_loop):
    # A foreign, non-atomic writer (a restore from backup, a copy) is a real transient read failure.
    store = file_store(retries=5, retry_delay=0.02)
    session_id = new_session_id()
    path = session_path(store, session_id)
    whole = json.dumps({"v": 1, "data": {"cart": {"mug": 3}}}).encode()
    expires = time.time() + 600
    path.write_bytes(whole[:10])
    os.utime(path, (expires, expires))

    def finish_writing():
        with open(path, "ab") as file:
            file.write(whole[10:])
        os.utime(path, (expires, expires))

    io_loop.call_later(0.03, finish_writing)
    assert await store.load(session_id) == {"cart": {"mug": 3}}
    assert list(store.quarantine_directory.iterdir()) == []


@pytest.mark.gen_test
async def test_load_retries_when_the_process_runs_out_of_file_descriptors(file_store, io_loop):
    store = file_store(retries=5, retry_delay=0.02)
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 600)
    assert await store.load(session_id) == {"n": 1}  # the pool's thread exists before we starve it
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # With the limit at 3, every open() fails with EMFILE until the limit is restored.
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, hard))
    io_loop.call_later(0.05, resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert await store.load(session_id) == {"n": 1}
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.gen_test
async def test_without_retries_a_transient_failure_is_reported_as_unavailable(file_store):
    store = file_store(retries=0)
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 600)
    assert await store.load(session_id) == {"n": 1}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, hard))
    try:
        with pytest.raises(StoreUnavailable):
            await store.load(session_id)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.gen_test
async def test_a_missing_file_is_no_session_at_once_without_retries(file_store):
    store = file_store(retries=5, retry_delay=10)
    assert await asyncio.wait_for(store.load(new_session_id()), timeout=2) is None


@pytest.mark.gen_test
async def test_a_permanent_error_is_not_retried(file_store):
    store = file_store(retries=5, retry_delay=10)
    session_id = new_session_id()
    session_path(store, session_id).mkdir()  # a folder where the session file should be
    os.utime(session_path(store, session_id), (time.time() + 600,) * 2)
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(store.load(session_id), timeout=2)


@pytest.mark.gen_test
async def test_sweep_reads_only_metadata(file_store):
    # Undecodable files are swept by their mtime alone: the sweep never opens a session.
    store = file_store()
    expired, live = new_session_id(), new_session_id()
    for session_id, expires in [(expired, time.time() - 5), (live, time.time() + 600)]:
        path = session_path(store, session_id)
        path.write_bytes(b"garbage")
        os.utime(path, (expires, expires))
    assert await store.sweep_expired() == 1
    assert [p.stem for p in session_files(store.directory)] == [live]
    assert list(store.quarantine_directory.iterdir()) == []


@pytest.mark.gen_test
async def test_sweep_ignores_files_that_are_not_sessions(file_store):
    store = file_store()
    other = store.directory / "notes.json"
    other.write_text("{}")
    os.utime(other, (1, 1))
    assert await store.sweep_expired() == 0
    assert other.exists()


def test_processes_sharing_the_folder_lose_no_update(tmp_path, io_loop):
    directory = tmp_path / "sessions"
    store = FileStore(directory)
    session_id = new_session_id()
    io_loop.run_sync(lambda: store.save(session_id, {"n": 0}, 600))
    workers = [subprocess.Popen([sys.executable, str(HERE / "writer_process.py"), "increment",
                                 str(directory), session_id, "25"], env=ENV) for _ in range(4)]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0, 0]
    assert io_loop.run_sync(lambda: store.load(session_id)) == {"n": 100}
    io_loop.run_sync(store.close)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "sessions", *map(str, args)], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_cli_stats_and_sweep(tmp_path, io_loop):
    store = FileStore(tmp_path)
    for ttl in (600, 600, 1):
        io_loop.run_sync(lambda: store.save(new_session_id(), {"n": 1}, ttl))
    time.sleep(1.2)
    stats = run_cli("stats", tmp_path, "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["sessions"] == 2 and json.loads(stats.stdout)["expired"] == 1
    swept = run_cli("sweep", tmp_path)
    assert swept.returncode == 0 and "removed=1" in swept.stdout
    assert json.loads(run_cli("stats", tmp_path, "--json").stdout)["expired"] == 0
    io_loop.run_sync(store.close)


def test_cli_refuses_a_folder_that_does_not_exist(tmp_path):
    result = run_cli("stats", tmp_path / "nope")
    assert result.returncode == 2 and "not a folder" in result.stderr
    assert not (tmp_path / "nope").exists()


@pytest.mark.gen_test
async def test_a_lock_that_cannot_be_taken_is_reported_as_unavailable(file_store):
    store = file_store(lock_timeout=1)
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 600)
    # A missing .locks/ is made again (tests/stores/test_file_store_faults.py); one replaced by a
    # file is not something the store can mend.
    shutil.rmtree(store.lock_directory)
    store.lock_directory.write_text("not a folder")
    with pytest.raises(StoreUnavailable):
        async with store.locked(session_id):
            pass
    assert await store.load(session_id) == {"n": 1}


@pytest.mark.gen_test
async def test_one_file_that_cannot_be_deleted_does_not_stop_the_sweep(file_store):
    store = file_store()
    stuck = session_path(store, new_session_id())
    stuck.mkdir()  # a folder where a session file should be: unlink refuses it
    os.utime(stuck, (1, 1))
    for _ in range(3):
        await store.save(new_session_id(), {"n": 1}, 1)
    await asyncio.sleep(1.2)
    assert await store.sweep_expired() == 3
    assert stuck.exists()


@pytest.mark.gen_test
async def test_the_sweep_runs_in_another_process(file_store, monkeypatch):
    # A tripwire in this process: a sweep run here (in its threads) would trip it, while the
    # sweep's own process imports the real function.
    from sessions import file_io

    def tripwire(*args):
        raise AssertionError("the sweep ran in the shop's own process")

    monkeypatch.setattr(file_io, "_unlink_if_expired", tripwire)
    store = file_store()
    for ttl in (1, 1, 600):
        await store.save(new_session_id(), {"n": 1}, ttl)
    await asyncio.sleep(1.2)
    assert await store.sweep_expired() == 2
    assert len(session_files(store.directory)) == 1
    # ...at a lower priority than the shop's event loop, which comes first on a busy machine.
    assert store.sweep_niceness == min(os.nice(0) + 10, 19)


@pytest.mark.gen_test
async def test_a_sweep_deletes_the_index_markers_of_sessions_gone_and_keeps_the_live_ones(file_store, monkeypatch):
    store = file_store()
    live, gone = new_session_id(), new_session_id()
    await store.save(live, {"n": 1}, 60)
    for session_id in (live, gone):
        await store.add_owned("7", session_id, 60)
    await store.add_owned("8", new_session_id(), 60)  # an owner whose only session never came
    monkeypatch.setattr(file_io, "OWNER_MARKER_GRACE", 0)  # in this process: the sweep below runs here
    await asyncio.sleep(0.05)
    file_io.sweep_directory(str(store.directory), stale_temp_after=3600, threads=1)
    assert set(await store.owned("7")) == {live}
    assert await store.owned("8") == {}
    assert len(list(store.owners_directory.iterdir())) == 1  # the empty owner folder went too


# -- what runs on the event loop's own thread (sessions/file.py) -----------------------------------


def count_trips(store, monkeypatch):
    """The functions the store sends to its thread pool, by name, as they are sent."""
    trips = []
    submit = store._submit

    def counted(function, *args):
        trips.append(function.__name__)
        return submit(function, *args)

    monkeypatch.setattr(store, "_submit", counted)
    return trips


def evict_from_page_cache(path):
    """Drop the file's clean pages from the page cache, so the next read must go to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.gen_test
async def test_a_read_from_the_page_cache_and_a_change_under_a_free_lock_cost_one_trip_to_the_pool(
        file_store, monkeypatch):
    store = file_store(writer_process=False)
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 1}}, 600)
    trips = count_trips(store, monkeypatch)
    assert await store.load(session_id, extend_ttl=600) == {"cart": {"mug": 1}}
    assert trips == []  # read on the loop: no roll is due yet
    async with store.locked(session_id) as held:
        assert held.data == {"cart": {"mug": 1}}
        held.save({"cart": {"mug": 2}}, 600)
    assert trips == ["apply_and_unlock"]  # the lock and the read on the loop; the write in the pool
    assert await store.load(session_id) == {"cart": {"mug": 2}}


@pytest.mark.gen_test
async def test_a_read_that_would_wait_for_the_disk_or_roll_the_expiry_goes_to_the_pool(file_store, monkeypatch):
    store = file_store()
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 1}}, 600)
    evict_from_page_cache(session_path(store, session_id))
    trips = count_trips(store, monkeypatch)
    assert await store.load(session_id, extend_ttl=600) == {"cart": {"mug": 1}}
    assert trips == ["read"]
    # 100 s left of a 600 s ttl: a roll is due, and a roll writes the inode.
    soon = time.time() + 100
    os.utime(session_path(store, session_id), (soon, soon))
    assert await store.load(session_id, extend_ttl=600) == {"cart": {"mug": 1}}
    assert trips == ["read", "read"]
    assert session_path(store, session_id).stat().st_mtime > time.time() + 590


@pytest.mark.gen_test
async def test_while_a_trip_to_the_pool_hangs_the_loop_does_no_file_work_of_its_own(file_store, monkeypatch):
    # A hung disk shows first as a trip that does not come back; from then on even an open() on
    # the loop could hang every request of the process, so everything waits in the pool instead.
    from sessions import file as file_module
    monkeypatch.setattr(file_module, "INLINE_PAUSE_AFTER", 0.05)
    store = file_store(writer_process=False)
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 1}}, 600)
    trips = count_trips(store, monkeypatch)
    disk = __import__("threading").Event()
    hung = store._submit(disk.wait, 30)
    await asyncio.sleep(0.1)
    try:
        assert await store.load(session_id) == {"cart": {"mug": 1}}
        async with store.locked(session_id) as held:
            held.save({"cart": {"mug": 2}}, 600)
        assert trips == ["wait", "read", "try_lock_and_read", "apply_and_unlock"]
    finally:
        disk.set()
        await hung
    assert await store.load(session_id) == {"cart": {"mug": 2}}
    assert trips == ["wait", "read", "try_lock_and_read", "apply_and_unlock"]  # prompt again: on the loop


# -- the writer process (sessions/file_writer.py) -----------------------------------------------------


def lock_is_free(store, session_id):
    fd = file_io.try_lock(str(store.directory), session_id)
    if fd is None:
        return False
    file_io.unlock(fd)
    return True


async def wait_for_exit(process, seconds=10):
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        assert time.monotonic() < deadline, "the writer did not exit"
        await asyncio.sleep(0.02)


@pytest.mark.gen_test
async def test_a_change_under_the_lock_is_written_by_the_writer_process_not_the_pool(file_store, monkeypatch):
    store = file_store()
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 1}}, 600)
    trips = count_trips(store, monkeypatch)
    for quantity in (2, 3):
        async with store.locked(session_id) as held:
            held.save({"cart": {"mug": quantity}}, 600)
    assert trips == []
    writer = store._writer.process
    assert writer.poll() is None and writer.pid != os.getpid()
    assert json.loads(session_path(store, session_id).read_text()) == {"v": 1, "data": {"cart": {"mug": 3}}}
    assert session_path(store, session_id).stat().st_mtime > time.time() + 590
    assert lock_is_free(store, session_id)
    async with store.locked(session_id) as held:
        held.destroy()
    assert not session_path(store, session_id).exists()
    await store.close()
    assert writer.poll() == 0  # closing the store ends its writer


@pytest.mark.gen_test
async def test_a_session_too_large_for_the_writers_socket_is_written_by_the_pool(file_store, monkeypatch):
    from sessions import file_writer
    store = file_store()
    session_id = new_session_id()
    trips = count_trips(store, monkeypatch)
    big = {"notes": "x" * (file_writer.MAX_PAYLOAD + 1)}
    async with store.locked(session_id) as held:
        held.save(big, 600)
    assert trips == ["apply_and_unlock"]
    assert await store.load(session_id) == big


async def a_change_held_by_a_stopped_writer(store):
    """A session saved as {"n": 1}, then a change to {"n": 2} sent to the store's writer, which is
    stopped (SIGSTOP) first: (the session's id, the writer's Popen, the change's task)."""
    session_id = new_session_id()
    async with store.locked(session_id) as held:
        held.save({"n": 1}, 600)
    writer = store._writer.process
    os.kill(writer.pid, signal.SIGSTOP)  # the change below waits in its socket

    async def change():
        async with store.locked(session_id) as held:
            held.save({"n": 2}, 600)

    changing = asyncio.ensure_future(change())
    await asyncio.sleep(0.2)
    return session_id, writer, changing


@pytest.mark.gen_test
async def test_a_writer_killed_during_a_change_is_an_unconfirmed_change_and_frees_the_lock(file_store):
    store = file_store()
    session_id, writer, changing = await a_change_held_by_a_stopped_writer(store)
    assert not changing.done() and not lock_is_free(store, session_id)
    os.kill(writer.pid, signal.SIGKILL)
    with pytest.raises(StoreUnavailable) as raised:
        await changing
    assert raised.value.maybe_written and "may have been made" in str(raised.value)
    await wait_for_exit(writer)
    assert lock_is_free(store, session_id)
    async with store.locked(session_id) as held:  # the next change is written (by a new writer or the pool)
        assert held.data == {"n": 1}
        held.save({"n": 3}, 600)
    assert await store.load(session_id) == {"n": 3}


@pytest.mark.gen_test
async def test_the_writer_holds_the_lock_until_the_change_is_on_disk_even_when_the_shop_is_gone(file_store):
    # What a kill -9 of the shop's process does to a change in flight: the writer still has the
    # change and the lock. Nobody else may take the lock and write before that change lands, or
    # an older change would overwrite their newer one.
    store = file_store()
    session_id, writer, changing = await a_change_held_by_a_stopped_writer(store)
    store._writer._disconnect()  # the shop's end of the socket closes, as it does when the process dies
    with pytest.raises(StoreUnavailable):
        await changing
    assert not lock_is_free(store, session_id)
    os.kill(writer.pid, signal.SIGCONT)
    await wait_for_exit(writer)  # it wrote, released the lock, and found nobody to answer
    assert lock_is_free(store, session_id)
    assert json.loads(session_path(store, session_id).read_text())["data"] == {"n": 2}
