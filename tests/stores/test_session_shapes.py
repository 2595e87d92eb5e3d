"""Sessions with a version (issue 23), on every store: each save numbers the session's shape; a read
runs the application's upgrade steps on an older shape (written back at once under the lock when
they changed it, an owner they gave indexed first), and every write path keeps what this release
does not know: a newer release's keys in the data and the metadata, and its higher number."""
import time

import pytest

from sessions import SessionManager, SessionShapes, new_session_id
from sessions.manager import META_KEY
from sessions.owners import owner_record_id
from sessions.shapes import SHAPE_FIELD, shape_of
from tests.stores.devices import Device, log_in


def owner_from_login(stored: dict) -> None:
    """0 -> 1, as an application might: a session whose data names its login gets it as its owner."""
    if isinstance(stored.get("login"), str) and stored.get(META_KEY, {}).get("owner") is None:
        stored.setdefault(META_KEY, {}).update(owner=stored["login"], owned_since=time.time(), seen=time.time())


def currency_beside_cart(stored: dict) -> dict:
    """1 -> 2: a cart gets its currency (returning a new dict, as a step may)."""
    if "cart" in stored and "currency" not in stored:
        return {**stored, "currency": "EUR"}
    return stored


SHAPES = SessionShapes([owner_from_login, currency_beside_cart])

# What a newer release (shape 5) might have written: keys this one does not know, in the data and
# in the metadata.
FUTURE = {"cart": {"mug": 1}, "currency": "EUR", "wishlist": ["vase"],
          META_KEY: {SHAPE_FIELD: 5, "created": 1.0, "seen": 1.0, "agent": "", "address": "", "theme": "dark"}}


def manager_for(store, shapes=SHAPES):
    return SessionManager(store, ttl=600, max_age=3600, shapes=shapes)


def device_holding(session_id: str) -> Device:
    device = Device()
    device.cookie = session_id
    return device


async def planted(store, data: dict) -> str:
    session_id = new_session_id()
    await store.save(session_id, data, 600)
    return session_id


def test_the_shape_is_the_number_of_steps_and_missing_means_0():
    assert SHAPES.version == 2 and SessionShapes().version == 0
    assert shape_of({}) == 0 and shape_of({META_KEY: {}}) == 0 and shape_of({META_KEY: "junk"}) == 0
    assert shape_of({META_KEY: {SHAPE_FIELD: True}}) == 0 and shape_of({META_KEY: {SHAPE_FIELD: "3"}}) == 0
    assert shape_of({META_KEY: {SHAPE_FIELD: 3}}) == 3


@pytest.mark.gen_test
async def test_every_save_writes_the_shape_of_this_release(store):
    manager = manager_for(store)
    device = Device()
    async with manager.transaction(device) as session:
        session["cart"] = {"mug": 1}
    assert shape_of(await store.load(device.cookie)) == 2
    session_id = await log_in(manager, device, "7")
    assert shape_of(await store.load(session_id)) == 2
    async with manager.owner_record("7", ttl=600) as record:
        record["cart"] = {"vase": 1}
    assert (await store.load(owner_record_id("7")))[META_KEY] == {"record": True, SHAPE_FIELD: 2}


@pytest.mark.gen_test
async def test_an_older_session_is_upgraded_as_it_is_read_and_written_back_at_once_with_its_owner_listed(store):
    manager = manager_for(store)
    # As a release before owners stored it: no metadata at all.
    session_id = await planted(store, {"login": "7", "cart": {"mug": 2}})
    session = await manager.load(device_holding(session_id))
    assert session.owner == "7" and dict(session) == {"login": "7", "cart": {"mug": 2}, "currency": "EUR"}
    stored = await store.load(session_id)
    assert shape_of(stored) == 2 and stored["currency"] == "EUR"
    assert stored[META_KEY]["owner"] == "7" and stored[META_KEY]["agent"] == "TestBrowser/1.0"
    [info] = await manager.owner_sessions("7")
    assert info.session_id == session_id and info.address == "203.0.113.7"


@pytest.mark.gen_test
async def test_steps_run_from_the_stored_shape_on(store):
    manager = manager_for(store)
    # Shape 1 already: its login without an owner is its business, only 1 -> 2 runs.
    session_id = await planted(store, {"login": "7", "cart": {}, META_KEY: {SHAPE_FIELD: 1}})
    session = await manager.load(device_holding(session_id))
    assert session.owner is None and session["currency"] == "EUR"
    assert await manager.owner_sessions("7") == []


@pytest.mark.gen_test
async def test_an_upgrade_that_only_numbers_waits_for_the_next_change(store):
    manager = manager_for(store)
    session_id = await planted(store, {"note": "hello"})
    device = device_holding(session_id)
    assert dict(await manager.load(device)) == {"note": "hello"}
    assert shape_of(await store.load(session_id)) == 0  # nothing to write for a number alone
    async with manager.transaction(device) as session:
        session["note"] = "hello again"
    assert shape_of(await store.load(session_id)) == 2


@pytest.mark.gen_test
async def test_a_transaction_that_changes_nothing_still_writes_an_upgrade_and_indexes_its_owner(store):
    manager = manager_for(store)
    session_id = await planted(store, {"login": "7"})
    async with manager.transaction(device_holding(session_id)) as session:
        assert session.owner == "7"
    assert (await store.load(session_id))[META_KEY]["owner"] == "7"
    assert [info.session_id for info in await manager.owner_sessions("7")] == [session_id]


@pytest.mark.gen_test
async def test_a_read_that_only_looks_upgrades_what_it_shows_and_writes_nothing(store):
    manager = manager_for(store)
    session_id = await planted(store, {"login": "7"})
    session = await manager.load(device_holding(session_id), read_only=True)
    assert session.owner == "7"
    assert await store.load(session_id) == {"login": "7"}


@pytest.mark.gen_test
async def test_a_newer_session_changed_by_this_release_keeps_its_keys_and_its_number(store):
    manager = manager_for(store)
    session_id = await planted(store, FUTURE)
    device = device_holding(session_id)
    async with manager.transaction(device) as session:
        assert session.meta[SHAPE_FIELD] == 5
        session["cart"] = {"mug": 2}
    stored = await store.load(session_id)
    assert stored == {**FUTURE, "cart": {"mug": 2}}
    # A login (a new id, the owner set) carries them too.
    new_id = await log_in(manager, device, "7")
    stored = await store.load(new_id)
    assert stored["wishlist"] == ["vase"] and stored[META_KEY]["theme"] == "dark"
    assert stored[META_KEY][SHAPE_FIELD] == 5 and stored[META_KEY]["owner"] == "7"


@pytest.mark.gen_test
async def test_the_last_seen_roll_keeps_a_newer_sessions_keys(store):
    manager = manager_for(store)
    meta = {**FUTURE[META_KEY], "owner": "7", "owned_since": time.time(), "seen": time.time() - 120}
    session_id = await planted(store, {**FUTURE, META_KEY: meta})
    session = await manager.load(device_holding(session_id))
    assert session.meta["seen"] > meta["seen"] + 60  # rolled, under the lock
    stored = await store.load(session_id)
    assert stored[META_KEY] == {**meta, "seen": stored[META_KEY]["seen"], "address": "203.0.113.7",
                                "agent": "TestBrowser/1.0"}
    assert {key: value for key, value in stored.items() if key != META_KEY} == {
        key: value for key, value in FUTURE.items() if key != META_KEY}


@pytest.mark.gen_test
async def test_an_owner_record_of_a_newer_release_keeps_its_keys_and_its_number(store):
    manager = manager_for(store)
    record_id = owner_record_id("7")
    await store.save(record_id, {"cart": {"mug": 1}, "saved_for_later": ["vase"],
                                 META_KEY: {"record": True, SHAPE_FIELD: 5, "region": "eu"}}, 600)
    assert await manager.load_owner_record("7") == {"cart": {"mug": 1}, "saved_for_later": ["vase"]}
    async with manager.owner_record("7", ttl=600) as record:
        record["cart"]["mug"] = 3
    assert await store.load(record_id) == {"cart": {"mug": 3}, "saved_for_later": ["vase"],
                                           META_KEY: {"record": True, SHAPE_FIELD: 5, "region": "eu"}}
