"""The owner index and owner records, on every store that offers them (each registered one): the
list holds exactly an owner's live sessions, whatever expired, was swept, evicted, ended or
regenerated, after a kill -9 of a writer at any instant, and across processes; an owned session
ends at its absolute lifetime; an owner's record is locked and expires. (Issue 16.)"""
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessions import FileStore, MemoryStore, SessionManager, new_session_id, registry
from sessions.manager import META_KEY
from sessions.owners import owner_record_id
from sessions.store import OwnerIndex
from tests.stores.devices import Device, log_in, log_out, visit

HERE = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": str(HERE.parent.parent)}


def manager_for(store, **options):
    options.setdefault("ttl", 60)
    options.setdefault("max_age", 3600)
    return SessionManager(store, **options)


async def listed(manager, owner):
    return {info.session_id for info in await manager.owner_sessions(owner)}


def test_every_registered_store_offers_the_owner_index(store):
    assert isinstance(store, OwnerIndex)


@pytest.mark.gen_test
async def test_a_session_is_listed_as_soon_as_it_has_an_owner_with_its_metadata(store):
    manager = manager_for(store)
    laptop = Device(agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", address="198.51.100.4")
    async with manager.transaction(laptop) as session:
        session["cart"] = {"mug": 1}  # an anonymous session first: not listed
    assert await listed(manager, "7") == set()
    before = time.time()
    session_id = await log_in(manager, laptop, "7")
    [info] = await manager.owner_sessions("7")
    assert info.session_id == session_id
    assert info.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    assert info.address == "198.51.100.4"
    assert info.created <= before <= info.owned_since <= time.time()
    assert info.last_seen >= info.owned_since


@pytest.mark.gen_test
async def test_the_list_holds_each_owners_live_sessions_newest_first_and_no_one_elses(store):
    manager = manager_for(store)
    mine = [await log_in(manager, Device(), "alice") for _ in range(3)]
    theirs = await log_in(manager, Device(), "bob")
    assert [info.session_id for info in await manager.owner_sessions("alice")] == mine[::-1]
    assert await listed(manager, "bob") == {theirs}
    assert await listed(manager, "carol") == set()


@pytest.mark.gen_test
async def test_a_regenerated_session_is_listed_under_its_new_id_only(store):
    manager = manager_for(store)
    phone = Device()
    first = await log_in(manager, phone, "7")
    second = await log_in(manager, phone, "7")
    assert first != second
    assert await listed(manager, "7") == {second}
    assert await store.load(first) is None


@pytest.mark.gen_test
async def test_a_session_logged_in_as_another_owner_leaves_the_first_owners_list(store):
    manager = manager_for(store)
    shared = Device()
    await log_in(manager, shared, "alice")
    bobs = await log_in(manager, shared, "bob")
    assert await listed(manager, "alice") == set()
    assert await listed(manager, "bob") == {bobs}


@pytest.mark.gen_test
async def test_a_logged_out_session_is_not_listed(store):
    manager = manager_for(store)
    laptop, phone = Device(), Device()
    await log_in(manager, laptop, "7")
    phones = await log_in(manager, phone, "7")
    await log_out(manager, laptop)
    assert await listed(manager, "7") == {phones}


@pytest.mark.gen_test
async def test_ending_a_session_takes_effect_on_its_next_request(store):
    manager = manager_for(store)
    laptop, phone = Device(), Device()
    laptops = await log_in(manager, laptop, "7")
    phones = await log_in(manager, phone, "7")
    assert await manager.end_session("7", laptops) is True
    assert await visit(manager, laptop) is None
    assert await visit(manager, phone) == phones
    assert await listed(manager, "7") == {phones}
    assert await manager.end_session("7", laptops) is False  # already gone


@pytest.mark.gen_test
async def test_ending_another_owners_session_changes_nothing(store):
    manager = manager_for(store)
    victim = Device()
    victims = await log_in(manager, victim, "alice")
    await log_in(manager, Device(), "mallory")
    assert await manager.end_session("mallory", victims) is False
    assert await manager.end_session("mallory", new_session_id()) is False
    assert await manager.end_session("mallory", "not an id") is False
    assert await visit(manager, victim) == victims
    assert await listed(manager, "alice") == {victims}


@pytest.mark.gen_test
async def test_end_all_but_one_keeps_only_that_one(store):
    manager = manager_for(store)
    devices = [Device() for _ in range(4)]
    ids = [await log_in(manager, device, "7") for device in devices]
    others = await log_in(manager, Device(), "8")
    assert await manager.end_owner_sessions("7", keep=ids[1]) == 3
    assert [await visit(manager, device) for device in devices] == [None, ids[1], None, None]
    assert await listed(manager, "7") == {ids[1]}
    assert await listed(manager, "8") == {others}


@pytest.mark.gen_test
async def test_expired_and_swept_sessions_are_not_listed(store):
    manager = manager_for(store, ttl=1)
    await log_in(manager, Device(), "7")
    await asyncio.sleep(1.3)
    assert await listed(manager, "7") == set()
    await store.sweep_expired()
    assert await listed(manager, "7") == set()
    fresh = await log_in(manager, Device(), "7")
    assert await listed(manager, "7") == {fresh}


@pytest.mark.gen_test
async def test_an_entry_whose_session_has_another_owner_is_discarded(store):
    # What a crash between writing an entry and saving its session can leave, and worse.
    manager = manager_for(store)
    bobs = await log_in(manager, Device(), "bob")
    await store.add_owned("alice", bobs, 60)
    assert await listed(manager, "alice") == set()
    assert bobs not in await store.owned("alice")


@pytest.mark.gen_test
async def test_an_entry_without_its_session_is_never_listed(store):
    manager = manager_for(store)
    await store.add_owned("7", new_session_id(), 60)  # a crash before the session was saved
    assert await listed(manager, "7") == set()


@pytest.mark.gen_test
async def test_a_request_that_does_not_change_the_owner_does_no_index_work(store):
    manager = manager_for(store)
    laptop = Device()
    session_id = await log_in(manager, laptop, "7")
    entries = await store.owned("7")
    for _ in range(3):
        await visit(manager, laptop)
        async with manager.transaction(laptop) as session:
            session["cart"] = {"mug": session.get("cart", {}).get("mug", 0) + 1}
    assert await store.owned("7") == entries
    assert await listed(manager, "7") == {session_id}


@pytest.mark.gen_test
async def test_an_owned_session_ends_at_its_absolute_lifetime_however_busy(store):
    manager = manager_for(store, ttl=60, max_age=2)
    laptop = Device()
    session_id = await log_in(manager, laptop, "7")
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        assert await visit(manager, laptop) == session_id
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.8)
    assert await visit(manager, laptop) is None
    assert await listed(manager, "7") == set()
    async with manager.transaction(laptop) as session:
        assert session.id is None and session.owner is None  # a change, too, finds no login


@pytest.mark.gen_test
async def test_last_seen_is_written_at_most_once_a_minute(store):
    manager = manager_for(store)
    laptop = Device()
    session_id = await log_in(manager, laptop, "7")
    stored = await store.load(session_id)
    await visit(manager, laptop)
    assert (await store.load(session_id))[META_KEY] == stored[META_KEY]  # seconds later: not written
    stored[META_KEY]["seen"] -= 120
    await store.save(session_id, stored, 60)
    laptop.request.remote_ip = "192.0.2.99"
    await visit(manager, laptop)
    meta = (await store.load(session_id))[META_KEY]
    assert meta["seen"] >= time.time() - 5
    assert meta["address"] == "192.0.2.99"


@pytest.mark.gen_test
async def test_owner_record_changes_from_two_managers_lose_nothing(store):
    # Two managers on one store: what two devices served by two processes do to one account's cart
    # (a store whose sessions live in one process has one manager).
    first = manager_for(store)
    second = first if registry.backend(store.name).process_local else manager_for(store)

    async def add_one(manager):
        async with manager.owner_record("7", ttl=60) as record:
            count = record.get("n", 0)
            await asyncio.sleep(0)
            record["n"] = count + 1

    await asyncio.gather(*(add_one(first if n % 2 else second) for n in range(50)))
    assert await first.load_owner_record("7") == {"n": 50}
    assert await second.load_owner_record("8") == {}


@pytest.mark.gen_test
async def test_owner_record_outlives_the_sessions_and_expires_after_its_ttl(store):
    manager = manager_for(store)
    laptop = Device()
    await log_in(manager, laptop, "7")
    async with manager.owner_record("7", ttl=2) as record:
        record["cart"] = {"mug": 2}
    await log_out(manager, laptop)
    assert await manager.load_owner_record("7") == {"cart": {"mug": 2}}
    await asyncio.sleep(2.3)
    assert await manager.load_owner_record("7") == {}


@pytest.mark.gen_test
async def test_owner_record_is_saved_only_when_the_block_ends_cleanly_and_deleted_when_emptied(store):
    manager = manager_for(store)
    async with manager.owner_record("7", ttl=60) as record:
        record["cart"] = {"mug": 1}
    with pytest.raises(RuntimeError):
        async with manager.owner_record("7", ttl=60) as record:
            record["cart"] = {"mug": 5}
            raise RuntimeError("the handler failed")
    assert await manager.load_owner_record("7") == {"cart": {"mug": 1}}
    async with manager.owner_record("7", ttl=60) as record:
        record.clear()
    assert await store.load(owner_record_id("7")) is None


@pytest.mark.gen_test
async def test_an_evicted_session_is_not_listed():
    store = MemoryStore(max_sessions=2)
    manager = manager_for(store)
    first = await log_in(manager, Device(), "7")
    await log_in(manager, Device(), "7")
    third = await log_in(manager, Device(), "7")
    assert first not in await listed(manager, "7")
    assert third in await listed(manager, "7")


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("backend", ["file", "redis"])
async def test_ending_from_another_process_takes_effect_on_the_next_request(store, store_settings, backend):
    manager = manager_for(store)
    devices = [Device() for _ in range(3)]
    for device in devices:
        await log_in(manager, device, "7")
    location = str(store_settings.directory) if backend == "file" else store_settings.url
    prefix = store_settings.key_prefix or "-"
    ender = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "writer_process.py"), "end-owner-sessions", backend, location, prefix, "7",
        env=ENV, stdout=asyncio.subprocess.PIPE)
    output, _ = await ender.communicate()
    assert output.strip() == b"3"
    assert [await visit(manager, device) for device in devices] == [None, None, None]
    assert await listed(manager, "7") == set()


def owned_session_files(directory, owner):
    """The truth the index must match, read from the session files themselves."""
    found = set()
    now = time.time()
    for path in Path(directory).glob("[!.]*.json"):  # not a write in progress
        try:
            if path.stat().st_mtime <= now:
                continue
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            continue
        if document["data"].get(META_KEY, {}).get("owner") == owner:
            found.add(path.stem)
    return found


def test_a_file_store_writer_killed_at_any_instant_leaves_an_index_that_lists_exactly_the_owned_sessions(
        tmp_path, io_loop):
    directory = tmp_path / "sessions"
    rng = random.Random(16)
    seen_sessions = 0
    for _ in range(15):
        writer = subprocess.Popen([sys.executable, str(HERE / "writer_process.py"), "owner-churn",
                                   str(directory), "7"], env=ENV, stdout=subprocess.PIPE)
        # Wait for the writer to say it churns (start-up alone can take a second on a loaded
        # machine), then kill it at a random instant of its churning.
        assert writer.stdout.readline() == b"churning\n"
        time.sleep(rng.uniform(0.0, 0.5))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        store = FileStore(directory, retries=0)
        manager = manager_for(store)
        truth = owned_session_files(directory, "7")
        assert io_loop.run_sync(lambda: listed(manager, "7")) == truth
        seen_sessions += len(truth)
        io_loop.run_sync(store.close)
    assert list((directory / ".quarantine").iterdir()) == []
    assert seen_sessions > 0  # the writer got far enough to log in, at least sometimes
